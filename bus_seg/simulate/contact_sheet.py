"""Contact sheet of a cohort: each ultrasound image with its lesion outline and labelled strip,
beside a thumbnail of its core's slide with the annotation outlined."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image
from skimage.segmentation import find_boundaries

from bus_seg.errors import InputError
from bus_seg.io.annotations import read_annotation
from bus_seg.io.atomic import atomic_path
from bus_seg.io.images import read_gray, read_label_map
from bus_seg.io.manifest import CaseRecord, read_manifest
from bus_seg.io.wsi import open_wsi
from bus_seg.labels import IGNORE_LABEL

_CANCER_RGB = np.array([230, 40, 40], dtype=np.float32)
_NORMAL_RGB = np.array([40, 200, 80], dtype=np.float32)
_LESION_RGB = np.array([255, 220, 0], dtype=np.uint8)
_OUTLINE_RGB = np.array([20, 20, 20], dtype=np.uint8)
_OTHER_RGB = np.array([20, 120, 20], dtype=np.uint8)
_ROI_RGB = np.array([30, 110, 255], dtype=np.uint8)


def ultrasound_panel(record: CaseRecord, lesion_mask_path: Path | None) -> np.ndarray:
    """RGB ultrasound image with the strip tinted by its reference labels and the lesion outlined."""
    gray = read_gray(record.us_path)
    if gray.dtype != np.uint8:
        gray = (gray.astype(np.float32) * 255.0 / max(float(gray.max()), 1.0)).astype(np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    if record.label_path is not None:
        labels = read_label_map(record.label_path)
        for value, colour in ((1, _CANCER_RGB), (0, _NORMAL_RGB)):
            where = labels == value
            rgb[where] = 0.55 * rgb[where] + 0.45 * colour
        strip = labels != IGNORE_LABEL
        rgb[find_boundaries(strip, mode="outer") & ~strip] = 255
    if lesion_mask_path is not None:
        lesion = read_gray(lesion_mask_path) > 0
        rgb[find_boundaries(lesion, mode="inner")] = _LESION_RGB
    return np.clip(rgb, 0, 255).astype(np.uint8)


def slide_panel(record: CaseRecord, max_side: int = 1400) -> tuple[np.ndarray, str]:
    """RGB thumbnail of the core's slide with cancer (black) and other classes (green)
    outlined and ``wsi_roi`` boxed; turned to lie horizontally. Returns it and a caption."""
    with open_wsi(record.wsi_path, record.wsi_mpp) as wsi:
        level = next(
            (i for i, (h, w) in enumerate(wsi.level_shapes) if max(h, w) <= max_side),
            wsi.level_count - 1,
        )
        thumb = wsi.read_level(level)
        level0 = wsi.level_shapes[0]
        mpp = wsi.mpp
    scale = max(thumb.shape[:2]) / max_side
    if scale > 1:
        size = (int(thumb.shape[1] / scale), int(thumb.shape[0] / scale))
        thumb = np.asarray(Image.fromarray(thumb).resize(size, Image.BOX))
    thumb = thumb.copy()
    downsample = level0[1] / thumb.shape[1]
    annotation = read_annotation(record.annotation_path, level0)
    cancer = annotation.cancer_mask(thumb.shape[:2], downsample)
    thumb[find_boundaries(cancer, mode="outer")] = _OUTLINE_RGB
    if annotation.other is not None:
        from bus_seg.io.annotations import rasterize

        other = rasterize(annotation.other, thumb.shape[:2], downsample)
        thumb[find_boundaries(other, mode="inner")] = _OTHER_RGB
    if record.wsi_roi is not None:
        x, y, w, h = (int(round(v / downsample)) for v in record.wsi_roi)
        x1, y1 = min(x + w, thumb.shape[1] - 1), min(y + h, thumb.shape[0] - 1)
        thumb[y, x:x1] = thumb[y1, x:x1] = _ROI_RGB
        thumb[y:y1, x] = thumb[y:y1, x1] = _ROI_RGB
    caption = f"{record.wsi_path.suffix.lstrip('.')}, {mpp:g} µm/px, proximal {record.proximal_end}"
    if thumb.shape[0] > thumb.shape[1]:
        # Turn so that the proximal end is on the left.
        thumb = np.rot90(thumb, -1 if record.proximal_end == "top" else 1)
    elif record.proximal_end == "right":
        thumb = thumb[::-1, ::-1]
    return np.ascontiguousarray(thumb), caption


def render_contact_sheet(
    manifest_path: str | Path, out_png: str | Path, n: int = 8, dpi: int = 110
) -> Path:
    """Draw the first ``n`` cases of a cohort: ultrasound (lesion outline in yellow, strip in
    red = cancer / green = non-cancer reference) beside the core's slide (annotation outlined).

    Raises:
        InputError: the manifest holds no usable case.
    """
    manifest = read_manifest(manifest_path)
    records = manifest.records[:n]
    if not records:
        raise InputError("the manifest holds no usable case to draw", manifest_path)
    fig = Figure(figsize=(9.0, 1.9 * len(records)))
    axes = fig.subplots(len(records), 2, width_ratios=[1, 3.2], squeeze=False)
    for row, record in zip(axes, records, strict=True):
        row[0].imshow(ultrasound_panel(record, record.lesion_mask_path))
        row[0].set_title(f"{record.case_id} ({record.patient_id})", fontsize=7)
        thumb, caption = slide_panel(record)
        row[1].imshow(thumb)
        row[1].set_title(caption, fontsize=7)
        for axis in row:
            axis.set_axis_off()
    fig.tight_layout(pad=0.4, h_pad=0.6, w_pad=0.4)
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return out_png
