"""The needle's echo in a B-mode image: bright shaft walls, tip, and a reverberation tail."""

from __future__ import annotations

import numpy as np

from bus_seg.simulate.needle_path import NeedlePass
from bus_seg.simulate.speckle import smooth_noise

NEEDLE_OUTER_DIAMETER_MM = {14: 2.11, 16: 1.65, 18: 1.27}
"""Outer diameter of biopsy needles by gauge."""

_TAIL_DECAY_MM = 2.0
"""Depth over which the reverberation tail fades by a factor e."""


def needle_brightness(
    shape: tuple[int, int], tract: NeedlePass, spacing_mm: float, rng: np.random.Generator
) -> np.ndarray:
    """Brightness (0-1) the needle adds to each pixel of an image.

    The shaft runs from the border crossing to the tip; its upper and lower walls are bright
    specular lines (dimmer for steeper needles), followed below by fading reverberation lines
    one outer diameter apart (a comet tail), with a bright tip.
    """
    radius = NEEDLE_OUTER_DIAMETER_MM[tract.gauge] / 2 / spacing_mm
    entry, tip = np.asarray(tract.entry), np.asarray(tract.tip)
    direction = (tip - entry) / np.hypot(*(tip - entry))
    down = np.array([-direction[1], direction[0]])
    if down[1] < 0:
        down = -down
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    rel_x, rel_y = cols - entry[0], rows - entry[1]
    along = rel_x * direction[0] + rel_y * direction[1]
    across = rel_x * down[0] + rel_y * down[1]
    shaft_length = float(np.hypot(*(tip - entry)))
    width = max(1.2, 0.3 / spacing_mm)
    visibility = float(np.clip(np.cos(np.deg2rad(tract.angle_deg)) ** 6, 0.3, 1.0))

    # Near wall, then a ring-down tail fading with depth, rippled every ~0.4 mm (through the
    # lumen and beyond the far wall: the comet tail), and the far wall.
    lines = 1.8 * np.exp(-(((across + radius) / width) ** 2))
    below = np.maximum(across + radius, 0.0)
    ripple = 0.7 + 0.3 * np.cos(2 * np.pi * below / (0.7 / spacing_mm))
    tail = np.exp(-below / (_TAIL_DECAY_MM / spacing_mm)) * ripple * (across > -radius)
    lines += 1.0 * tail * np.clip((across + radius) / width, 0.0, 1.0)
    lines += 0.6 * np.exp(-(((across - radius) / width) ** 2))
    texture = np.clip(0.8 + 0.25 * smooth_noise(shape, (0.8, 3.0), rng), 0.3, 1.2)
    taper = np.clip((shaft_length - along) / (radius + 1e-9) + 1.0, 0.0, 1.0) * (along >= 0)
    brightness = visibility * lines * texture * taper
    tip_blob = np.exp(-((cols - tip[0]) ** 2 + (rows - tip[1]) ** 2) / (2 * (0.8 * radius) ** 2))
    return np.clip(brightness + 1.2 * visibility * tip_blob, 0.0, 1.0).astype(np.float32)


def draw_needle(
    image: np.ndarray, tract: NeedlePass, spacing_mm: float, rng: np.random.Generator
) -> np.ndarray:
    """Composite the needle's echo onto an 8-bit B-mode image (brightening towards white)."""
    brightness = needle_brightness(image.shape, tract, spacing_mm, rng)
    out = image.astype(np.float32) + (255.0 - image) * brightness
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
