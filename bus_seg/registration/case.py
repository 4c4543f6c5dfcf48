"""Registration of one case: ultrasound + WSI + annotation of a manifest row -> label map."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bus_seg.errors import InputError, ManifestError, RegistrationError
from bus_seg.io.annotations import Annotation, read_annotation
from bus_seg.io.images import read_label_map
from bus_seg.io.manifest import CaseRecord
from bus_seg.io.ultrasound import UltrasoundImage, read_ultrasound
from bus_seg.io.wsi import open_wsi
from bus_seg.labels import IGNORE_LABEL
from bus_seg.registration.agreement import boundary_error_mm, cancer_dice
from bus_seg.registration.fragments import CoreGeometry, find_fragments
from bus_seg.registration.mapping import TractMapping
from bus_seg.registration.needle import NeedleDetection, find_needle
from bus_seg.registration.placement import FitTract, Physical
from bus_seg.registration.projection import AreaProjection, ProfileProjection, cancer_on_grid
from bus_seg.registration.settings import RegistrationSettings
from bus_seg.registration.strip_size import strip_size_problem
from bus_seg.registration.tissue import TissueMap, read_tissue_map
from bus_seg.registration.tract import Tract


@dataclass
class CaseRegistration:
    """Everything the registration of one case produced (label map, QC inputs, report values).

    Attributes:
        record: the manifest row.
        labels: H×W uint8 label map (1 cancer, 0 non-cancer, 255 not sampled).
        us_pixels: the ultrasound image (gray uint8).
        tract: the sampled segment used.
        tissue: the tissue mask and its WSI grid.
        core: fragments, order and lengths.
        cancer: cancer mask on the tissue grid (annotation, also outside tissue).
        mapping: tract positions -> cumulative tissue length.
        needle: the automatic needle detection, if one was made.
        fields: report values (see :mod:`bus_seg.registration.report`).
        warnings: notes for the report.
    """

    record: CaseRecord
    labels: np.ndarray
    us_pixels: np.ndarray
    tract: Tract
    tissue: TissueMap
    core: CoreGeometry
    cancer: np.ndarray
    mapping: TractMapping
    needle: NeedleDetection | None
    fields: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def placement_for(settings: RegistrationSettings) -> FitTract | Physical:
    """The placement strategy the settings choose."""
    if settings.placement == "physical":
        return Physical(settings.shrinkage, settings.anchor)
    return FitTract()


def projection_for(settings: RegistrationSettings) -> ProfileProjection | AreaProjection:
    """The projection strategy the settings choose."""
    if settings.projection == "area":
        return AreaProjection()
    return ProfileProjection(settings.profile_threshold)


@dataclass(frozen=True, eq=False)
class CaseInputs:
    """What registering a case reads from its files, and the tract located in the image.

    Attributes:
        record: the manifest row.
        us: the ultrasound frame with a settled spacing.
        tract: the sampled segment (the manifest's points or the needle found).
        needle: the automatic needle detection, if one was made.
        tissue: the tissue mask and its WSI grid.
        core: fragments, order and lengths.
        mpp: the slide's µm per level-0 pixel.
        mpp_source: where ``mpp`` comes from.
        annotation: the pathologist's annotation.
        reference: the row's reference label map, when it has one and it can be read.
        reference_note: why a given reference label map is not used (for the report), or None.
        warnings: the readers' notes for the report, in reading order.
    """

    record: CaseRecord
    us: UltrasoundImage
    tract: Tract
    needle: NeedleDetection | None
    tissue: TissueMap
    core: CoreGeometry
    mpp: float
    mpp_source: str | None
    annotation: Annotation
    reference: np.ndarray | None
    reference_note: str | None
    warnings: list[str]


def register_case(record: CaseRecord, settings: RegistrationSettings) -> CaseRegistration:
    """Register one manifest row: :func:`read_case`, then :func:`label_case`.

    Raises:
        InputError: a file is missing, corrupt or lacks its spacing/MPP.
        ManifestError: a cell of the row cannot be used (names the row and column).
        RegistrationError: the case cannot be registered (no tissue, needle not found, ...).
    """
    return label_case(read_case(record, settings), settings)


def read_case(record: CaseRecord, settings: RegistrationSettings) -> CaseInputs:
    """Read a row's ultrasound image, locate its tract, and read its slide's tissue and
    fragments, its annotation and its reference label map (in that order, so the first
    problem of the row is the one raised).

    Raises:
        InputError: a file is missing, corrupt or lacks its spacing/MPP.
        ManifestError: a cell of the row cannot be used (names the row and column).
        RegistrationError: no tissue on the slide, or the needle is not found.
    """
    warnings: list[str] = []
    us = read_ultrasound(
        record.us_path,
        record.us_spacing_mm,
        frame=record.us_frame,
        use_outside_regions=settings.use_outside_dicom_regions,
    )
    warnings += us.warnings
    if us.spacing_mm is None:
        raise _cell_error(
            record,
            "us_spacing_mm",
            f"no pixel spacing for {record.us_path.name}: give us_spacing_mm (mm per pixel) in "
            "the manifest",
        )
    tract, needle = _tract(record, settings, us.pixels, us.spacing_mm, warnings)
    with open_wsi(record.wsi_path, record.wsi_mpp, settings.slide_backend) as wsi:
        warnings += wsi.warnings
        try:
            tissue = read_tissue_map(wsi, record.wsi_roi, settings)
            core = find_fragments(tissue, settings.min_fragment_area_mm2, record.proximal_end)
        except RegistrationError as err:
            raise RegistrationError(f"{record.wsi_path}: {err}") from None
        level0_shape = wsi.level_shapes[0]
        mpp, mpp_source = wsi.mpp, wsi.mpp_source
    warnings += core.warnings
    annotation = read_annotation(
        record.annotation_path,
        level0_shape,
        settings.cancer_classes,
        object_types=settings.annotation_object_types,
    )
    warnings += annotation.warnings
    reference, reference_note = _reference(record, us.shape)
    return CaseInputs(
        record,
        us,
        tract,
        needle,
        tissue,
        core,
        mpp,
        mpp_source,
        annotation,
        reference,
        reference_note,
        warnings,
    )


def label_case(inputs: CaseInputs, settings: RegistrationSettings) -> CaseRegistration:
    """Project the annotated cancer of the core onto the strip: the label map and the report's
    values, computed from what :func:`read_case` read.

    Raises:
        RegistrationError: the strip is too small to score.
    """
    record, us, tract, tissue, core = (
        inputs.record,
        inputs.us,
        inputs.tract,
        inputs.tissue,
        inputs.core,
    )
    warnings = list(inputs.warnings)
    cancer = cancer_on_grid(inputs.annotation, tissue)
    on_tissue = _core_mask(core, tissue.mask.shape)
    if cancer.any() and not (cancer & on_tissue).any():
        warnings.append(
            "the annotated cancer does not overlap the core's tissue: the strip is all "
            "non-cancer; check that the annotation belongs to this slide"
        )
    mapping, placement_warnings = placement_for(settings).place(tract, core.total_length_um)
    warnings += placement_warnings
    projected = projection_for(settings).project(core, tissue, cancer, mapping, us.shape)
    strip = tract.strip_mask(us.shape)
    labels = np.where(strip, projected, IGNORE_LABEL).astype(np.uint8)
    sampled = labels != IGNORE_LABEL
    problem = strip_size_problem(
        tract.length_px, tract.diameter_mm, tract.spacing_mm, int(sampled.sum())
    )
    if problem is not None:
        raise RegistrationError(f"{record.us_path}: {problem}")
    needle = inputs.needle
    fields: dict[str, Any] = {
        "tissue_length_um": core.total_length_um,
        "n_fragments": len(core.fragments),
        "n_debris": core.debris,
        "scale_wsi_to_us": mapping.scale_wsi_to_us,
        "tract_length_mm": tract.length_mm,
        "core_diameter_mm": tract.diameter_mm,
        "cancer_fraction": float((labels == 1).sum() / sampled.sum()) if sampled.any() else 0.0,
        "strip_pixels": int(strip.sum()),
        "placement": settings.placement,
        "projection": settings.projection,
        "wsi_mpp": inputs.mpp,
        "mpp_source": inputs.mpp_source,
        "us_spacing_mm": us.spacing_mm,
        "spacing_source": us.spacing_source,
        "tissue_level": tissue.level,
        "tissue_grid_um": min(tissue.pixel_um),
        "tissue_threshold": tissue.threshold,
        "needle": "auto" if needle is not None else "manual",
        "needle_confidence": needle.confidence if needle is not None else None,
        "tract_x0": tract.x0,
        "tract_y0": tract.y0,
        "tract_x1": tract.x1,
        "tract_y1": tract.y1,
    }
    if record.label_path is not None:
        if inputs.reference is None:
            warnings.append(inputs.reference_note)
            fields.update({"dice_vs_reference": None, "boundary_error_mm_vs_reference": None})
        else:
            fields["dice_vs_reference"] = cancer_dice(labels, inputs.reference)
            fields["boundary_error_mm_vs_reference"] = boundary_error_mm(
                labels, inputs.reference, tract
            )
    return CaseRegistration(
        record, labels, us.pixels, tract, tissue, core, cancer, mapping, needle, fields, warnings
    )


def _tract(
    record: CaseRecord,
    settings: RegistrationSettings,
    pixels: np.ndarray,
    spacing_mm: float,
    warnings: list[str],
) -> tuple[Tract, NeedleDetection | None]:
    """The sampled segment: the manifest's tract points, or the needle found in the image."""
    diameter = settings.core_diameter_mm_override or record.core_diameter_mm
    if record.tract is not None:
        tract = Tract(*record.tract, spacing_mm=spacing_mm, diameter_mm=diameter)
        try:
            tract.check_inside(pixels.shape)
            tract.check_length()
        except RegistrationError as err:
            raise _cell_error(record, "tract_x0", str(err)) from None
        return tract, None
    if settings.needle != "auto":
        raise _cell_error(
            record,
            "tract_x0",
            "tract points are missing; give them, or set registration.needle=auto",
        )
    try:
        needle = find_needle(pixels, spacing_mm, settings.throw_length_mm)
    except RegistrationError as err:
        raise RegistrationError(
            f"{record.us_path}: {err}; give the tract points in the manifest"
        ) from None
    if needle.confidence < settings.min_needle_confidence:
        raise RegistrationError(
            f"{record.us_path}: automatic needle finding is not confident enough (confidence "
            f"{needle.confidence:.2f} < registration.min_needle_confidence="
            f"{settings.min_needle_confidence:g}; contrast-to-noise {needle.cnr:.1f}, visible "
            f"length {needle.visible_length_mm:.1f} mm); give the tract points in the manifest"
        )
    tract = Tract(*needle.tract, spacing_mm=spacing_mm, diameter_mm=diameter)
    height, width = pixels.shape
    if not (-0.5 <= tract.x0 <= width - 0.5 and -0.5 <= tract.y0 <= height - 0.5):
        warnings.append(
            f"the sampled segment ({settings.throw_length_mm:g} mm ending at the needle tip) "
            "starts outside the image; only its visible part is labelled"
        )
    return tract, needle


def _core_mask(core: CoreGeometry, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for fragment in core.fragments:
        mask[fragment.rows, fragment.cols] = True
    return mask


def _reference(record: CaseRecord, shape: tuple[int, int]) -> tuple[np.ndarray | None, str | None]:
    """The row's reference label map (for the agreement figures), or why it is not used."""
    if record.label_path is None:
        return None, None
    try:
        reference = read_label_map(record.label_path)
    except InputError as err:
        return None, f"reference label map unreadable, no agreement computed: {err}"
    if reference.shape != shape:
        return None, (
            f"reference label map {record.label_path.name} is {reference.shape[1]}×"
            f"{reference.shape[0]} px, not the ultrasound's {shape[1]}×{shape[0]}; "
            "no agreement computed"
        )
    return reference, None


def _cell_error(record: CaseRecord, column: str, message: str) -> ManifestError:
    return ManifestError(message, None, record.row, column, record.case_id)
