"""Fragments of the core: tissue pieces, the core's axis and orientation, order and lengths.

Geometry follows the cohort format page: the core's axis is the principal axis of all its tissue,
oriented from the proximal to the distal end; fragments are ordered by the positions of their
centres along it; a fragment's direction is the side of its minimum-area rotated rectangle nearer
to the axis and its length is the rectangle's extent along that side. Positions are physical
(µm, level-0 QuPath corner coordinates × MPP).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import cv2
import numpy as np
import shapely
from scipy import ndimage
from skimage.measure import find_contours

from bus_seg.errors import RegistrationError
from bus_seg.registration.tissue import TissueMap

DISTAL_DIRECTIONS = {
    "left": (1.0, 0.0),
    "right": (-1.0, 0.0),
    "top": (0.0, 1.0),
    "bottom": (0.0, -1.0),
}
"""For each ``proximal_end``: the direction on the slide from the proximal to the distal end."""
AMBIGUOUS_ORIENTATION_COS = 0.26
"""Warn when the core's axis is more than about 75° from the direction ``proximal_end`` gives."""
OVERLAP_TOLERANCE_PX = 2.0
"""Overlaps along the axis up to this many grid pixels are rounding, not a warning."""
OUTLINE_SMOOTHING_PX = 1.5
"""Gaussian smoothing of a piece's mask before its outline is traced (grid pixels)."""
OUTLINE_STRIP_PX = 128
"""Grid rows of a piece's long side traced at once (:func:`_outline_um`)."""


@dataclass(frozen=True)
class Fragment:
    """One piece of tissue of the core.

    Attributes:
        order: position along the core, 0 = most proximal.
        rows, cols: the piece's grid pixels.
        centre_um: centroid of the piece (µm).
        direction: unit vector of the piece's own axis, pointing distally.
        start_um: the proximal end of the piece's axis (middle of its rectangle's proximal side).
        length_um: extent of the piece's rectangle along ``direction``.
        width_um: extent of the rectangle across it.
        corners_um: the four corners of the minimum-area rotated rectangle (µm).
        area_mm2: area of the piece.
    """

    order: int
    rows: np.ndarray = field(repr=False)
    cols: np.ndarray = field(repr=False)
    centre_um: np.ndarray
    direction: np.ndarray
    start_um: np.ndarray
    length_um: float
    width_um: float
    corners_um: np.ndarray = field(repr=False)
    area_mm2: float

    @property
    def normal(self) -> np.ndarray:
        """Unit vector across the piece: ``direction`` turned by +90° (x right, y down)."""
        return np.array([-self.direction[1], self.direction[0]])

    def along(self, points_um: np.ndarray) -> np.ndarray:
        """Positions of points along the piece's own axis, from its proximal end (µm)."""
        return (np.asarray(points_um) - self.start_um) @ self.direction

    def across(self, points_um: np.ndarray) -> np.ndarray:
        """Signed distances of points from the piece's axis, along :attr:`normal` (µm)."""
        return (np.asarray(points_um) - self.start_um) @ self.normal


@dataclass(frozen=True)
class CoreGeometry:
    """The core as ordered fragments laid end to end (gaps closed).

    Attributes:
        axis: unit principal axis of all tissue, pointing distally.
        centre_um: centroid of all tissue.
        fragments: the pieces in proximal-to-distal order.
        offsets_um: cumulative tissue length before each piece.
        total_length_um: ``L``, the sum of the pieces' lengths.
        debris: number of pieces dropped as debris.
        warnings: notes for the report.
    """

    axis: np.ndarray
    centre_um: np.ndarray
    fragments: list[Fragment]
    offsets_um: np.ndarray
    total_length_um: float
    debris: int
    warnings: list[str]

    def fragment_of(self, core_length_um: np.ndarray) -> np.ndarray:
        """Index of the piece that holds each cumulative tissue length (clipped to 0..n-1)."""
        index = np.searchsorted(self.offsets_um, core_length_um, side="right") - 1
        return np.clip(index, 0, len(self.fragments) - 1)


