"""Procedural ultrasound phantom and biopsy simulator writing cohorts in the contract's format.

Main entry points: :func:`simulate_cohort` (a cohort folder with ``manifest.csv``),
:func:`ensure_cohort` (the same, reused while its settings are unchanged),
:class:`SimulationSettings` (the ``conf/simulate.yaml`` options) and
:func:`render_contact_sheet` (a picture of a cohort). They are imported lazily, so importing this
package stays cheap.
"""

from __future__ import annotations

from bus_seg.lazy import lazy_getattr

_EXPORTS = {
    "SimulationSettings": "bus_seg.simulate.settings",
    "FaultSettings": "bus_seg.simulate.settings",
    "simulate_cohort": "bus_seg.simulate.cohort",
    "ensure_cohort": "bus_seg.simulate.cohort",
    "read_record": "bus_seg.simulate.cohort",
    "render_contact_sheet": "bus_seg.simulate.contact_sheet",
    "format_summary": "bus_seg.simulate.summary",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
