"""What to predict on: one image, a folder of images, or a cohort manifest."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from bus_seg.errors import InputError
from bus_seg.io.dicom import DICOM_SUFFIXES
from bus_seg.io.manifest import read_manifest
from bus_seg.io.mask_layout import IMAGE_SUFFIXES, MASK_PATTERN

log = logging.getLogger(__name__)

INPUT_SUFFIXES = frozenset({*IMAGE_SUFFIXES, *DICOM_SUFFIXES})
MANIFEST_SUFFIX = ".csv"


@dataclass(frozen=True)
class PredictInput:
    """One image to predict on.

    Attributes:
        image_id: unique name of the outputs (case id of a manifest row, else the file's path
            relative to the input folder with ``__`` between folders, without suffix).
        path: the ultrasound image (PNG, JPEG, TIFF, BMP or DICOM).
        spacing_mm: pixel size that wins over the file's (a manifest's ``us_spacing_mm`` or the
            ``spacing_mm`` option), or None to take the file's.
    """

    image_id: str
    path: Path
    spacing_mm: float | None = None


def collect_inputs(source: str | Path, spacing_mm: float | None = None) -> list[PredictInput]:
    """List the images of ``source``.

    Args:
        source: an image file; a folder (searched recursively for image and DICOM files; BUSI
            masks ``<name>_mask*.png`` are skipped); or a cohort manifest ``.csv`` (its ``us_path``
            and ``us_spacing_mm`` columns; rows with errors are left out with a warning).
        spacing_mm: pixel size for every image without a manifest spacing, or None.

    Raises:
        InputError: ``source`` does not exist, or holds no image.
    """
    source = Path(source)
    if source.is_dir():
        inputs = _folder_inputs(source, spacing_mm)
    elif source.is_file() and source.suffix.lower() == MANIFEST_SUFFIX:
        inputs = _manifest_inputs(source, spacing_mm)
    elif source.is_file():
        inputs = [PredictInput(source.stem, source, spacing_mm)]
    else:
        raise InputError("input not found; set input=<image file | folder | manifest .csv>", source)
    if not inputs:
        raise InputError(
            f"no image found (suffixes {', '.join(sorted(INPUT_SUFFIXES))}); point input= at images", source
        )
    return inputs


def _folder_inputs(folder: Path, spacing_mm: float | None) -> list[PredictInput]:
    paths = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES and not MASK_PATTERN.match(p.stem)
    )
    return [PredictInput("__".join(p.relative_to(folder).with_suffix("").parts), p, spacing_mm) for p in paths]


def _manifest_inputs(path: Path, spacing_mm: float | None) -> list[PredictInput]:
    manifest = read_manifest(path, require_tract=False)
    for issue in manifest.errors:
        log.warning("left out: %s", issue)
    return [
        PredictInput(r.case_id, r.us_path, r.us_spacing_mm if r.us_spacing_mm is not None else spacing_mm)
        for r in manifest.records
    ]
