"""The registration report: one row per manifest case, registered or failed (``report.csv``).

Columns (in this order, then any others):

- ``case_id``, ``patient_id``, ``row`` (1-based manifest data row), ``status`` (``ok`` or
  ``failed``), ``error`` (the message of a failed case);
- ``tissue_length_um`` (``L``, the fragments' summed lengths), ``n_fragments``, ``n_debris``
  (pieces dropped as debris), ``scale_wsi_to_us`` (ultrasound length per tissue length),
  ``tract_length_mm``, ``core_diameter_mm``, ``cancer_fraction`` (cancer share of the labelled
  strip pixels), ``strip_pixels``;
- ``n_warnings``, ``warnings`` (joined with `` | ``);
- settings and sources: ``placement``, ``projection``, ``wsi_mpp``, ``mpp_source``,
  ``us_spacing_mm``, ``spacing_source``, ``tissue_level``, ``tissue_grid_um``,
  ``tissue_threshold``, ``needle`` (manual/auto), ``needle_confidence``, the tract used
  ``tract_x0`` … ``tract_y1``;
- ``dice_vs_reference``, ``boundary_error_mm_vs_reference`` (against the row's ``label_path``;
  see :mod:`bus_seg.registration.agreement`);
- ``label_path``, ``qc_path`` (relative to the output folder), ``cached``, ``seconds``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bus_seg.errors import InputError
from bus_seg.io.atomic import atomic_path
from bus_seg.io.csv_cells import neutralise_formulas, read_text_table
from bus_seg.registration.outputs import output_error_message

REPORT_COLUMNS: tuple[str, ...] = (
    "case_id",
    "patient_id",
    "row",
    "status",
    "error",
    "tissue_length_um",
    "n_fragments",
    "n_debris",
    "scale_wsi_to_us",
    "tract_length_mm",
    "core_diameter_mm",
    "cancer_fraction",
    "strip_pixels",
    "n_warnings",
    "warnings",
    "placement",
    "projection",
    "wsi_mpp",
    "mpp_source",
    "us_spacing_mm",
    "spacing_source",
    "tissue_level",
    "tissue_grid_um",
    "tissue_threshold",
    "needle",
    "needle_confidence",
    "tract_x0",
    "tract_y0",
    "tract_x1",
    "tract_y1",
    "dice_vs_reference",
    "boundary_error_mm_vs_reference",
    "label_path",
    "qc_path",
    "cached",
    "seconds",
)
WARNING_SEPARATOR = " | "


def failed_row(case_id: str, patient_id: str | None, row: int | None, error: str) -> dict[str, Any]:
    """The report row of a case that did not register (``warnings`` still a list)."""
    return {
        "case_id": case_id,
        "patient_id": patient_id,
        "row": row,
        "status": "failed",
        "error": error,
        "warnings": [],
        "cached": False,
    }


def report_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The report table: :data:`REPORT_COLUMNS` first, then any other columns; sorted by row.

    A row's ``warnings`` may be a list; it is joined with :data:`WARNING_SEPARATOR` and
    counted in ``n_warnings``.
    """
    rows = [dict(row) for row in rows]
    for row in rows:
        warnings = row.get("warnings") or []
        if not isinstance(warnings, str):
            row["n_warnings"] = len(warnings)
            row["warnings"] = WARNING_SEPARATOR.join(warnings)
    frame = pd.DataFrame(rows)
    for column in REPORT_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    extra = [c for c in frame.columns if c not in REPORT_COLUMNS]
    frame = frame[[*REPORT_COLUMNS, *extra]]
    if len(frame):
        frame = frame.sort_values("row", kind="stable", na_position="first").reset_index(drop=True)
    return frame


def write_report(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write the report as CSV atomically; text that a spreadsheet would run is quoted."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            neutralise_formulas(frame).to_csv(tmp, index=False)
    except OSError as err:
        raise InputError(
            f"the report could not be written: {output_error_message(err, path.parent)}", path
        ) from None
    return path


def read_report(path: str | Path) -> pd.DataFrame:
    """Read a ``report.csv`` back: ids stay text (``NA``, ``null``, ``1_1_6`` as written)."""
    return read_text_table(path, ("case_id", "patient_id", "status", "error", "warnings"))
