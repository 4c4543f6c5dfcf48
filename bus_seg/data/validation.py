"""Deep checks of a cohort or a mask folder that open every file, reported as a list of problems.

:func:`validate_cohort` runs before registration and training (and in ``bus-seg-validate``): it
adds to the manifest's structural issues whatever only the files can tell (an undecodable image,
an unknown spacing, a tract off the image, a slide without MPP, an annotation off the slide).
:func:`validate_mask_folder` checks a BUSI-style folder of images and lesion masks.
Neither raises on bad input: every finding becomes a :class:`Problem` that says what to fix.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely

from bus_seg.errors import InputError, ManifestError, RegistrationError
from bus_seg.io.annotations import Annotation, read_annotation
from bus_seg.io.images import read_array, to_gray
from bus_seg.io.manifest import CaseRecord, describe_location, read_manifest
from bus_seg.io.mask_layout import class_subfolders, is_image_file, pair_mask_files
from bus_seg.io.ultrasound import UltrasoundImage, read_ultrasound
from bus_seg.io.wsi import open_wsi
from bus_seg.labels import DEFAULT_CANCER_CLASSES
from bus_seg.registration.settings import RegistrationSettings
from bus_seg.registration.strip_size import strip_size_problem
from bus_seg.registration.tissue import read_tissue_map

PLAUSIBLE_SPACING_MM = (0.01, 1.0)
"""Ultrasound pixel sizes outside this range (mm per pixel) are most likely a unit mistake."""
LABEL_VALUES = (0, 1, 255)


@dataclass(frozen=True)
class Problem:
    """One finding of a validation.

    Attributes:
        severity: ``"error"`` (the case or image cannot be used) or ``"warning"``.
        where: the manifest row/case/column or the file it is about.
        message: what is wrong and how to fix it.
    """

    severity: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


@dataclass
class ValidationReport:
    """The problems found and how many cases (or images) were checked."""

    checked: int
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.severity == "warning"]


def validate_cohort(
    manifest_path: str | Path,
    *,
    require_tract: bool = True,
    allow_outside_paths: bool = False,
    check_files: bool = True,
    cancer_classes: Sequence[str] = DEFAULT_CANCER_CLASSES,
    registration: RegistrationSettings | None = None,
) -> list[Problem]:
    """Check a cohort manifest and, unless ``check_files`` is False, every file it names.

    See :func:`check_cohort`.
    """
    return check_cohort(
        manifest_path,
        require_tract=require_tract,
        allow_outside_paths=allow_outside_paths,
        check_files=check_files,
        cancer_classes=cancer_classes,
        registration=registration,
    ).problems


def check_cohort(
    manifest_path: str | Path,
    *,
    require_tract: bool = True,
    allow_outside_paths: bool = False,
    check_files: bool = True,
    cancer_classes: Sequence[str] = DEFAULT_CANCER_CLASSES,
    registration: RegistrationSettings | None = None,
) -> ValidationReport:
    """Check a cohort manifest and the files of its valid rows.

    Per row: the ultrasound image decodes and has a known, plausible spacing; the tract ends lie
    on the image and the tract is at least one core diameter long; the slide opens with an MPP;
    ``wsi_roi`` lies on the slide; the annotation parses, lies on the slide and (else a
    warning) marks some cancer; a reference label map is single-channel 0/1/255 of the image's
    size.

    Args:
        manifest_path: the cohort CSV.
        require_tract: whether tract points are required (False with ``registration.needle=auto``).
        allow_outside_paths: whether file paths may leave the manifest's folder.
        check_files: False to check the manifest's structure only (no file is opened).
        cancer_classes: annotation class names that count as cancer.
        registration: the settings files are read and tissue is found with, as registration
            does (``slide_backend``, ``annotation_object_types``, ``use_outside_dicom_regions``,
            the tissue settings); None = the defaults.

    Returns:
        The report; ``checked`` is the number of data rows (0 if the manifest is unreadable).
    """
    try:
        manifest = read_manifest(
            manifest_path, require_tract=require_tract, allow_outside_paths=allow_outside_paths
        )
    except ManifestError as err:
        return ValidationReport(0, [Problem("error", str(manifest_path), _bare_message(err))])
    problems = [Problem(issue.severity, issue.where, issue.message) for issue in manifest.issues]
    for cached in (_ultrasound, _slide, _annotation):
        cached.cache_clear()
    for record in manifest.records:
        if check_files:
            problems.extend(
                _check_record(
                    record, manifest.path, cancer_classes, registration or RegistrationSettings()
                )
            )
        elif record.tract is not None and record.us_spacing_mm is not None:
            problem = strip_size_problem(
                math.dist(record.tract[:2], record.tract[2:]),
                record.core_diameter_mm,
                record.us_spacing_mm,
            )
            if problem is not None:
                where = describe_location(
                    manifest.path, record.row, record.case_id, "core_diameter_mm"
                )
                problems.append(Problem("error", where, problem))
    return ValidationReport(manifest.row_count, problems)


def validate_mask_folder(root: str | Path, classes: Sequence[str] | None = None) -> list[Problem]:
    """Check a BUSI-style mask folder; see :func:`check_mask_folder`."""
    return check_mask_folder(root, classes).problems


def check_mask_folder(root: str | Path, classes: Sequence[str] | None = None) -> ValidationReport:
    """Check a folder ``<root>/<class>/<name>.png`` with masks ``<name>_mask.png``, ``<name>_mask_1.png``…

    Errors: an image without mask, a mask without image, an unreadable file, a mask whose size
    differs from its image. Warnings: an empty mask, images with identical pixels (SHA-1 of the
    decoded array; duplicates leak between splits).

    Args:
        root: the folder; without subfolders its files are checked directly.
        classes: class subfolders to check; None checks every subfolder.

    Returns:
        The report; ``checked`` is the number of images found.
    """
    root = Path(root)
    if not root.is_dir():
        return ValidationReport(
            0, [Problem("error", str(root), "mask folder not found; check the path")]
        )
    problems: list[Problem] = []
    folders = _class_folders(root, classes, problems)
    images_by_hash: dict[str, list[Path]] = defaultdict(list)
    checked = 0
    for folder in folders:
        images, masks = pair_mask_files(folder)
        checked += len(images)
        for stem in sorted(set(masks) - set(images)):
            for mask in masks[stem]:
                problems.append(
                    Problem(
                        "error",
                        str(mask),
                        f"mask without image: no {stem}.png (or other image type) beside it; add "
                        "the image or remove the mask",
                    )
                )
        for stem, image_path in sorted(images.items()):
            problems.extend(_check_masked_image(image_path, masks.get(stem, []), images_by_hash))
    for paths in images_by_hash.values():
        if len(paths) > 1:
            problems.append(
                Problem(
                    "warning",
                    str(paths[0]),
                    "identical pixels in "
                    + ", ".join(str(p) for p in paths)
                    + "; duplicates leak between train and test: remove all but one",
                )
            )
    return ValidationReport(checked, problems)


def _bare_message(err: InputError) -> str:
    """The error's message without the ``"<path>: "`` prefix that InputError adds."""
    text = str(err)
    prefix = f"{err.path}: " if err.path is not None else ""
    return text[len(prefix) :] if prefix and text.startswith(prefix) else text


