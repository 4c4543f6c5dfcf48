"""Placements: where along the sampled segment the core's tissue goes (``fit_tract``/``physical``)."""

from __future__ import annotations

from bus_seg.registration.mapping import TractMapping
from bus_seg.registration.tract import Tract


class FitTract:
    """The core is stretched or shrunk to fill the segment exactly (no shrinkage factor needed).

    Tissue at cumulative length ``l`` maps to fraction ``l / L`` of the way from the proximal to
    the distal end.
    """

    name = "fit_tract"

    def place(self, tract: Tract, total_length_um: float) -> tuple[TractMapping, list[str]]:
        """The mapping of ``tract`` onto a core of ``total_length_um``, and warnings."""
        mapping = TractMapping(tract, total_length_um / tract.length_mm, 0.0, fills_segment=True)
        return mapping, []


class Physical:
    """The core keeps its physical length (corrected for shrinkage) from one end of the segment.

    In vivo length = fixed length / (1 - ``shrinkage``). With ``anchor="proximal"`` the core starts
    at the proximal end; with ``"distal"`` it ends at the distal end. The rest of the segment is
    not sampled (255); tissue that would fall beyond the segment is dropped with a warning.
    """

    name = "physical"

    def __init__(self, shrinkage: float = 0.0, anchor: str = "proximal") -> None:
        self.shrinkage = shrinkage
        self.anchor = anchor

    def place(self, tract: Tract, total_length_um: float) -> tuple[TractMapping, list[str]]:
        """The mapping of ``tract`` onto a core of ``total_length_um``, and warnings."""
        um_per_mm = 1000.0 * (1.0 - self.shrinkage)
        offset = 0.0 if self.anchor == "proximal" else total_length_um - um_per_mm * tract.length_mm
        in_vivo_mm = total_length_um / um_per_mm
        warnings = []
        if in_vivo_mm > tract.length_mm:
            warnings.append(
                f"the core's in-vivo length {in_vivo_mm:.2f} mm exceeds the tract segment "
                f"({tract.length_mm:.2f} mm): {in_vivo_mm - tract.length_mm:.2f} mm of tissue at "
                f"the {'distal' if self.anchor == 'proximal' else 'proximal'} end falls beyond "
                "the segment and is not labelled"
            )
        return TractMapping(tract, um_per_mm, offset, fills_segment=False), warnings