def find_fragments(tissue: TissueMap, min_area_mm2: float, proximal_end: str) -> CoreGeometry:
    """Split the tissue mask into pieces and lay them out along the core's axis.

    Args:
        tissue: the tissue mask and its grid.
        min_area_mm2: pieces smaller than this are debris.
        proximal_end: ``left``, ``right``, ``top`` or ``bottom``.

    Raises:
        RegistrationError: no piece is at least ``min_area_mm2``, or ``proximal_end`` is unknown.
    """
    if proximal_end not in DISTAL_DIRECTIONS:
        raise RegistrationError(
            f"proximal_end={proximal_end!r} is unknown; use one of {list(DISTAL_DIRECTIONS)}"
        )
    pixel_x, pixel_y = tissue.pixel_um
    pixel_mm2 = pixel_x * pixel_y * 1e-6
    # 8-connected pieces, with their pixel counts and bounding boxes
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        tissue.mask.view(np.uint8), connectivity=8, ltype=cv2.CV_32S
    )
    count -= 1  # label 0 is the background
    areas = stats[1:, cv2.CC_STAT_AREA] * pixel_mm2
    kept = [k + 1 for k in range(count) if areas[k] >= min_area_mm2]
    if not kept:
        largest = f"{areas.max():.3g} mm²" if count else "none"
        raise RegistrationError(
            f"no tissue piece is at least {min_area_mm2:g} mm² (largest: {largest}); the "
            "slide shows no core, or set registration.min_fragment_area_mm2 / tissue_threshold"
        )
    pieces = []
    for value in kept:
        left, top, width, height = stats[value, :4]
        window = (slice(top, top + height), slice(left, left + width))
        piece = labels[window] == value
        sub_rows, sub_cols = np.nonzero(piece)
        rows, cols = sub_rows + window[0].start, sub_cols + window[1].start
        pieces.append((rows, cols, _moments(rows, cols), _outline_um(tissue, piece, window)))

    total = sum(piece[2] for piece in pieces)  # the moments of all the tissue
    centre = _centroid_um(tissue, total)
    axis, warnings = _oriented_axis(_covariance_um2(tissue, total), proximal_end)
    centres = [_centroid_um(tissue, piece[2]) for piece in pieces]
    order = np.argsort([(c - centre) @ axis for c in centres], kind="stable")
    fragments = []
    for position, index in enumerate(order):
        rows, cols, _, outline = pieces[index]
        fragments.append(
            _fragment(position, rows, cols, centres[index], outline, axis, len(rows) * pixel_mm2)
        )
    # positions along the axis: the grid index part, plus that of the grid's first pixel
    step = np.asarray(tissue.pixel_um) * axis
    first = (tissue.to_um(np.zeros(1), np.zeros(1))[0] - centre) @ axis
    along = [pieces[index][1] * step[0] + pieces[index][0] * step[1] + first for index in order]
    warnings += _overlap_warnings(tissue, along)
    lengths = np.array([f.length_um for f in fragments])
    offsets = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    return CoreGeometry(
        axis=axis,
        centre_um=centre,
        fragments=fragments,
        offsets_um=offsets,
        total_length_um=float(lengths.sum()),
        debris=count - len(kept),
        warnings=warnings,
    )


def _outline_um(tissue: TissueMap, piece: np.ndarray, window: tuple[slice, slice]) -> np.ndarray:
    """Sub-pixel outline points of a piece, in µm (in no particular order; some repeated).

    The 0.5 level of the piece's mask smoothed with a Gaussian of ``OUTLINE_SMOOTHING_PX``:
    a straight edge, axis-parallel or tilted, lies where the true edge is, not on the outer
    corners of its pixel staircase (which would lengthen every tilted piece by about a pixel).

    Only the points are used (a piece's rectangle is that of their convex hull), so the level
    is traced in strips of :data:`OUTLINE_STRIP_PX` across the piece's long side, each cropped
    to the piece with the smoothing's reach around it: the points of a trace of the whole
    window, without smoothing and scanning the empty corners of a tilted piece's bounding box.
    """
    pad = int(np.ceil(4 * OUTLINE_SMOOTHING_PX)) + 1
    reach = int(4 * OUTLINE_SMOOTHING_PX + 0.5)  # scipy.ndimage's kernel radius (truncate=4)
    padded = np.pad(piece, pad)
    long = 1 if piece.shape[1] > piece.shape[0] else 0  # the strips run across this axis
    filled = np.flatnonzero(padded.any(axis=1 - long))
    points = []
    for start in range(filled[0] - 1, filled[-1] + 1, OUTLINE_STRIP_PX):
        stop = min(start + OUTLINE_STRIP_PX, filled[-1] + 1)
        # the level's cells start..stop-1 need the mask within reach of lines start..stop
        first, last = max(start - reach, 0), min(stop + reach + 1, padded.shape[long])
        band = padded[first:last] if long == 0 else padded[:, first:last]
        extent = np.flatnonzero(band.any(axis=long))
        low = max(extent[0] - reach - 1, 0)
        high = min(extent[-1] + reach + 2, padded.shape[1 - long])
        strip = band[:, low:high] if long == 0 else band[low:high]
        smooth = ndimage.gaussian_filter(strip.astype(np.float32), OUTLINE_SMOOTHING_PX)
        offset = (first, low) if long == 0 else (low, first)
        for contour in find_contours(smooth, 0.5):
            position = contour[:, long] + first
            points.append(contour[(position >= start) & (position <= stop)] + offset)
    outline = np.concatenate(points)
    rows = outline[:, 0] - pad + window[0].start
    cols = outline[:, 1] - pad + window[1].start
    return tissue.to_um(rows, cols)


