"""Simulate one case: ultrasound image with needle, tract, core slide, annotation, reference.

Every random choice of a case comes from its own generator (seeded by the cohort seed and the
case), so a case's files do not depend on the other cases or on the order they are made in.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import shapely.affinity
from scipy import ndimage

from bus_seg.io.images import write_png
from bus_seg.io.wsi_writer import SCANNED_SUFFIXES, WSI_SUFFIXES, write_scanned_slide, write_wsi
from bus_seg.labels import CANCER_LABEL, IGNORE_LABEL
from bus_seg.simulate.annotation_writer import (
    geojson_features,
    mask_polygons,
    write_geojson,
    write_label_image,
)
from bus_seg.simulate.core import build_layout
from bus_seg.simulate.ground_truth import reference_labels, tissue_profile
from bus_seg.simulate.he_texture import Stain, load_texture, paint_slide
from bus_seg.simulate.needle_echo import draw_needle
from bus_seg.simulate.needle_path import SkipCase, choose_tract
from bus_seg.simulate.settings import SimulationSettings
from bus_seg.simulate.slide import DEBRIS, MAIN, SERIAL, CoreToUltrasound, orient, rasterize_slide
from bus_seg.simulate.sources import CaseJob, load_source

NON_CANCER_CLASSES = ("Stroma", "Other", "Normal")
_ROI_MARGIN_UM = 60.0

FOLDERS = {
    "us": "us",
    "lesion_mask": "lesion_masks",
    "label": "reference_labels",
    "wsi": "wsi",
    "annotation": "annotations",
}
"""Sub-folders of a cohort for each kind of file."""


@dataclass
class CaseOutcome:
    """What simulating one case gave.

    Attributes:
        case_id: the case.
        row: its manifest row (paths relative to the cohort folder), None if skipped.
        info: facts about the case for ``simulation.json`` and the summary.
        skip_reason: why the case was skipped, None if written.
    """

    case_id: str
    row: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    skip_reason: str | None = None


@lru_cache(maxsize=8)
def _texture(path: str, source_mpp: float, target_mpp: float) -> np.ndarray:
    return load_texture(path, source_mpp, target_mpp)


def lesion_box(mask: np.ndarray) -> str:
    """The ``lesion_roi`` cell of a lesion mask: ``x,y,w,h`` of the pixels holding the lesion."""
    rows, cols = np.nonzero(mask)
    x, y = int(cols.min()), int(rows.min())
    return f"{x},{y},{int(cols.max()) - x + 1},{int(rows.max()) - y + 1}"


@dataclass(frozen=True, eq=False)
class SlideFile:
    """A case's slide as it will be written.

    Attributes:
        name: its path relative to the cohort folder.
        rgb: level 0 of the rasters (H×W×3 uint8) at ``mpp``.
        mpp: µm per pixel of ``rgb``.
        fmt: the file format (a key of ``wsi.formats``).
        downsample: the pyramid's level downsample.
        compression: tile compression.
        tile_size: tile side in pixels.
        file_uuid: the file's UUID.
        scan_mpp: µm per level-0 pixel written by the scanner model, or None to write ``rgb``.
        scan_seed: seed of the scanner model's noise (with ``scan_mpp``).
    """

    name: str
    rgb: np.ndarray
    mpp: float
    fmt: str
    downsample: int
    compression: str
    tile_size: int
    file_uuid: str
    scan_mpp: float | None = None
    scan_seed: int = 0


@dataclass(frozen=True, eq=False)
class AnnotationFile:
    """A case's annotation as it will be written: a label image or QuPath GeoJSON features.

    Attributes:
        name: its path relative to the cohort folder.
        info: facts about it for ``simulation.json``.
        cancer: level-0 cancer mask of a label image (None for GeoJSON).
        label_value: the label image's cancer value.
        features: the GeoJSON features (None for a label image).
    """

    name: str
    info: dict[str, Any]
    cancer: np.ndarray | None = None
    label_value: int = CANCER_LABEL
    features: list[dict] | None = None


@dataclass(eq=False)
class SimulatedCase:
    """Everything one case writes, computed and not yet written.

    Attributes:
        outcome: the manifest row and facts (``skip_reason`` set when the case is skipped and
            nothing is to be written).
        pngs: 8-bit images by their path relative to the cohort folder (ultrasound, lesion
            mask, reference labels).
        slide: the slide.
        annotation: the annotation.
    """

    outcome: CaseOutcome
    pngs: dict[str, np.ndarray] = field(default_factory=dict)
    slide: SlideFile | None = None
    annotation: AnnotationFile | None = None


def simulate_case(job: CaseJob, settings: SimulationSettings, out_dir: Path) -> CaseOutcome:
    """Simulate a case (:func:`make_case`) and write its files under ``out_dir``
    (:func:`write_case`).

    Returns:
        The outcome; a case whose image gives no valid tract (no lesion, lesion too small or
        too close to the border) is skipped with the reason, and writes nothing.
    """
    case = make_case(job, settings)
    write_case(case, out_dir)
    return case.outcome


def make_case(job: CaseJob, settings: SimulationSettings) -> SimulatedCase:
    """Simulate a case in memory: its images, slide, annotation and manifest row.

    A case whose image gives no valid tract (no lesion, lesion too small or too close to the
    border), or whose core is all cancer or all non-cancer, is skipped with the reason.
    """
    rng = job.generator()
    try:
        source = load_source(job, settings, rng)
        tract = choose_tract(source.mask, source.field, source.spacing_mm, settings.tract, rng)
    except SkipCase as reason:
        skipped = CaseOutcome(
            job.case_id, skip_reason=str(reason), info={"source_image": job.source_image}
        )
        return SimulatedCase(skipped)
    spacing = source.spacing_mm
    image = (
        draw_needle(source.image, tract, spacing, rng)
        if settings.source.draw_needle
        else source.image
    )
    wsi = settings.wsi
    diameter_px = tract.diameter_mm / spacing
    layout = build_layout(
        tract.length_px * spacing, tract.diameter_mm, settings.faults, wsi.mpp, wsi.margin_mm, rng
    )
    mapping = CoreToUltrasound(tract.p0, tract.p1, diameter_px, layout.length_um, layout.width_um)
    rasters = rasterize_slide(layout, mapping, source.field)
    profile = tissue_profile(rasters, layout.main.direction)
    labels = reference_labels(image.shape, tract.p0, tract.p1, diameter_px, profile)
    strip = labels != IGNORE_LABEL
    cancer_share = float((labels[strip] == 1).mean())
    if cancer_share in (0.0, 1.0):
        reason = "the sampled core is all " + ("cancer" if cancer_share else "non-cancer")
        skipped = CaseOutcome(
            job.case_id, skip_reason=reason, info={"source_image": job.source_image}
        )
        return SimulatedCase(skipped)

    texture = None
    if wsi.texture_sources:
        chosen = str(rng.choice(list(wsi.texture_sources)))
        texture = _texture(chosen, wsi.texture_source_mpp, wsi.mpp)
    rgb = paint_slide(rasters, wsi.mpp, rng, Stain.draw(rng, wsi.stain_variation), texture)

    proximal_end = str(rng.choice(list(settings.proximal_ends)))
    rgb = orient(rgb, proximal_end)
    section = orient(rasters.section, proximal_end)
    cancer = orient(rasters.cancer, proximal_end)
    roi = _roi(section, wsi.mpp) if layout.serial is not None else None

    names = {kind: f"{folder}/{job.case_id}" for kind, folder in FOLDERS.items()}
    fmt = str(rng.choice(list(wsi.formats), p=_weights(wsi.formats)))
    downsample = int(rng.choice(list(wsi.level_downsamples)))
    file_uuid = str(uuid.UUID(bytes=rng.bytes(16), version=4))
    scale = 1 if wsi.scan_mpp is None else round(wsi.mpp / wsi.scan_mpp)
    suffixes = WSI_SUFFIXES if wsi.scan_mpp is None else SCANNED_SUFFIXES
    slide = SlideFile(
        names["wsi"] + suffixes[fmt],
        rgb,
        wsi.mpp,
        fmt,
        downsample,
        wsi.compression,
        wsi.tile_size,
        file_uuid,
    )
    if wsi.scan_mpp is not None:
        slide = dataclasses.replace(
            slide, scan_mpp=wsi.scan_mpp, scan_seed=int(rng.integers(2**31))
        )
        roi = None if roi is None else tuple(v * scale for v in roi)
    annotated = section == MAIN
    if settings.annotation.annotate_serial_section:
        annotated |= section == SERIAL
    annotation = _make_annotation(
        names["annotation"], cancer & annotated, section, settings, rng, wsi.mpp, scale
    )
    pngs = {
        f"{names['us']}.png": image,
        f"{names['lesion_mask']}.png": source.mask.astype(np.uint8),
        f"{names['label']}.png": labels,
    }

    state_mpp = fmt == "png" or rng.random() < wsi.manifest_mpp_probability
    row = {
        "case_id": job.case_id,
        "patient_id": job.patient_id,
        "us_path": f"{names['us']}.png",
        "us_spacing_mm": spacing,
        "tract_x0": tract.p0[0],
        "tract_y0": tract.p0[1],
        "tract_x1": tract.p1[0],
        "tract_y1": tract.p1[1],
        "core_diameter_mm": tract.diameter_mm,
        "wsi_path": slide.name,
        "wsi_mpp": (wsi.scan_mpp or wsi.mpp) if state_mpp else None,
        "annotation_path": annotation.name,
        "proximal_end": proximal_end,
        "wsi_roi": roi,
        "split": None,
        "label_path": f"{names['label']}.png",
        "lesion_roi": lesion_box(source.mask),
        "lesion_mask_path": f"{names['lesion_mask']}.png",
        "difficulty": settings.faults.difficulty,
        "source_image": job.source_image,
    }
    info = {
        "source_image": job.source_image,
        "patient_id": job.patient_id,
        "gauge": tract.gauge,
        "segment_length_mm": round(tract.length_px * spacing, 3),
        "angle_deg": round(tract.angle_deg, 2),
        "entry_side": tract.side,
        "shrinkage": round(layout.shrinkage, 4),
        "fragments": len(layout.main.fragments),
        "fragment_lengths_um": [round(f.length_um, 1) for f in layout.main.fragments],
        "serial_section": layout.serial is not None,
        "debris": int(sum(p.section == DEBRIS for p in rasters.pieces)),
        "wsi_format": fmt,
        "level_downsample": downsample,
        "slide_size_px": [n * scale for n in rgb.shape[:2]],
        "proximal_end": proximal_end,
        "reference_cancer_share": round(cancer_share, 4),
        "ultrasound_lesion_share": round(tract.lesion_share, 4),
        **annotation.info,
    }
    return SimulatedCase(CaseOutcome(job.case_id, row=row, info=info), pngs, slide, annotation)


def write_case(case: SimulatedCase, out_dir: Path) -> None:
    """Write a simulated case's files under ``out_dir`` (atomically, file by file); a skipped
    case writes nothing."""
    if case.outcome.skip_reason is not None:
        return
    slide = case.slide
    options = {
        "downsample": slide.downsample,
        "compression": slide.compression,
        "tile_size": slide.tile_size,
        "file_uuid": slide.file_uuid,
    }
    path = out_dir / slide.name
    if slide.scan_mpp is None:
        write_wsi(path, slide.rgb, slide.mpp, slide.fmt, **options)
    else:
        write_scanned_slide(
            path, slide.rgb, slide.mpp, slide.scan_mpp, slide.fmt, seed=slide.scan_seed, **options
        )
    annotation = case.annotation
    if annotation.features is None:
        write_label_image(out_dir / annotation.name, annotation.cancer, annotation.label_value)
    else:
        write_geojson(out_dir / annotation.name, annotation.features)
    for name, pixels in case.pngs.items():
        write_png(out_dir / name, pixels)


def _weights(weights: dict[str, float]) -> np.ndarray:
    values = np.array(list(weights.values()), dtype=np.float64)
    return values / values.sum()


def _roi(section: np.ndarray, mpp: float) -> tuple[int, int, int, int]:
    """Level-0 box ``(x, y, w, h)`` around the main section, clear of the serial section."""
    rows = np.flatnonzero((section == MAIN).any(axis=1))
    cols = np.flatnonzero((section == MAIN).any(axis=0))
    height, width = section.shape
    margin = int(round(_ROI_MARGIN_UM / mpp))
    for pad in (margin, margin // 2, 0):
        r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + 1 + pad, height)
        c0, c1 = max(cols[0] - pad, 0), min(cols[-1] + 1 + pad, width)
        if not (section[r0:r1, c0:c1] == SERIAL).any():
            break
    return int(c0), int(r0), int(c1 - c0), int(r1 - r0)


def _make_annotation(
    name: str,
    cancer: np.ndarray,
    section: np.ndarray,
    settings: SimulationSettings,
    rng: np.random.Generator,
    mpp: float,
    scale: int = 1,
) -> AnnotationFile:
    """The annotation as a label image or QuPath GeoJSON, with its facts.

    ``scale`` > 1: the slide is written ``scale`` times finer than the rasters (scanner
    resolution); the GeoJSON's coordinates are scaled to its level 0, and no label image is
    drawn (it would be as large as level 0).
    """
    annotation = settings.annotation
    if scale == 1 and rng.random() < annotation.label_image_probability:
        value = int(rng.choice([CANCER_LABEL, IGNORE_LABEL]))
        info = {"annotation_format": "label_image", "label_value": value}
        return AnnotationFile(f"{name}_labels.png", info, cancer=cancer, label_value=value)
    class_name = str(rng.choice(list(annotation.cancer_classes)))
    features = []
    rows = np.flatnonzero(cancer.any(axis=1))
    if len(rows):
        cols = np.flatnonzero(cancer.any(axis=0))
        window = cancer[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        polygons = mask_polygons(window, offset=(int(cols[0]), int(rows[0])))
        features = geojson_features(_scaled(polygons, scale), class_name, rng)
    info: dict[str, Any] = {"annotation_format": "geojson", "cancer_class": class_name}
    if rng.random() < annotation.stroma_probability:
        other = _non_cancer_region(section == MAIN, cancer, mpp)
        if other is not None and not other.is_empty:
            other_class = str(rng.choice(NON_CANCER_CLASSES))
            features += geojson_features(_scaled(other, scale), other_class, rng)
            info["other_class"] = other_class
    return AnnotationFile(f"{name}.geojson", info, features=features)


def _scaled(geometry: shapely.Geometry, scale: int) -> shapely.Geometry:
    """Corner coordinates of the rasters -> those of a level 0 ``scale`` times finer."""
    return geometry if scale == 1 else shapely.affinity.scale(geometry, scale, scale, origin=(0, 0))


def _non_cancer_region(
    tissue: np.ndarray, cancer: np.ndarray, mpp: float
) -> shapely.Geometry | None:
    """A loose outline inside the largest non-cancer piece of the main section."""
    normal = tissue & ~cancer
    step = max(1, int(round(16.0 / mpp)))
    small = normal[::step, ::step]
    labelled, count = ndimage.label(small)
    if count == 0:
        return None
    sizes = ndimage.sum_labels(small, labelled, index=np.arange(1, count + 1))
    largest = labelled == 1 + int(np.argmax(sizes))
    largest = ndimage.binary_erosion(largest, iterations=2)
    if not largest.any():
        return None
    outline = mask_polygons(largest, simplify_px=1.5)
    return shapely.affinity.scale(outline, step, step, origin=(0, 0))
