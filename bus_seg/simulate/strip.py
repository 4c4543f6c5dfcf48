"""Positions along the sampled strip (the rectangle rule is :mod:`bus_seg.io.cohort_format`'s).

A pixel's position along the strip is the projection's fraction ``t`` of the way from the
proximal end (0) to the distal end (1).
"""

from __future__ import annotations

import numpy as np

from bus_seg.io.cohort_format import Point


def strip_fraction(shape: tuple[int, int], p0: Point, p1: Point) -> np.ndarray:
    """Fraction along the segment of every pixel centre's projection.

    Args:
        shape: ``(height, width)`` of the image.
        p0: proximal end ``(x, y)`` in pixels.
        p1: distal end ``(x, y)`` in pixels.

    Returns:
        ``t``: H×W float64, 0 at ``p0`` and 1 at ``p1``.
    """
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    length_sq = dx * dx + dy * dy
    if length_sq <= 0:
        raise ValueError("the tract segment has zero length")
    rel_x, rel_y = cols - p0[0], rows - p0[1]
    return (rel_x * dx + rel_y * dy) / length_sq


def normal(p0: Point, p1: Point) -> np.ndarray:
    """Unit normal of the segment: its direction turned by +90° (x right, y down)."""
    direction = np.subtract(p1, p0, dtype=np.float64)
    direction /= np.hypot(*direction)
    return np.array([-direction[1], direction[0]])
