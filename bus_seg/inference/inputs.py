"""What to predict on: one image, a folder of images, or a cohort manifest."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from bus_seg.errors import InputError
from bus_seg.io.dicom import DICOM_SUFFIXES, is_dicom
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
            relative to the input folder with ``__`` between folders, without its image suffix;
            files that differ only by suffix keep it, e.g. ``a_png`` and ``a_dcm``).
        path: the ultrasound image (PNG, JPEG, TIFF, BMP or DICOM).
        spacing_mm: pixel size that wins over the file's (a manifest's ``us_spacing_mm`` or the
            ``spacing_mm`` option), or None to take the file's.
        frame: the cine-loop frame to predict (a manifest's ``us_frame``), or None for frame 0.
    """

    image_id: str
    path: Path
    spacing_mm: float | None = None
    frame: int | None = None


def collect_inputs(source: str | Path, spacing_mm: float | None = None) -> list[PredictInput]:
    """List the images of ``source``.

    Args:
        source: an image file; a folder (searched recursively for image files, DICOM files by
            suffix or, without a known suffix, by their ``DICM`` marker; BUSI masks
            ``<name>_mask*.png`` are skipped); or a cohort manifest ``.csv`` (its ``us_path`` and
            ``us_spacing_mm`` columns; rows with errors are left out with a warning).
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
        inputs = [PredictInput(_without_image_suffix(Path(source.name)).name, source, spacing_mm)]
    else:
        raise InputError("input not found; set input=<image file | folder | manifest .csv>", source)
    if not inputs:
        raise InputError(
            f"no image found (suffixes {', '.join(sorted(INPUT_SUFFIXES))}, or DICOM files); point input= at images",
            source,
        )
    return inputs


def _folder_inputs(folder: Path, spacing_mm: float | None) -> list[PredictInput]:
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and _is_input(p))
    ids = ["__".join(_without_image_suffix(p.relative_to(folder)).parts) for p in paths]
    repeated = {i for i in ids if ids.count(i) > 1}
    return [
        PredictInput(f"{i}_{p.suffix.lower().lstrip('.')}" if i in repeated else i, p, spacing_mm)
        for i, p in zip(ids, paths, strict=True)
    ]


def _is_input(path: Path) -> bool:
    """An image or DICOM file that is not a BUSI mask; files with another suffix count when
    they carry the DICOM marker (scanner exports are often named by UIDs or numbers)."""
    suffix = path.suffix.lower()
    if suffix in INPUT_SUFFIXES:
        return not MASK_PATTERN.match(path.stem)
    return is_dicom(path)


def _without_image_suffix(path: Path) -> Path:
    """``path`` without its image suffix (kept when it is none: ``1.2.840.10008`` stays whole)."""
    return path.with_suffix("") if path.suffix.lower() in INPUT_SUFFIXES else path


def _manifest_inputs(path: Path, spacing_mm: float | None) -> list[PredictInput]:
    manifest = read_manifest(path, require_tract=False)
    for issue in manifest.errors:
        log.warning("left out: %s", issue)
    return [
        PredictInput(
            r.case_id,
            r.us_path,
            r.us_spacing_mm if r.us_spacing_mm is not None else spacing_mm,
            r.us_frame,
        )
        for r in manifest.records
    ]