class _CaseProblems:
    """Collects the problems of one manifest record, located by row, case and column."""

    def __init__(self, record: CaseRecord, manifest_path: Path) -> None:
        self.record, self.manifest_path = record, manifest_path
        self.problems: list[Problem] = []

    def add(self, severity: str, column: str | None, message: str) -> None:
        where = describe_location(self.manifest_path, self.record.row, self.record.case_id, column)
        self.problems.append(Problem(severity, where, message))


def _check_record(
    record: CaseRecord,
    manifest_path: Path,
    cancer_classes: Sequence[str],
    settings: RegistrationSettings,
) -> list[Problem]:
    found = _CaseProblems(record, manifest_path)
    image = _check_ultrasound(record, found, settings.use_outside_dicom_regions)
    if image is not None:
        _check_tract(record, image, found)
        if record.label_path is not None:
            _check_label_map(record.label_path, image.shape, found)
    _check_slide(record, found, cancer_classes, settings)
    return found.problems


def _check_ultrasound(
    record: CaseRecord, found: _CaseProblems, use_outside_regions: bool
) -> UltrasoundImage | None:
    try:
        image = _ultrasound(
            record.us_path,
            _stamp(record.us_path),
            record.us_spacing_mm,
            record.us_frame,
            use_outside_regions,
        )
    except InputError as err:
        found.add("error", "us_path", str(err))
        return None
    for note in image.warnings:
        found.add("warning", "us_path", note)
    if image.spacing_mm is None:
        found.add(
            "error",
            "us_spacing_mm",
            f"the pixel spacing of {record.us_path.name} is unknown (the file stores none); give "
            "us_spacing_mm (mm per pixel) in the manifest",
        )
    elif not PLAUSIBLE_SPACING_MM[0] <= image.spacing_mm <= PLAUSIBLE_SPACING_MM[1]:
        found.add(
            "warning",
            "us_spacing_mm",
            f"spacing {image.spacing_mm:g} mm per pixel ({image.spacing_source}) is outside the "
            f"usual {PLAUSIBLE_SPACING_MM[0]:g}–{PLAUSIBLE_SPACING_MM[1]:g} mm for B-mode images; "
            "check that it is in mm (not cm or µm)",
        )
    return image


