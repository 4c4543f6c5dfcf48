"""The files of one prediction: probability map, label map and overlay, at the original size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.patches import Patch
from skimage.segmentation import find_boundaries

from bus_seg.evaluation.figures import OKABE_ITO, new_figure, wrap_label
from bus_seg.io.atomic import atomic_path
from bus_seg.io.images import read_array, to_gray, write_png

PROBABILITY_FORMATS = {"png16": ".png", "tiff": ".tif"}
PNG16_MAX = 65535
OVERLAY_COLOR = np.array(to_rgb(OKABE_ITO["vermillion"])) * 255
OVERLAY_ALPHA = 0.45
# Overlay picture layout, in pixels at FIGURE_DPI.
FIGURE_DPI = 100
MIN_PANEL_PX = 160
MARGIN_PX, GAP_PX, COLORBAR_PX = 10, 20, 60
TITLE_PX, LEGEND_PX = 48, 30
FONT_PT = 10


def write_probability_map(path_without_suffix: Path, probability: np.ndarray, fmt: str) -> Path:
    """Write the cancer probability as a 16-bit PNG (``p · 65535``) or a float32 TIFF.

    Returns:
        The written file (suffix ``.png`` or ``.tif`` added).
    """
    path = path_without_suffix.with_name(path_without_suffix.name + PROBABILITY_FORMATS[fmt])
    if fmt == "png16":
        return write_png(
            path, np.round(np.clip(probability, 0.0, 1.0) * PNG16_MAX).astype(np.uint16)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, probability.astype(np.float32), compression="zlib")
    return path


def read_probability_map(path: str | Path) -> np.ndarray:
    """Read a map written by :func:`write_probability_map` back as float32 in [0, 1]."""
    path = Path(path)
    if path.suffix == PROBABILITY_FORMATS["tiff"]:
        return tifffile.imread(path).astype(np.float32)
    return read_array(path).astype(np.float32) / PNG16_MAX


def panel_scale(height: int) -> int:
    """The whole factor that enlarges an image under :data:`MIN_PANEL_PX` high."""
    return max(1, -(-MIN_PANEL_PX // height))


def overlay_size(height: int, width: int) -> tuple[int, int]:
    """``(height, width)`` in pixels of the :func:`overlay` picture of an image of that size."""
    scale = panel_scale(height)
    return (
        TITLE_PX + height * scale + LEGEND_PX,
        MARGIN_PX + 2 * width * scale + GAP_PX + COLORBAR_PX,
    )


def overlay(
    pixels: np.ndarray, labels: np.ndarray, probability: np.ndarray, title: str = ""
) -> np.ndarray:
    """RGB picture of one prediction: the ultrasound with the predicted cancer filled and
    outlined (vermillion, with a legend), beside the cancer probability (viridis, 0-1) with its
    colour bar, under ``title``.

    Both panels show the image at its original resolution (one image pixel per picture pixel;
    images under :data:`MIN_PANEL_PX` high are enlarged by a whole factor so text stays
    readable), so the picture's size depends only on the image's size.
    """
    height, width = labels.shape
    scale = panel_scale(height)
    panel_w, panel_h = width * scale, height * scale
    fig_h, fig_w = overlay_size(height, width)
    figure = new_figure(fig_w / FIGURE_DPI, fig_h / FIGURE_DPI)
    figure.patch.set_facecolor("white")

    def panel(left_px: int) -> Axes:
        axes = figure.add_axes(
            (left_px / fig_w, LEGEND_PX / fig_h, panel_w / fig_w, panel_h / fig_h)
        )
        axes.set_axis_off()
        return axes

    image = panel(MARGIN_PX)
    image.imshow(_filled(pixels, labels), interpolation="nearest")
    image.set_title("predicted cancer", fontsize=FONT_PT)
    image.legend(
        handles=[
            Patch(
                facecolor=(*to_rgb(OKABE_ITO["vermillion"]), OVERLAY_ALPHA),
                edgecolor=OKABE_ITO["vermillion"],
                label="cancer (predicted label 1)",
            )
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        fontsize=FONT_PT - 1,
        frameon=False,
    )
    prob = panel(MARGIN_PX + panel_w + GAP_PX)
    shown = prob.imshow(probability, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    prob.set_title("cancer probability", fontsize=FONT_PT)
    bar_axes = figure.add_axes(
        (
            (MARGIN_PX + 2 * panel_w + GAP_PX + 8) / fig_w,
            LEGEND_PX / fig_h,
            12 / fig_w,
            panel_h / fig_h,
        )
    )
    bar = figure.colorbar(shown, cax=bar_axes, ticks=[0, 0.25, 0.5, 0.75, 1])
    bar.ax.tick_params(labelsize=FONT_PT - 2)
    if title:
        figure.suptitle(
            wrap_label(title, width=max(20, fig_w // 8), max_lines=1),
            fontsize=FONT_PT + 1,
            y=1 - 4 / fig_h,
            va="top",
        )
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def _filled(pixels: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The ultrasound as RGB with predicted cancer filled (vermillion, alpha 0.45) and outlined."""
    rgb = np.repeat(to_gray(pixels)[..., None].astype(np.float32), 3, axis=2)
    cancer = labels == 1
    rgb[cancer] = (1 - OVERLAY_ALPHA) * rgb[cancer] + OVERLAY_ALPHA * OVERLAY_COLOR
    rgb[find_boundaries(cancer, mode="inner")] = OVERLAY_COLOR
    return np.round(rgb).astype(np.uint8)
