"""Prediction overlays: the picture's size follows the image's, the probability panel shows the
colour map with its bar, and the cancer panel keeps the image's pixels outside the cancer."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from bus_seg.inference.writers import (
    GAP_PX,
    MARGIN_PX,
    MIN_PANEL_PX,
    TITLE_PX,
    overlay,
    overlay_size,
)


def test_overlay_panels_legend_and_colour_bar() -> None:
    height, width = 200, 240
    pixels = np.full((height, width), 60, np.uint8)
    probability = np.zeros((height, width), np.float32)
    probability[50:150, 60:180] = 1.0
    labels = (probability > 0.5).astype(np.uint8)
    picture = overlay(pixels, labels, probability, "case 1")
    assert picture.shape == (*overlay_size(height, width), 3) and picture.dtype == np.uint8
    top = TITLE_PX + 5
    # the cancer panel: gray outside the cancer, vermillion-tinted inside
    assert tuple(picture[top, MARGIN_PX + 5]) == (60, 60, 60)
    inside = picture[TITLE_PX + 100, MARGIN_PX + 120].astype(int)
    assert inside[0] > inside[2] + 40
    # the probability panel: viridis at 1 inside the cancer, at 0 outside
    right = MARGIN_PX + width + GAP_PX
    yellow = np.array(colormaps["viridis"](1.0)[:3]) * 255
    purple = np.array(colormaps["viridis"](0.0)[:3]) * 255
    assert np.abs(picture[TITLE_PX + 100, right + 120] - yellow).max() < 3
    assert np.abs(picture[top, right + 5] - purple).max() < 3


def test_small_images_are_enlarged() -> None:
    height, width = 48, 72
    picture = overlay(
        np.zeros((height, width), np.uint8),
        np.zeros((height, width), np.uint8),
        np.zeros((height, width), np.float32),
    )
    assert picture.shape[0] >= MIN_PANEL_PX + TITLE_PX
    assert picture.shape == (*overlay_size(height, width), 3)