def _moments(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Pixel count and raw moments ``(n, Σr, Σc, Σr², Σc², Σrc)`` as exact integers."""
    rows, cols = rows.astype(np.int64), cols.astype(np.int64)
    sums = (rows.sum(), cols.sum(), (rows * rows).sum(), (cols * cols).sum(), (rows * cols).sum())
    return np.array([len(rows), *(int(value) for value in sums)], dtype=object)


def _centroid_um(tissue: TissueMap, moments: np.ndarray) -> np.ndarray:
    """Centroid (µm) of the pixels whose :func:`_moments` are given."""
    n, sum_r, sum_c = moments[:3]
    return tissue.to_um(np.array([sum_r / n]), np.array([sum_c / n]))[0]


def _covariance_um2(tissue: TissueMap, moments: np.ndarray) -> np.ndarray:
    """Covariance (µm², x then y) of the pixels whose :func:`_moments` are given, exact up
    to its final rounding."""
    n, sum_r, sum_c, sum_rr, sum_cc, sum_rc = moments
    variance_x = Fraction(n * sum_cc - sum_c * sum_c, n * n)
    variance_y = Fraction(n * sum_rr - sum_r * sum_r, n * n)
    covariance_xy = Fraction(n * sum_rc - sum_r * sum_c, n * n)
    pixel_x, pixel_y = tissue.pixel_um
    return np.array(
        [
            [float(variance_x) * pixel_x**2, float(covariance_xy) * pixel_x * pixel_y],
            [float(covariance_xy) * pixel_x * pixel_y, float(variance_y) * pixel_y**2],
        ]
    )


def _oriented_axis(covariance: np.ndarray, proximal_end: str) -> tuple[np.ndarray, list[str]]:
    """Principal axis of the tissue (``covariance`` in µm²), pointing from the proximal to the
    distal end."""
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    axis = eigenvectors[:, np.argmax(eigenvalues)]
    distal = np.array(DISTAL_DIRECTIONS[proximal_end])
    if axis @ distal < 0:
        axis = -axis
    warnings = []
    if abs(axis @ distal) < AMBIGUOUS_ORIENTATION_COS:
        angle = np.degrees(np.arctan2(axis[1], axis[0]))
        warnings.append(
            f"the core runs at {angle:.0f}° on the slide, almost across the proximal_end="
            f"{proximal_end!r} direction: which end is proximal is ambiguous; check proximal_end"
        )
    return axis, warnings


def _fragment(
    order: int,
    rows: np.ndarray,
    cols: np.ndarray,
    centre: np.ndarray,
    outline: np.ndarray,
    axis: np.ndarray,
    area_mm2: float,
) -> Fragment:
    """A piece's own axis and length from its minimum-area rotated rectangle."""
    rectangle = shapely.MultiPoint(outline).minimum_rotated_rectangle
    corners = np.asarray(rectangle.exterior.coords)[:4]
    sides = [corners[1] - corners[0], corners[2] - corners[1]]
    lengths = [float(np.hypot(*side)) for side in sides]
    alignment = [
        abs(side @ axis) / length if length > 0 else -1.0
        for side, length in zip(sides, lengths, strict=True)
    ]
    along = int(np.argmax(alignment))
    direction = sides[along] / lengths[along]
    if direction @ axis < 0:
        direction = -direction
    middle = corners.mean(axis=0)
    start = middle - direction * lengths[along] / 2.0
    return Fragment(
        order=order,
        rows=rows,
        cols=cols,
        centre_um=centre,
        direction=direction,
        start_um=start,
        length_um=lengths[along],
        width_um=lengths[1 - along],
        corners_um=corners,
        area_mm2=area_mm2,
    )


def _overlap_warnings(tissue: TissueMap, along: list[np.ndarray]) -> list[str]:
    """Warnings for consecutive pieces whose extents overlap, given each piece's pixel
    positions ``along`` the axis (µm), in order."""
    tolerance = OVERLAP_TOLERANCE_PX * max(tissue.pixel_um)
    extents = [(positions.min(), positions.max()) for positions in along]
    warnings = []
    for k in range(len(extents) - 1):
        overlap = extents[k][1] - extents[k + 1][0]
        if overlap > tolerance:
            warnings.append(
                f"fragments {k + 1} and {k + 2} overlap by {overlap:.0f} µm along the core axis "
                "(pieces side by side, or a folded core?); they are laid end to end in the "
                "order of their centres"
            )
    return warnings
