"""Quality-control picture of a registered case: the strip on the ultrasound beside the core."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon
from scipy import ndimage

from bus_seg.io.atomic import write_bytes_atomic
from bus_seg.registration.case import CaseRegistration

CANCER_RGB = (0.85, 0.1, 0.1)
NON_CANCER_RGB = (0.1, 0.75, 0.25)
STRIP_COLOUR = "gold"
TISSUE_RGB = (0, 170, 255)
ANNOTATION_RGB = (230, 0, 230)
FRAGMENT_COLOUR = "darkorange"
MAX_THUMBNAIL_PX = 1200
LABEL_ALPHA = 0.45


def render_qc(case: CaseRegistration, dpi: int = 100) -> bytes:
    """The QC picture as PNG bytes.

    Left: the ultrasound image with the strip's outline, its labels (cancer red, non-cancer
    green) and the proximal end. Right: the core's tissue grid with the tissue outline, each
    fragment's rectangle and order number, the annotated cancer outline and the core's axis.
    """
    # A Figure of its own, not pyplot: no global backend or state (safe in notebooks and workers).
    figure = Figure(figsize=(13, 5.2), dpi=dpi)
    left, right = figure.subplots(1, 2)
    _draw_ultrasound(left, case)
    _draw_core(right, case)
    fields = case.fields
    figure.suptitle(
        f"{case.record.case_id}: tissue {fields['tissue_length_um'] / 1000:.2f} mm in "
        f"{fields['n_fragments']} fragment(s) -> tract {fields['tract_length_mm']:.2f} mm "
        f"(scale {fields['scale_wsi_to_us']:.3f}, {fields['placement']}/"
        f"{fields['projection']}); cancer {100 * fields['cancer_fraction']:.0f} %",
        fontsize=10,
    )
    figure.subplots_adjust(left=0.01, right=0.99, top=0.9, bottom=0.1, wspace=0.04)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def write_qc(case: CaseRegistration, path: str | Path, dpi: int = 100) -> Path:
    """Render the QC picture and write it atomically to ``path``."""
    return write_bytes_atomic(path, render_qc(case, dpi))


def _draw_ultrasound(axes: Axes, case: CaseRegistration) -> None:
    picture = np.repeat(case.us_pixels[..., None] / 255.0, 3, axis=2)
    for value, colour in ((1, CANCER_RGB), (0, NON_CANCER_RGB)):
        where = case.labels == value
        picture[where] = (1 - LABEL_ALPHA) * picture[where] + LABEL_ALPHA * np.array(colour)
    axes.imshow(picture, interpolation="nearest")
    tract = case.tract
    start = np.array([tract.x0, tract.y0])
    end = np.array([tract.x1, tract.y1])
    offset = tract.normal * tract.half_width_px
    corners = np.array([start + offset, end + offset, end - offset, start - offset])
    axes.add_patch(Polygon(corners, closed=True, fill=False, edgecolor=STRIP_COLOUR, linewidth=1))
    axes.plot(*start, marker="o", color=STRIP_COLOUR, markersize=5)
    axes.annotate(
        "proximal",
        start,
        color=STRIP_COLOUR,
        fontsize=8,
        xytext=(4, -6),
        textcoords="offset points",
    )
    if case.needle is not None:
        axes.plot(*case.needle.tip, marker="x", color="cyan", markersize=7)
    axes.set_title(f"ultrasound ({case.fields['us_spacing_mm']:g} mm/px)", fontsize=9)
    axes.set_axis_off()
    axes.legend(
        handles=[
            Patch(color=CANCER_RGB, label="cancer (1)"),
            Patch(color=NON_CANCER_RGB, label="non-cancer (0)"),
            Line2D([], [], color=STRIP_COLOUR, label="strip / proximal end"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=3,
        fontsize=7,
        frameon=False,
    )


def _draw_core(axes: Axes, case: CaseRegistration) -> None:
    tissue = case.tissue
    core_mask = np.zeros(tissue.mask.shape, dtype=bool)
    for fragment in case.core.fragments:
        core_mask[fragment.rows, fragment.cols] = True
    rows, cols = np.nonzero(core_mask)
    margin = 20
    top, bottom = max(rows.min() - margin, 0), min(rows.max() + margin + 1, core_mask.shape[0])
    left, right = max(cols.min() - margin, 0), min(cols.max() + margin + 1, core_mask.shape[1])
    step = max(1, math.ceil(max(bottom - top, right - left) / MAX_THUMBNAIL_PX))
    window = (slice(top, bottom, step), slice(left, right, step))
    extent = (
        left - 0.5,
        left - 0.5 + step * len(range(left, right, step)),
        top - 0.5 + step * len(range(top, bottom, step)),
        top - 0.5,
    )
    thumbnail = tissue.rgb[window].copy()
    for mask, colour in ((core_mask, TISSUE_RGB), (case.cancer, ANNOTATION_RGB)):
        thumbnail[_outline(mask[window])] = colour
    axes.imshow(thumbnail, extent=extent, interpolation="nearest")
    for fragment in case.core.fragments:
        corners = tissue.um_to_grid(fragment.corners_um)
        axes.add_patch(
            Polygon(
                corners,
                closed=True,
                fill=False,
                edgecolor=FRAGMENT_COLOUR,
                linestyle="--",
                linewidth=0.8,
            )
        )
        centre = tissue.um_to_grid(fragment.centre_um[None, :])[0]
        axes.text(
            *centre,
            str(fragment.order + 1),
            color="black",
            fontsize=9,
            ha="center",
            va="center",
            bbox={"boxstyle": "circle,pad=0.2", "facecolor": "white", "alpha": 0.8},
        )
    first = case.core.fragments[0]
    tail = tissue.um_to_grid(first.start_um[None, :])[0]
    head = tissue.um_to_grid(
        (first.start_um + case.core.axis * case.core.total_length_um * 0.25)[None, :]
    )[0]
    axes.annotate(
        "", head, tail, arrowprops={"arrowstyle": "->", "color": FRAGMENT_COLOUR, "lw": 1.5}
    )
    axes.set_xlim(extent[0], extent[1])
    axes.set_ylim(extent[2], extent[3])
    axes.set_title(
        f"core (level {tissue.level}, {min(tissue.pixel_um):.2g} µm/px; arrow: proximal -> distal)",
        fontsize=9,
    )
    axes.set_axis_off()
    axes.legend(
        handles=[
            Line2D([], [], color=np.array(TISSUE_RGB) / 255, label="tissue outline"),
            Line2D([], [], color=np.array(ANNOTATION_RGB) / 255, label="annotated cancer"),
            Line2D(
                [], [], color=FRAGMENT_COLOUR, linestyle="--", label="fragment rectangle, order"
            ),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=3,
        fontsize=7,
        frameon=False,
    )


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels on the edge of ``mask``, two pixels thick."""
    edge = mask & ~ndimage.binary_erosion(mask)
    return ndimage.binary_dilation(edge)
