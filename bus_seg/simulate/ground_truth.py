"""Reference labels: what a perfect ``fit_tract`` + ``profile`` registration makes of a slide.

The cohort format's geometry, applied to the exact level-0 rasters of the main section:

1. the core's axis is the principal axis of all its tissue, pointing proximal -> distal;
2. each fragment's length is the side of its smallest enclosing rectangle whose direction is
   nearer the axis; fragments are ordered by their centres along the axis and made to abut;
3. a tissue pixel at cumulative length ``l`` maps to the fraction ``l / L`` of the segment;
4. a position is cancer when at least half of the tissue across it is cancer; positions with
   no tissue take the label of the nearest position with tissue;
5. strip pixels (the format's rectangle rule) take the label of their position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy import ndimage

from bus_seg.io.cohort_format import Point, strip_mask
from bus_seg.labels import IGNORE_LABEL
from bus_seg.simulate.slide import SlideRasters
from bus_seg.simulate.strip import strip_fraction


@dataclass(frozen=True, eq=False)
class TissueProfile:
    """Cancer along the core, as the registration's profile projection sees it.

    Attributes:
        cancer_fraction: share of the tissue across the core that is cancer, in bins of one
            level-0 pixel of tissue length from the proximal to the distal end.
        fragment_lengths_px: the fragments' lengths (level-0 pixels), proximal first.
    """

    cancer_fraction: np.ndarray
    fragment_lengths_px: tuple[float, ...]

    def labels_at(self, t: np.ndarray) -> np.ndarray:
        """Labels (1 cancer, 0 not) at fractions ``t`` in [0, 1] of the segment."""
        bins = len(self.cancer_fraction)
        index = np.clip(np.floor(t * bins).astype(np.int64), 0, bins - 1)
        return (self.cancer_fraction[index] >= 0.5).astype(np.uint8)


def tissue_profile(rasters: SlideRasters, forward: tuple[float, float]) -> TissueProfile:
    """The profile of the main section's tissue.

    Args:
        rasters: level-0 rasters (horizontal frame).
        forward: a vector pointing roughly from the proximal to the distal end; it only
            decides the sign of the axis.
    """
    pieces = []
    for piece in rasters.main_pieces:
        r0, r1, c0, c1 = piece.box
        mask = piece.mask(rasters)
        pieces.append((mask, r0, c0, rasters.cancer[r0:r1, c0:c1][mask]))
    axis = _principal_axis(pieces, forward)

    fragments = []
    for mask, r0, c0, cancer in pieces:
        direction, length, centre = _fragment_frame(mask, r0, c0, axis)
        rows = np.arange(r0, r0 + mask.shape[0], dtype=np.float64) - centre[1]
        cols = np.arange(c0, c0 + mask.shape[1], dtype=np.float64) - centre[0]
        position = (cols * direction[0])[None, :] + (rows * direction[1])[:, None] + length / 2
        centroid = _centroid(mask, r0, c0)
        along_axis = float(centroid @ axis)
        fragments.append((along_axis, length, np.clip(position[mask], 0.0, length), cancer))
    fragments.sort(key=lambda item: item[0])

    total = sum(length for _, length, _, _ in fragments)
    bins = max(int(np.ceil(total)), 1)
    tissue_count = np.zeros(bins)
    cancer_count = np.zeros(bins)
    start = 0.0
    for _, length, position, cancer in fragments:
        index = np.clip(np.floor((start + position) / total * bins).astype(np.int64), 0, bins - 1)
        tissue_count += np.bincount(index, minlength=bins)
        cancer_count += np.bincount(index, weights=cancer.astype(np.float64), minlength=bins)
        start += length
    fraction = np.divide(cancer_count, tissue_count, out=np.zeros(bins), where=tissue_count > 0)
    empty = tissue_count == 0
    if empty.any() and not empty.all():
        nearest = ndimage.distance_transform_edt(
            empty, return_distances=False, return_indices=True
        )[0]
        fraction = fraction[nearest]
    return TissueProfile(fraction, tuple(length for _, length, _, _ in fragments))


def _centroid(mask: np.ndarray, r0: int, c0: int) -> np.ndarray:
    count = mask.sum()
    cols = np.arange(mask.shape[1]) @ mask.sum(axis=0) / count + c0
    rows = np.arange(mask.shape[0]) @ mask.sum(axis=1) / count + r0
    return np.array([cols, rows])


def _principal_axis(pieces: list, forward: tuple[float, float]) -> np.ndarray:
    """Principal axis of all pixels of all pieces (from their first and second moments)."""
    count, first, second = 0.0, np.zeros(2), np.zeros((2, 2))
    for mask, r0, c0, _ in pieces:
        weights = mask.astype(np.float64)
        cols = np.arange(mask.shape[1], dtype=np.float64) + c0
        rows = np.arange(mask.shape[0], dtype=np.float64) + r0
        col_sums, row_sums = weights.sum(axis=0), weights.sum(axis=1)
        count += col_sums.sum()
        first += [cols @ col_sums, rows @ row_sums]
        second += [
            [(cols**2) @ col_sums, rows @ weights @ cols],
            [rows @ weights @ cols, (rows**2) @ row_sums],
        ]
    mean = first / count
    covariance = second / count - np.outer(mean, mean)
    values, vectors = np.linalg.eigh(covariance)
    axis = vectors[:, int(np.argmax(values))]
    return axis if axis @ np.asarray(forward) >= 0 else -axis


def _fragment_frame(
    mask: np.ndarray, r0: int, c0: int, axis: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """Direction (towards the axis), length and centre of a fragment's smallest rectangle.

    The rectangle encloses the fragment's pixels as unit squares (their corners).
    """
    hull = shapely.MultiPoint(_pixel_corners(mask, r0, c0)).convex_hull
    rectangle = shapely.minimum_rotated_rectangle(hull)
    corners = np.asarray(rectangle.exterior.coords)[:4]
    sides = [corners[1] - corners[0], corners[2] - corners[1]]
    lengths = [float(np.hypot(*s)) for s in sides]
    units = [s / max(n, 1e-12) for s, n in zip(sides, lengths, strict=True)]
    pick = int(np.argmax([abs(u @ axis) for u in units]))
    direction = units[pick] if units[pick] @ axis >= 0 else -units[pick]
    return direction, lengths[pick], corners.mean(axis=0)


def _pixel_corners(mask: np.ndarray, r0: int, c0: int) -> np.ndarray:
    """Corners of the leftmost and rightmost pixel of every row (enough for the hull)."""
    filled = np.flatnonzero(mask.any(axis=1))
    rows = mask[filled]
    left = np.argmax(rows, axis=1) + c0 - 0.5
    right = mask.shape[1] - np.argmax(rows[:, ::-1], axis=1) + c0 - 0.5
    y = filled + float(r0)
    return np.concatenate(
        [
            np.column_stack([left, y - 0.5]),
            np.column_stack([left, y + 0.5]),
            np.column_stack([right, y - 0.5]),
            np.column_stack([right, y + 0.5]),
        ]
    )


def reference_labels(
    shape: tuple[int, int], p0: Point, p1: Point, diameter_px: float, profile: TissueProfile
) -> np.ndarray:
    """The reference label map: 255 off the strip, the profile's label on it."""
    t = strip_fraction(shape, p0, p1)
    inside = strip_mask(shape, p0, p1, diameter_px)
    labels = np.full(shape, IGNORE_LABEL, dtype=np.uint8)
    labels[inside] = profile.labels_at(t[inside])
    return labels
