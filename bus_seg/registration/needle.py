"""Automatic needle finding in a B-mode image: the bright straight line of the biopsy needle.

The image is smoothed and thresholded (mean + ``BRIGHT_SIGMAS`` standard deviations); the
strongest straight line of the bright pixels is found with a Hough transform and refined by a
least-squares fit of the bright pixels near it; the needle is the longest bright run along that
line (gaps up to ``MAX_GAP_MM`` bridged). The tip is its deeper end (larger row; for a level
needle, within about 5° of horizontal, the end farther from the side edges), and the sampled segment is the configured throw
length ending at the tip, its proximal end towards the entry side.

Confidence: the contrast-to-noise ratio ``CNR = (mean along the needle - mean of two parallel
bands beside it) / standard deviation of the bands``, mapped to ``CNR / (CNR + CNR_HALF)`` in
[0, 1) (0.5 at ``CNR_HALF``). A run shorter than ``MIN_NEEDLE_MM`` has confidence 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.transform import hough_line, hough_line_peaks

from bus_seg.errors import RegistrationError

SMOOTHING_MM = 0.15
BRIGHT_SIGMAS = 2.5
MAX_GAP_MM = 1.0
MIN_NEEDLE_MM = 3.0
CNR_HALF = 3.0
BAND_OFFSET_MM = (0.6, 1.4)
"""Distances from the needle's line of the two bands that measure the background."""
LEVEL_SLOPE = 0.09
"""A needle within about 5° of horizontal is level: its tip is told by the side edges."""
_LINE_FIT_PX = 2.0


@dataclass(frozen=True)
class NeedleDetection:
    """A needle found in an ultrasound image.

    Attributes:
        tract: ``(x0, y0, x1, y1)`` of the sampled segment (proximal, distal = tip), pixels.
        entry: ``(x, y)`` of the visible needle's end towards the entry side.
        tip: ``(x, y)`` of the needle tip.
        confidence: in [0, 1); see the module docstring.
        cnr: the contrast-to-noise ratio behind it.
        visible_length_mm: length of the bright run.
    """

    tract: tuple[float, float, float, float]
    entry: tuple[float, float]
    tip: tuple[float, float]
    confidence: float
    cnr: float
    visible_length_mm: float


def find_needle(pixels: np.ndarray, spacing_mm: float, throw_length_mm: float) -> NeedleDetection:
    """Find the needle and the sampled segment of ``throw_length_mm`` ending at its tip.

    Args:
        pixels: H×W gray B-mode image.
        spacing_mm: pixel size (mm).
        throw_length_mm: length of the sampled segment.

    Raises:
        RegistrationError: no bright line at all.
    """
    image = ndimage.gaussian_filter(pixels.astype(np.float32), max(SMOOTHING_MM / spacing_mm, 0.7))
    bright = image > image.mean() + BRIGHT_SIGMAS * image.std()
    if bright.sum() < 2:
        raise RegistrationError("automatic needle finding: no bright line in the ultrasound image")
    angles = np.deg2rad(np.arange(-90.0, 90.0, 0.25))
    accumulator, theta, distance = hough_line(bright, theta=angles)
    _, (angle,), (dist,) = hough_line_peaks(accumulator, theta, distance, num_peaks=1)
    point, direction = _refine_line(bright, angle, dist)
    start, end = _bright_run(image, bright, point, direction, spacing_mm)
    entry, tip = _entry_and_tip(start, end, pixels.shape)
    visible_mm = float(np.hypot(*(tip - entry))) * spacing_mm
    cnr = _contrast_to_noise(pixels.astype(np.float32), entry, tip, spacing_mm)
    confidence = 0.0 if visible_mm < MIN_NEEDLE_MM or cnr <= 0 else cnr / (cnr + CNR_HALF)
    unit = (tip - entry) / max(np.hypot(*(tip - entry)), 1e-9)
    proximal = tip - unit * throw_length_mm / spacing_mm
    return NeedleDetection(
        tract=(float(proximal[0]), float(proximal[1]), float(tip[0]), float(tip[1])),
        entry=(float(entry[0]), float(entry[1])),
        tip=(float(tip[0]), float(tip[1])),
        confidence=float(confidence),
        cnr=float(cnr),
        visible_length_mm=visible_mm,
    )


def _refine_line(bright: np.ndarray, angle: float, dist: float) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line through the bright pixels near the Hough line: (point, unit direction)."""
    rows, cols = np.nonzero(bright)
    normal = np.array([np.cos(angle), np.sin(angle)])  # Hough: x cos + y sin = dist
    near = np.abs(cols * normal[0] + rows * normal[1] - dist) <= _LINE_FIT_PX
    points = np.column_stack([cols[near], rows[near]]).astype(float)
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    return centre, vt[0]


def _bright_run(
    image: np.ndarray,
    bright: np.ndarray,
    point: np.ndarray,
    direction: np.ndarray,
    spacing_mm: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Ends of the longest run of bright samples along the line (gaps bridged)."""
    height, width = image.shape
    reach = float(np.hypot(height, width))
    steps = np.arange(-reach, reach, 0.5)
    xy = point[None, :] + steps[:, None] * direction[None, :]
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= width - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= height - 1)
    steps, xy = steps[inside], xy[inside]
    on = ndimage.map_coordinates(bright.astype(np.float32), [xy[:, 1], xy[:, 0]], order=1) >= 0.5
    gap = int(round(MAX_GAP_MM / spacing_mm / 0.5))
    if gap > 0:
        on = ndimage.binary_closing(np.pad(on, gap), np.ones(2 * gap + 1, bool))[gap:-gap]
    runs, count = ndimage.label(on)
    if count == 0:
        raise RegistrationError("automatic needle finding: no bright line in the ultrasound image")
    longest = 1 + int(np.argmax(np.bincount(runs)[1:]))
    index = np.nonzero(runs == longest)[0]
    return xy[index[0]], xy[index[-1]]


def _entry_and_tip(
    a: np.ndarray, b: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The deeper end is the tip; for a level needle, the end farther from the side edges."""
    if abs(a[1] - b[1]) > LEVEL_SLOPE * abs(a[0] - b[0]):
        return (a, b) if a[1] < b[1] else (b, a)
    width = shape[1]
    margin_a, margin_b = min(a[0], width - 1 - a[0]), min(b[0], width - 1 - b[0])
    return (a, b) if margin_a <= margin_b else (b, a)


def _contrast_to_noise(
    image: np.ndarray, entry: np.ndarray, tip: np.ndarray, spacing_mm: float
) -> float:
    """CNR of the needle against two parallel bands beside it (unsmoothed image)."""
    length = float(np.hypot(*(tip - entry)))
    if length < 1:
        return 0.0
    unit = (tip - entry) / length
    normal = np.array([-unit[1], unit[0]])
    steps = np.arange(0.0, length + 0.5, 0.5)
    line = entry[None, :] + steps[:, None] * unit[None, :]
    on = _sample(image, line)
    low, high = (d / spacing_mm for d in BAND_OFFSET_MM)
    band_offsets = np.concatenate([np.arange(low, high, 0.5), -np.arange(low, high, 0.5)])
    band = np.concatenate([_sample(image, line + d * normal) for d in band_offsets])
    if band.size < 2 or on.size == 0:
        return 0.0
    return float((on.mean() - band.mean()) / max(band.std(), 1e-6))


def _sample(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    height, width = image.shape
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= width - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= height - 1)
    xy = xy[inside]
    return ndimage.map_coordinates(image, [xy[:, 1], xy[:, 0]], order=1)
