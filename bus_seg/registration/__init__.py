"""Registration of biopsy-core WSIs onto the ultrasound needle tract (cohort format v1).

Main entry points: :func:`register_cohort` (a whole manifest, cached, in parallel, with a report
and QC pictures), :func:`register_case` (one manifest row) and :class:`RegistrationSettings`
(the ``conf/registration`` options). They are imported lazily, so importing this package stays
cheap.
"""

from __future__ import annotations

from bus_seg.lazy import lazy_getattr

_EXPORTS = {
    "RegistrationSettings": "bus_seg.registration.settings",
    "register_cohort": "bus_seg.registration.pipeline",
    "CohortRegistration": "bus_seg.registration.pipeline",
    "register_case": "bus_seg.registration.case",
    "CaseRegistration": "bus_seg.registration.case",
    "Tract": "bus_seg.registration.tract",
    "cancer_dice": "bus_seg.registration.agreement",
    "boundary_error_mm": "bus_seg.registration.agreement",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