def _check_tract(record: CaseRecord, image: UltrasoundImage, found: _CaseProblems) -> None:
    if record.tract is None:
        return
    height, width = image.shape
    x0, y0, x1, y1 = record.tract
    outside = False
    for (x, y), columns, name in (
        ((x0, y0), "tract_x0, tract_y0", "proximal"),
        ((x1, y1), "tract_x1, tract_y1", "distal"),
    ):
        if not (-0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5):  # as registration
            outside = True
            found.add(
                "error",
                columns,
                f"the {name} tract end ({x:g}, {y:g}) lies outside the image: {width}×{height} px, "
                f"pixel centres x 0–{width - 1}, y 0–{height - 1} (edges at -0.5 and size - 0.5); "
                "fix the coordinates (x = column, y = row of the full-resolution image)",
            )
    if outside or image.spacing_mm is None:
        return
    length_mm = math.hypot(x1 - x0, y1 - y0) * image.spacing_mm
    if length_mm < record.core_diameter_mm:
        found.add(
            "error",
            None,
            f"the tract is {length_mm:.2f} mm long ({image.spacing_mm:g} mm per pixel), shorter "
            f"than the core diameter {record.core_diameter_mm:g} mm; check the tract points and "
            "us_spacing_mm",
        )
        return
    problem = strip_size_problem(
        math.hypot(x1 - x0, y1 - y0), record.core_diameter_mm, image.spacing_mm
    )
    if problem is not None:
        found.add("error", "core_diameter_mm", problem)


def _check_label_map(path: Path, image_shape: tuple[int, int], found: _CaseProblems) -> None:
    try:
        labels = read_array(path)
    except InputError as err:
        found.add("error", "label_path", str(err))
        return
    if labels.ndim != 2:
        found.add(
            "error",
            "label_path",
            f"{path}: the label map must be single-channel, got shape {labels.shape}; save it as "
            "an 8-bit gray PNG",
        )
        return
    if labels.shape != image_shape:
        found.add(
            "error",
            "label_path",
            f"{path}: the label map is {labels.shape[1]}×{labels.shape[0]} px but the ultrasound "
            f"image is {image_shape[1]}×{image_shape[0]}; it must have exactly the image's size",
        )
    bad = np.setdiff1d(np.unique(labels), LABEL_VALUES)
    if bad.size:
        found.add(
            "error",
            "label_path",
            f"{path}: the label map has values {bad[:5].tolist()} besides 0, 1 and 255; use "
            "1 = cancer, 0 = sampled non-cancer, 255 = not sampled",
        )
    elif labels.dtype != np.uint8:
        found.add("warning", "label_path", f"{path}: the label map is {labels.dtype}, not 8-bit")


