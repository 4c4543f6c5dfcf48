"""Rasters of a core's slide at level 0: which piece covers each pixel, and where it is cancer.

Each tissue pixel is traced back to its core coordinates ``(u, v)`` and from there to the point
of the ultrasound image it came from: ``u / length`` of the way along the sampled segment and
``v / width`` of the core's diameter across it. The lesion field at that point decides cancer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from bus_seg.simulate.core import CoreLayout
from bus_seg.simulate.lesion_field import LesionField
from bus_seg.simulate.strip import normal

BACKGROUND, MAIN, SERIAL, DEBRIS = 0, 1, 2, 3
"""Values of :attr:`SlideRasters.section`."""


@dataclass(frozen=True)
class CoreToUltrasound:
    """Where a point of the core was in the ultrasound image.

    Attributes:
        p0: proximal end of the sampled segment (pixels).
        p1: distal end of the sampled segment.
        diameter_px: the core's diameter in ultrasound pixels.
        length_um: length of the fixed core.
        width_um: width of the fixed core.
    """

    p0: tuple[float, float]
    p1: tuple[float, float]
    diameter_px: float
    length_um: float
    width_um: float

    def __call__(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ultrasound pixel coordinates ``(x, y)`` of core points ``(u, v)``."""
        along = u / self.length_um
        across = v / self.width_um * self.diameter_px
        n = normal(self.p0, self.p1)
        x = self.p0[0] + along * (self.p1[0] - self.p0[0]) + across * n[0]
        y = self.p0[1] + along * (self.p1[1] - self.p0[1]) + across * n[1]
        return x, y


@dataclass(frozen=True)
class Piece:
    """A separate piece of tissue on the slide: a fragment of a section, or a debris speck.

    Attributes:
        section: :data:`MAIN`, :data:`SERIAL` or :data:`DEBRIS`.
        index: fragment number (1 = most proximal) or speck number (from 1).
        box: ``(row0, row1, col0, col1)`` bounding its pixels.
    """

    section: int
    index: int
    box: tuple[int, int, int, int]

    def mask(self, rasters: SlideRasters) -> np.ndarray:
        """Boolean mask of the piece's pixels within its box."""
        r0, r1, c0, c1 = self.box
        return (rasters.section[r0:r1, c0:c1] == self.section) & (
            rasters.fragment[r0:r1, c0:c1] == self.index
        )


@dataclass(frozen=True, eq=False)
class SlideRasters:
    """Level-0 rasters of a slide in the horizontal frame (proximal end on the left).

    Attributes:
        section: uint8, :data:`BACKGROUND`, :data:`MAIN`, :data:`SERIAL` or :data:`DEBRIS`.
        fragment: int16 number of the piece within its section (see :class:`Piece`), 0 on
            background.
        cancer: bool, cancer tissue (only on section pixels).
        pieces: every piece, main-section fragments first (proximal first).
    """

    section: np.ndarray
    fragment: np.ndarray
    cancer: np.ndarray
    pieces: tuple[Piece, ...]

    @property
    def main_pieces(self) -> tuple[Piece, ...]:
        return tuple(p for p in self.pieces if p.section == MAIN)


