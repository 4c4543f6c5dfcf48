"""Generic image/label CSV tables: ``image_path``, ``label_path``, ``patient_id`` (+ optional columns)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from bus_seg.data.samples import SegmentationSample
from bus_seg.errors import ManifestError

REQUIRED = ("image_path", "label_path", "patient_id")


def read_image_label_table(csv_path: str | Path) -> list[SegmentationSample]:
    """Read a table of images and label maps (0/1/255); relative paths are relative to the CSV.

    Columns: ``image_path``, ``label_path``, ``patient_id`` (required), ``image_id`` (default:
    the image's file stem), ``split`` (train/val/test), ``spacing_mm`` and ``lesion_mask_path``.

    Raises:
        ManifestError: missing file or column, empty cell, bad number, duplicate image id.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise ManifestError("table not found; set data.table=<csv>", csv_path)
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise ManifestError(f"not a readable CSV ({err})", csv_path) from err
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ManifestError(
            f"missing column(s) {missing}; the table needs {list(REQUIRED)}", csv_path
        )
    root = csv_path.parent
    samples, seen = [], {}
    for index, row in enumerate(table.to_dict("records"), start=1):
        cells = {k: (v or "").strip() for k, v in row.items()}
        for column in REQUIRED:
            if not cells[column]:
                raise ManifestError("empty cell", csv_path, row=index, column=column)
        image_path = root / cells["image_path"]
        image_id = cells.get("image_id") or image_path.stem
        if image_id in seen:
            raise ManifestError(
                f"duplicate image id {image_id!r} (also row {seen[image_id]})",
                csv_path,
                row=index,
                column="image_id",
            )
        seen[image_id] = index
        samples.append(
            SegmentationSample(
                image_id=image_id,
                patient_id=cells["patient_id"],
                image_path=image_path,
                label_paths=(root / cells["label_path"],),
                split=cells.get("split") or None,
                spacing_mm=_positive_or_none(cells.get("spacing_mm", ""), csv_path, index),
                lesion_mask_path=root / cells["lesion_mask_path"]
                if cells.get("lesion_mask_path")
                else None,
            )
        )
    return samples


def _positive_or_none(cell: str, csv_path: Path, row: int) -> float | None:
    if not cell:
        return None
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not value > 0:
        raise ManifestError(
            f"must be a positive number of mm per pixel, got {cell!r}",
            csv_path,
            row=row,
            column="spacing_mm",
        )
    return value
