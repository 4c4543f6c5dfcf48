"""The sampled strip of the cohort format: pixels within the core's width of the tract segment.

A pixel belongs to the strip when the projection of its centre onto the line of the segment
falls within the segment (ends included) and its distance from the line is at most half the
core diameter (included). Its position along the strip is the projection's fraction ``t`` of
the way from the proximal end (0) to the distal end (1).
"""

from __future__ import annotations

import numpy as np

Point = tuple[float, float]


def strip_coordinates(
    shape: tuple[int, int], p0: Point, p1: Point
) -> tuple[np.ndarray, np.ndarray]:
    """Fraction along the segment and distance from its line of every pixel centre.

    Args:
        shape: ``(height, width)`` of the image.
        p0: proximal end ``(x, y)`` in pixels.
        p1: distal end ``(x, y)`` in pixels.

    Returns:
        ``(t, distance)``: H×W float64 arrays; ``t`` is 0 at ``p0`` and 1 at ``p1``.
    """
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    length_sq = dx * dx + dy * dy
    if length_sq <= 0:
        raise ValueError("the tract segment has zero length")
    rel_x, rel_y = cols - p0[0], rows - p0[1]
    t = (rel_x * dx + rel_y * dy) / length_sq
    distance = np.abs(rel_x * dy - rel_y * dx) / np.sqrt(length_sq)
    return t, distance


def strip_mask(shape: tuple[int, int], p0: Point, p1: Point, diameter_px: float) -> np.ndarray:
    """Boolean mask of the strip (the rectangle rule of the cohort format)."""
    t, distance = strip_coordinates(shape, p0, p1)
    return (t >= 0.0) & (t <= 1.0) & (distance <= diameter_px / 2.0)


def normal(p0: Point, p1: Point) -> np.ndarray:
    """Unit normal of the segment: its direction turned by +90° (x right, y down)."""
    direction = np.subtract(p1, p0, dtype=np.float64)
    direction /= np.hypot(*direction)
    return np.array([-direction[1], direction[0]])
