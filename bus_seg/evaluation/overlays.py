"""Overlays of reference labels and predicted cancer on the ultrasound, rendered in batches.

One figure per layout is created once and reused: each image only swaps the pixel data and the
outlines, which keeps rendering well under a second per image.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from bus_seg.evaluation.figures import OKABE_ITO, new_figure, save_figure
from bus_seg.io.images import to_gray
from bus_seg.labels import IGNORE_LABEL
from bus_seg.training.eval_sample import EvalSample

PREDICTION_COLOR = OKABE_ITO["vermillion"]
NON_CANCER_COLOR = OKABE_ITO["bluish_green"]
CANCER_OUTLINE_COLOR = OKABE_ITO["sky_blue"]
STRIP_OUTLINE_COLOR = OKABE_ITO["yellow"]
LESION_OUTLINE_COLOR = OKABE_ITO["reddish_purple"]
PREDICTION_ALPHA = 0.5
NON_CANCER_ALPHA = 0.35
PANEL_HEIGHT_IN = 4.0
MAX_PANEL_WIDTH_IN = 6.0
LEGEND_ENTRY_WIDTH_IN = 2.0
LEGEND_ROW_HEIGHT_IN = 0.3
TITLE_HEIGHT_IN = 0.85


def _fill(
    mask_colors: Iterable[tuple[np.ndarray, str, float]], shape: tuple[int, int]
) -> np.ndarray:
    """RGBA layer painting each mask in its colour; later masks cover earlier ones."""
    layer = np.zeros((*shape, 4), dtype=np.float32)
    for mask, color, alpha in mask_colors:
        layer[mask] = (*to_rgb(color), alpha)
    return layer


def _title(name: str, value: float) -> str:
    return f"{name}: Dice {value:.3f}" if np.isfinite(value) else f"{name}: Dice n/a"


class OverlayRenderer:
    """Draws overlay PNGs of evaluated samples with one reusable figure.

    Panels: the ultrasound alone; the sampled strip (yellow dashed outline), reference non-cancer
    (green tint), reference cancer (sky-blue outline) and predicted cancer (vermillion fill); and,
    when ``with_lesion``, the prediction over the whole image against the full lesion outline
    (reddish purple).

    Args:
        with_lesion: add the whole-lesion panel.
        dpi: resolution of the PNGs.
    """

    def __init__(self, *, with_lesion: bool, dpi: int = 100) -> None:
        self.with_lesion = with_lesion
        self.dpi = dpi
        n_panels = 3 if with_lesion else 2
        self.figure = new_figure(PANEL_HEIGHT_IN * n_panels, PANEL_HEIGHT_IN + 1.0)
        self.axes = self.figure.subplots(1, n_panels, squeeze=True)
        empty_gray, empty_rgba = np.zeros((2, 2)), np.zeros((2, 2, 4))
        self.gray = [
            ax.imshow(empty_gray, cmap="gray", vmin=0, vmax=255, interpolation="antialiased")
            for ax in self.axes
        ]
        self.layers = [ax.imshow(empty_rgba, interpolation="nearest") for ax in self.axes[1:]]
        for ax in self.axes:
            ax.set_axis_off()
        self.axes[0].set_title("Ultrasound", fontsize=10)
        self.outlines: list = []
        handles = [
            Patch(facecolor=PREDICTION_COLOR, alpha=PREDICTION_ALPHA, label="predicted cancer"),
            Line2D([], [], color=CANCER_OUTLINE_COLOR, linewidth=2, label="reference cancer"),
            Patch(facecolor=NON_CANCER_COLOR, alpha=NON_CANCER_ALPHA, label="reference non-cancer"),
            Line2D(
                [],
                [],
                color=STRIP_OUTLINE_COLOR,
                linewidth=1.5,
                linestyle="--",
                label="sampled strip (scored)",
            ),
        ]
        if with_lesion:
            handles.append(
                Line2D([], [], color=LESION_OUTLINE_COLOR, linewidth=2, label="full lesion")
            )
        self.legend_handles = handles
        self.legend = None
        self.legend_cols = 0

    def _layout(self, height: int, width: int) -> None:
        """Size the figure to the image's aspect; wrap the legend to the figure width."""
        panel_width = PANEL_HEIGHT_IN * width / height
        panel_height = PANEL_HEIGHT_IN
        if panel_width > MAX_PANEL_WIDTH_IN:
            panel_width, panel_height = MAX_PANEL_WIDTH_IN, MAX_PANEL_WIDTH_IN * height / width
        figure_width = panel_width * len(self.axes) + 0.2
        n_entries = len(self.legend_handles)
        n_cols = max(1, min(n_entries, int(figure_width // LEGEND_ENTRY_WIDTH_IN)))
        legend_height = LEGEND_ROW_HEIGHT_IN * -(-n_entries // n_cols) + 0.15
        figure_height = panel_height + TITLE_HEIGHT_IN + legend_height
        if self.legend is None or self.legend_cols != n_cols:
            if self.legend is not None:
                self.legend.remove()
            self.legend = self.figure.legend(
                handles=self.legend_handles,
                loc="lower center",
                ncols=n_cols,
                fontsize=9,
                frameon=False,
            )
            self.legend_cols = n_cols
        self.figure.set_size_inches(figure_width, figure_height)
        self.figure.subplots_adjust(
            left=0.01,
            right=0.99,
            top=1 - TITLE_HEIGHT_IN / figure_height,
            bottom=legend_height / figure_height,
            wspace=0.03,
        )

    def _outline(
        self, ax, mask: np.ndarray, color: str, linestyle: str = "-", linewidth: float = 1.8
    ) -> None:
        if mask.any() and not mask.all():
            self.outlines.append(
                ax.contour(
                    mask.astype(np.float32),
                    levels=[0.5],
                    colors=[color],
                    linewidths=linewidth,
                    linestyles=linestyle,
                )
            )

    def render(
        self,
        sample: EvalSample,
        path: str | Path,
        *,
        dice: float,
        lesion_dice: float = float("nan"),
        caption: str | None = None,
    ) -> Path:
        """Draw one sample and save it as a PNG.

        Args:
            sample: the evaluated image.
            path: PNG to write.
            dice: Dice on the sampled strip (shown in the panel title).
            lesion_dice: Dice against the full lesion (shown when the lesion panel is drawn).
            caption: a second title line (e.g. the whole-lesion figures of the image).
        """
        for contour in self.outlines:
            contour.remove()
        self.outlines.clear()
        image = to_gray(sample.image)
        height, width = sample.target.shape
        extent = (-0.5, width - 0.5, height - 0.5, -0.5)
        vmax = 255 if image.dtype == np.uint8 else float(np.nanmax(image)) or 1.0
        for artist in self.gray:
            artist.set_data(image)
            artist.set_clim(0, vmax)
            artist.set_extent(extent)
        predicted = sample.pred == 1
        labelled = sample.target != IGNORE_LABEL
        cancer = sample.target == 1
        strip_ax = self.axes[1]
        self.layers[0].set_data(
            _fill(
                [
                    (sample.target == 0, NON_CANCER_COLOR, NON_CANCER_ALPHA),
                    (predicted, PREDICTION_COLOR, PREDICTION_ALPHA),
                ],
                (height, width),
            )
        )
        self._outline(strip_ax, labelled, STRIP_OUTLINE_COLOR, linestyle="--", linewidth=1.3)
        self._outline(strip_ax, cancer, CANCER_OUTLINE_COLOR)
        strip_ax.set_title(_title("Sampled strip", dice), fontsize=10)
        if self.with_lesion:
            lesion_ax = self.axes[2]
            self.layers[1].set_data(
                _fill([(predicted, PREDICTION_COLOR, PREDICTION_ALPHA)], (height, width))
            )
            if sample.lesion_mask is not None:
                self._outline(lesion_ax, sample.lesion_mask == 1, LESION_OUTLINE_COLOR)
                lesion_ax.set_title(_title("Whole lesion", lesion_dice), fontsize=10)
            else:
                lesion_ax.set_title("Whole lesion: no lesion mask", fontsize=10)
            self._outline(lesion_ax, labelled, STRIP_OUTLINE_COLOR, linestyle="--", linewidth=1.0)
        for layer in self.layers:
            layer.set_extent(extent)
        for ax in self.axes:
            ax.set_xlim(-0.5, width - 0.5)
            ax.set_ylim(height - 0.5, -0.5)
        self._layout(height, width)
        title = f"{sample.image_id} (patient {sample.patient_id})"
        self.figure.suptitle(title + (f"\n{caption}" if caption else ""), fontsize=11)
        return save_figure(self.figure, path, dpi=self.dpi, compress_level=1)
