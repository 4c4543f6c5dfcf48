"""The cohort format's rules in one place (``cohort-format.md``, v1.1): the manifest's columns
and their defaults, and the strip rectangle that a label map labels.

The strip is the rectangle whose centre line is the tract segment from the proximal end
``p0 = (x0, y0)`` to the distal end ``p1 = (x1, y1)`` and whose width is the core diameter.
Coordinates are ultrasound pixels with pixel centres at integers (``x`` = column, ``y`` = row).
A pixel belongs to the strip when the projection of its centre onto the segment's line falls
within the segment (ends included) and its distance from the line is at most half the diameter
(included). The manifest (:mod:`bus_seg.io.manifest`), registration and the simulator all use
these definitions.
"""

from __future__ import annotations

import math

import numpy as np

Point = tuple[float, float]

TRACT_COLUMNS: tuple[str, ...] = ("tract_x0", "tract_y0", "tract_x1", "tract_y1")
MANIFEST_COLUMNS: tuple[str, ...] = (
    "case_id",
    "patient_id",
    "us_path",
    "us_spacing_mm",
    *TRACT_COLUMNS,
    "core_diameter_mm",
    "wsi_path",
    "wsi_mpp",
    "annotation_path",
    "proximal_end",
    "wsi_roi",
    "split",
    "label_path",
    "lesion_roi",
    "lesion_mask_path",
)
REQUIRED_COLUMNS: tuple[str, ...] = (
    "case_id",
    "patient_id",
    "us_path",
    "wsi_path",
    "annotation_path",
)
"""Always required; the tract columns are required too unless the needle is found automatically."""
PATH_COLUMNS: tuple[str, ...] = (
    "us_path",
    "wsi_path",
    "annotation_path",
    "label_path",
    "lesion_mask_path",
)
DEFAULT_CORE_DIAMETER_MM = 1.6
DEFAULT_PROXIMAL_END = "left"
PROXIMAL_ENDS: tuple[str, ...] = ("left", "right", "top", "bottom")
SPLITS: tuple[str, ...] = ("train", "val", "test")
US_FRAME_COLUMN = "us_frame"
"""Optional column (not yet on the v1 format page): the 0-based frame of a cine-loop ``us_path``."""

INCLUSION_TOLERANCE_PX = 1e-6
"""Slack of the "included" comparisons, so rounding never drops a pixel that lies exactly on an
edge of the strip (e.g. at exactly half the diameter from an axis-parallel tract)."""


def strip_coordinates(
    shape: tuple[int, int], p0: Point, p1: Point
) -> tuple[np.ndarray, np.ndarray]:
    """Strip coordinates of every pixel centre of an image of ``shape = (height, width)``.

    Returns:
        ``(along, across)``: H×W distances in pixels, along the segment from ``p0`` and across
        it (signed, positive along the direction turned by +90°, x right and y down).

    Raises:
        ValueError: the segment has zero length.
    """
    length = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
    if not length > 0:
        raise ValueError("the tract segment has zero length")
    dx, dy = (p1[0] - p0[0]) / length, (p1[1] - p0[1]) / length
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    rel_x, rel_y = cols - p0[0], rows - p0[1]
    return rel_x * dx + rel_y * dy, rel_x * -dy + rel_y * dx


def in_strip(
    along: np.ndarray, across: np.ndarray, length_px: float, half_width_px: float
) -> np.ndarray:
    """Whether strip coordinates lie in the rectangle (ends and edges included)."""
    tol = INCLUSION_TOLERANCE_PX
    return (along >= -tol) & (along <= length_px + tol) & (np.abs(across) <= half_width_px + tol)


def strip_mask(shape: tuple[int, int], p0: Point, p1: Point, diameter_px: float) -> np.ndarray:
    """Boolean H×W mask of the strip of the segment ``p0``–``p1`` with width ``diameter_px``."""
    along, across = strip_coordinates(shape, p0, p1)
    length = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
    return in_strip(along, across, length, diameter_px / 2.0)