def _check_slide(
    record: CaseRecord,
    found: _CaseProblems,
    cancer_classes: Sequence[str],
    settings: RegistrationSettings,
) -> None:
    """Read the slide and the annotation (cached) and add the problems of both."""
    try:
        level0_shape, notes, tissue_problem = _slide(
            record.wsi_path, _stamp(record.wsi_path), record.wsi_mpp, record.wsi_roi, settings
        )
    except InputError as err:
        found.add("error", "wsi_path", str(err))
        if not record.annotation_path.is_file():
            found.add(
                "error",
                "annotation_path",
                f"{record.annotation_path}: annotation file not found; check annotation_path",
            )
        return
    for note in notes:
        found.add("warning", "wsi_path", note)
    if tissue_problem is not None:
        found.add(*tissue_problem)
    for problem in _roi_problems(record.wsi_roi, level0_shape):
        found.add(*problem)
    try:
        annotation = _annotation(
            record.annotation_path,
            _stamp(record.annotation_path),
            tuple(level0_shape),
            tuple(cancer_classes),
            settings.annotation_object_types,
        )
    except InputError as err:
        found.add("error", "annotation_path", str(err))
        return
    for problem in _annotation_problems(annotation, record.wsi_roi, cancer_classes):
        found.add(*problem)


_Finding = tuple[str, str, str]
"""(severity, column, message) of one problem of a record."""


def _roi_problems(
    roi: tuple[int, int, int, int] | None, level0_shape: tuple[int, int]
) -> list[_Finding]:
    """Where ``wsi_roi`` lies off (error) or past the edge of (warning) the slide."""
    if roi is None:
        return []
    height, width = level0_shape
    x, y, w, h = roi
    if x >= width or y >= height:
        return [
            (
                "error",
                "wsi_roi",
                f"wsi_roi {x},{y},{w},{h} lies outside the slide ({width}×{height} level-0 px); "
                "fix it or leave it empty",
            )
        ]
    if x + w > width or y + h > height:
        return [
            (
                "warning",
                "wsi_roi",
                f"wsi_roi {x},{y},{w},{h} extends past the slide ({width}×{height} level-0 px) "
                "and is clipped to it",
            )
        ]
    return []


def _annotation_problems(
    annotation: Annotation,
    roi: tuple[int, int, int, int] | None,
    cancer_classes: Sequence[str],
) -> list[_Finding]:
    """No cancer annotated, the reader's notes, and cancer that lies entirely outside ``roi``."""
    if not annotation.has_cancer:
        details = "; ".join(annotation.warnings) or "cancer classes: " + ", ".join(cancer_classes)
        message = f"no cancer annotated (fine if the core is benign): {details}"
        return [("warning", "annotation_path", message)]
    found = [("warning", "annotation_path", note) for note in annotation.warnings]
    if roi is not None and annotation.cancer is not None:
        x, y, w, h = roi
        if not annotation.cancer.intersects(shapely.box(x, y, x + w, y + h)):
            found.append(
                (
                    "warning",
                    "wsi_roi",
                    "the annotated cancer lies entirely outside wsi_roi, so the core is labelled "
                    "benign; check wsi_roi",
                )
            )
    return found


def _stamp(path: Path) -> tuple[int, int] | None:
    """``(mtime_ns, size)`` of a file, so a cached result is never used for a changed file."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _cache_errors(function):
    """Cache a reader's result or its InputError per file (rows often share files)."""

    @functools.lru_cache(maxsize=64)
    def cached(*args):
        try:
            return function(*args), None
        except InputError as err:
            return None, err

    @functools.wraps(function)
    def call(*args):
        result, error = cached(*args)
        if error is not None:
            raise error
        return result

    call.cache_clear = cached.cache_clear
    return call