@dataclass(frozen=True, eq=False)
class CoreLabels:
    """Cancer over the core's ``(u, v)`` plane, sampled on a square grid (nearest lookup)."""

    grid: np.ndarray
    step_um: float
    v_low: float

    @classmethod
    def sample(
        cls, layout: CoreLayout, mapping: CoreToUltrasound, field: LesionField, step_um: float
    ) -> CoreLabels:
        u = np.arange(0.0, layout.length_um + step_um, step_um)
        v_min, v_max = layout.edge_limits(u)
        v = np.arange(float(v_min.min()) - step_um, float(v_max.max()) + 2 * step_um, step_um)
        uu, vv = np.meshgrid(u, v)
        return cls(field.contains(*mapping(uu, vv)), step_um, float(v[0]))

    def __call__(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        rows = np.clip(np.rint((v - self.v_low) * (1 / self.step_um)), 0, self.grid.shape[0] - 1)
        cols = np.clip(np.rint(u * (1 / self.step_um)), 0, self.grid.shape[1] - 1)
        return self.grid[rows.astype(np.intp), cols.astype(np.intp)]


def rasterize_slide(
    layout: CoreLayout, mapping: CoreToUltrasound, field: LesionField
) -> SlideRasters:
    """Render the sections (with cancer from the lesion field) and debris of a layout.

    Cancer is looked up in the core's labels sampled every two pixels (nearest), so the
    lesion field is evaluated a few hundred thousand times, not once per pixel.
    """
    height, width = layout.size_px
    mpp = layout.mpp
    labels = CoreLabels.sample(layout, mapping, field, 2 * mpp)
    section_map = np.zeros((height, width), dtype=np.uint8)
    fragment_map = np.zeros((height, width), dtype=np.int16)
    cancer = np.zeros((height, width), dtype=bool)
    pieces: list[Piece] = []
    for number, section in layout.sections():
        for index, fragment in enumerate(section.fragments, start=1):
            xmin, ymin, xmax, ymax = layout.fragment_outline(section, fragment).bounds
            c0, c1 = max(int(xmin / mpp) - 2, 0), min(int(np.ceil(xmax / mpp)) + 2, width)
            r0, r1 = max(int(ymin / mpp) - 2, 0), min(int(np.ceil(ymax / mpp)) + 2, height)
            x = ((np.arange(c0, c1) + 0.5) * mpp).astype(np.float32)
            y = ((np.arange(r0, r1) + 0.5) * mpp).astype(np.float32)
            affine = fragment.local_affine(section).astype(np.float32)
            xi = (affine[0, 0] * x)[None, :] + (affine[0, 1] * y + affine[0, 2])[:, None]
            eta = (affine[1, 0] * x)[None, :] + (affine[1, 1] * y + affine[1, 2])[:, None]
            u, v = fragment.core_coordinates(xi, eta)
            v_min, v_max = layout.edge_limits(u)
            inside = (u >= fragment.u0) & (u <= fragment.u1) & (v >= v_min) & (v <= v_max)
            inside &= section_map[r0:r1, c0:c1] == BACKGROUND
            section_map[r0:r1, c0:c1][inside] = number
            fragment_map[r0:r1, c0:c1][inside] = index
            cancer[r0:r1, c0:c1][inside] = labels(u[inside], v[inside])
            pieces.append(Piece(number, index, _tight_box(inside, r0, c0)))
    for index, speck in enumerate(layout.specks, start=1):
        coords = np.asarray(speck.polygon().exterior.coords) / mpp - 0.5
        c0, r0 = np.floor(coords.min(axis=0)).astype(int) - 1
        c1, r1 = np.ceil(coords.max(axis=0)).astype(int) + 2
        c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, width), min(r1, height)
        canvas = Image.new("L", (c1 - c0, r1 - r0), 0)
        ImageDraw.Draw(canvas).polygon([(x - c0, y - r0) for x, y in coords], fill=1)
        inside = (np.asarray(canvas) > 0) & (section_map[r0:r1, c0:c1] == BACKGROUND)
        if inside.any():
            section_map[r0:r1, c0:c1][inside] = DEBRIS
            fragment_map[r0:r1, c0:c1][inside] = index
            pieces.append(Piece(DEBRIS, index, _tight_box(inside, r0, c0)))
    return SlideRasters(section_map, fragment_map, cancer, tuple(pieces))


def _tight_box(inside: np.ndarray, r0: int, c0: int) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(inside.any(axis=1))
    cols = np.flatnonzero(inside.any(axis=0))
    return r0 + int(rows[0]), r0 + int(rows[-1]) + 1, c0 + int(cols[0]), c0 + int(cols[-1]) + 1


ORIENTATIONS = {"left": 0, "bottom": 1, "right": 2, "top": 3}
"""``np.rot90`` turns (counter-clockwise) that bring the proximal end from the left to an edge."""


def orient(array: np.ndarray, proximal_end: str) -> np.ndarray:
    """Turn a horizontal-frame raster so that the proximal end faces ``proximal_end``."""
    return np.ascontiguousarray(np.rot90(array, ORIENTATIONS[proximal_end], axes=(0, 1)))