@_cache_errors
def _ultrasound(
    path: Path, stamp: object, spacing_mm: float | None, frame: int | None, use_outside: bool
) -> UltrasoundImage:
    return read_ultrasound(path, spacing_mm, frame=frame, use_outside_regions=use_outside)


@_cache_errors
def _slide(
    path: Path,
    stamp: object,
    mpp: float | None,
    roi: tuple[int, int, int, int] | None,
    settings: RegistrationSettings,
) -> tuple[tuple[int, int], list[str], tuple[str, str, str] | None]:
    """Level-0 shape, warnings, and a problem found decoding the tissue as registration does."""
    with open_wsi(path, mpp, settings.slide_backend) as wsi:
        height, width = wsi.level_shapes[0]
        if roi is not None and (roi[0] >= width or roi[1] >= height):
            return wsi.level_shapes[0], list(wsi.warnings), None  # wsi_roi is reported
        problem = None
        try:  # decodes the tiles registration reads
            read_tissue_map(wsi, roi, settings)
        except InputError as err:
            problem = ("error", "wsi_path", str(err))
        except RegistrationError as err:
            problem = ("warning", "wsi_path", f"with the registration settings: {err}")
        return wsi.level_shapes[0], list(wsi.warnings), problem


@_cache_errors
def _annotation(
    path: Path,
    stamp: object,
    level0_shape: tuple[int, int],
    cancer_classes: tuple[str, ...],
    object_types: tuple[str, ...],
):
    return read_annotation(path, level0_shape, cancer_classes, object_types)


def _class_folders(
    root: Path, classes: Sequence[str] | None, problems: list[Problem]
) -> list[Path]:
    subfolders = class_subfolders(root)
    if classes is None:
        if subfolders and any(is_image_file(p) for p in root.iterdir()):
            problems.append(
                Problem(
                    "warning",
                    str(root),
                    "images lie directly in the folder beside class subfolders; they are not "
                    "used: move them into a class folder",
                )
            )
        return subfolders or [root]
    for name in classes:
        if not (root / name).is_dir():
            problems.append(
                Problem(
                    "error",
                    str(root / name),
                    f"class folder not found; available: {[p.name for p in subfolders]}",
                )
            )
    return [root / name for name in classes if (root / name).is_dir()]


def _check_masked_image(
    image_path: Path, masks: list[Path], images_by_hash: dict[str, list[Path]]
) -> list[Problem]:
    problems = []
    if not masks:
        problems.append(
            Problem(
                "error",
                str(image_path),
                f"image without mask: add {image_path.stem}_mask.png beside it (an all-zero mask "
                "for an image without lesion) or remove the image",
            )
        )
    try:
        image = read_array(image_path)
    except InputError as err:
        return [*problems, Problem("error", str(image_path), _bare_message(err))]
    digest = hashlib.sha1(f"{image.shape}{image.dtype}".encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    images_by_hash[digest.hexdigest()].append(image_path)
    for mask_path in masks:
        try:
            mask = to_gray(read_array(mask_path))
        except InputError as err:
            problems.append(Problem("error", str(mask_path), _bare_message(err)))
            continue
        except ValueError as err:
            problems.append(Problem("error", str(mask_path), f"{err}; save the mask as a gray PNG"))
            continue
        if mask.shape != image.shape[:2]:
            problems.append(
                Problem(
                    "error",
                    str(mask_path),
                    f"mask is {mask.shape[1]}×{mask.shape[0]} px but its image {image_path.name} "
                    f"is {image.shape[1]}×{image.shape[0]}; masks must have the image's size",
                )
            )
        elif not mask.any():
            problems.append(
                Problem(
                    "warning",
                    str(mask_path),
                    "empty mask (no lesion pixel); fine for a normal image",
                )
            )
    return problems
