"""Layout of a biopsy core on its slide: shrinkage, fragments, gaps, bends, rotations, debris and
an optional serial section.

Core coordinates are micrometres of fixed tissue: ``u`` along the core from its proximal end
(0) to its distal end (``length_um``), ``v`` across it (``-width/2`` to ``+width/2``, wavy
edges). A cut at ``u`` splits the core into fragments without losing tissue. Each fragment is
bent by a shear (``v`` shifted by a parabola in ``u``, so its straight cut ends stay
perpendicular to its chord), turned by a small angle and placed along the section's axis with a
gap after the previous one. A section is then turned as a whole and placed on the slide.

The slide frame used here has the proximal end on the left (``u`` growing with ``x``); the
case's ``proximal_end`` turns the rendered arrays at the end. Slide coordinates are
micrometres with the corner origin: the centre of pixel ``(row, col)`` is
``((col + 0.5) * mpp, (row + 0.5) * mpp)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy import ndimage

from bus_seg.simulate.settings import FaultSettings

_EDGE_STEP_UM = 5.0
"""Sampling step of the core's wavy edges along ``u`` (looked up nearest)."""
_MIN_FRAGMENT_UM = 500.0
"""Shortest fragment (an even split is used when random cuts cannot respect it)."""
_SPECK_CLEARANCE_UM = 200.0
"""Least distance between a debris speck and tissue (keeps them separate pieces)."""
_SECTION_GAP_UM = (700.0, 1400.0)
"""Range of the blank space between the two sections of a slide."""


@dataclass(frozen=True)
class CorePiece:
    """One piece of the core.

    Attributes:
        u0: proximal end along the core (µm).
        u1: distal end along the core (µm).
        sagitta_um: lateral shift of the fragment's middle relative to its ends (the bend).
        angle_rad: rotation within the section.
        centre_um: position of the fragment's chord midpoint in the section frame.
    """

    u0: float
    u1: float
    sagitta_um: float
    angle_rad: float
    centre_um: tuple[float, float]

    @property
    def length_um(self) -> float:
        return self.u1 - self.u0

    def _bend(self, xi: np.ndarray) -> np.ndarray | float:
        if self.sagitta_um == 0:
            return 0.0
        return self.sagitta_um * (1.0 - (2.0 * xi / self.length_um) ** 2)

    def to_section(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Core coordinates -> section frame (µm)."""
        xi = u - (self.u0 + self.u1) / 2
        eta = v + self._bend(xi)
        c, s = np.cos(self.angle_rad), np.sin(self.angle_rad)
        return c * xi - s * eta + self.centre_um[0], s * xi + c * eta + self.centre_um[1]

    def core_coordinates(self, xi: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local frame (chord midpoint at 0, chord along ``xi``) -> core coordinates ``(u, v)``."""
        return xi + (self.u0 + self.u1) / 2, eta - self._bend(xi)

    def local_affine(self, section: Section) -> np.ndarray:
        """2×3 matrix taking slide coordinates ``(x, y, 1)`` to the local frame ``(xi, eta)``."""
        angle = self.angle_rad + section.angle_rad
        c, s = np.cos(angle), np.sin(angle)
        inverse = np.array([[c, s], [-s, c]])
        origin = np.asarray(section.to_slide(*self.centre_um))
        return np.column_stack([inverse, -inverse @ origin])


@dataclass(frozen=True)
class Section:
    """One section of the core on the slide: its fragments, turned and placed as a whole."""

    fragments: tuple[CorePiece, ...]
    angle_rad: float
    offset_um: tuple[float, float]

    def to_slide(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = np.cos(self.angle_rad), np.sin(self.angle_rad)
        return c * x - s * y + self.offset_um[0], s * x + c * y + self.offset_um[1]

    @property
    def direction(self) -> tuple[float, float]:
        """Unit vector from the proximal towards the distal end on the slide."""
        return float(np.cos(self.angle_rad)), float(np.sin(self.angle_rad))


@dataclass(frozen=True)
class Speck:
    """A debris speck: an irregular ellipse."""

    centre_um: tuple[float, float]
    radii_um: tuple[float, float]
    angle_rad: float
    wobble: tuple[float, ...]
    """Relative radius amplitudes of harmonics 2, 3, 4 and their phases."""

    def polygon(self) -> shapely.Polygon:
        theta = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        a2, a3, a4, f2, f3, f4 = self.wobble
        scale = (
            1
            + a2 * np.cos(2 * theta + f2)
            + a3 * np.cos(3 * theta + f3)
            + a4 * np.cos(4 * theta + f4)
        )
        x = self.radii_um[0] * scale * np.cos(theta)
        y = self.radii_um[1] * scale * np.sin(theta)
        c, s = np.cos(self.angle_rad), np.sin(self.angle_rad)
        return shapely.Polygon(
            np.column_stack([c * x - s * y + self.centre_um[0], s * x + c * y + self.centre_um[1]])
        )


@dataclass(frozen=True, eq=False)
class CoreLayout:
    """A core's tissue and where its pieces lie on the slide (horizontal frame).

    Attributes:
        length_um: length of the fixed core.
        width_um: nominal width of the fixed core.
        shrinkage: shrinkage fraction applied to the in-vivo core.
        edges: relative deviations of the upper and lower edge, sampled every 25 µm of ``u``.
        main: the section that belongs to the case (inside ``wsi_roi``).
        serial: a second section of the same core elsewhere on the slide, or None.
        specks: debris on the slide.
        size_px: ``(height, width)`` of the slide at level 0.
        mpp: µm per level-0 pixel.
    """

    length_um: float
    width_um: float
    shrinkage: float
    edges: np.ndarray
    main: Section
    serial: Section | None
    specks: tuple[Speck, ...]
    size_px: tuple[int, int]
    mpp: float

    def edge_limits(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(v_min, v_max)`` of the tissue at positions ``u``."""
        index = np.clip(np.rint(np.asarray(u) * (1 / _EDGE_STEP_UM)), 0, self.edges.shape[1] - 1)
        half = self.width_um / 2
        v_max = half * (1 + self.edges[0])
        v_min = -half * (1 + self.edges[1])
        index = index.astype(np.intp)
        return v_min[index], v_max[index]

    def fragment_outline(
        self, section: Section, fragment: CorePiece, step_um: float = 20.0
    ) -> shapely.Polygon:
        """The fragment's outline on the slide (µm)."""
        u = np.linspace(fragment.u0, fragment.u1, max(int(fragment.length_um / step_um), 2) + 1)
        v_min, v_max = self.edge_limits(u)
        us = np.concatenate([u, u[::-1]])
        vs = np.concatenate([v_max, v_min[::-1]])
        x, y = section.to_slide(*fragment.to_section(us, vs))
        return shapely.Polygon(np.column_stack([x, y]))

    def sections(self) -> list[tuple[int, Section]]:
        """``(section number, section)``: 1 for the main section, 2 for the serial one."""
        out = [(1, self.main)]
        if self.serial is not None:
            out.append((2, self.serial))
        return out


def build_layout(
    segment_length_mm: float,
    diameter_mm: float,
    faults: FaultSettings,
    mpp: float,
    margin_mm: float,
    rng: np.random.Generator,
    size_multiple: int = 64,
) -> CoreLayout:
    """Draw a core's shrinkage, fragmentation, placement, debris and serial section.

    Args:
        segment_length_mm: length of the sampled segment (the core in vivo).
        diameter_mm: core diameter in vivo.
        faults: ranges of every fault.
        mpp: µm per level-0 pixel of the slide.
        margin_mm: blank slide around the tissue.
        rng: generator of every choice.
        size_multiple: the slide's pixel size is rounded up to a multiple of this (so that
            every pyramid level halves or quarters it exactly).
    """
    shrinkage = rng.uniform(*faults.shrinkage)
    length = segment_length_mm * 1000.0 * (1 - shrinkage)
    width = diameter_mm * 1000.0 * (1 - shrinkage)
    cuts = _cuts(length, int(rng.integers(faults.fragments[0], faults.fragments[1] + 1)), rng)
    samples = int(np.ceil(length / _EDGE_STEP_UM)) + 2
    edges = np.stack([_edge_wave(samples, faults.edge_roughness, rng) for _ in range(2)])

    layout = CoreLayout(
        length, width, shrinkage, edges, Section((), 0.0, (0.0, 0.0)), None, (), (0, 0), mpp
    )
    fragments = _place_fragments(layout, cuts, faults, rng)
    main = Section(fragments, np.deg2rad(rng.uniform(-1, 1) * faults.core_rotation_deg), (0.0, 0.0))
    serial = None
    if rng.random() < faults.serial_section_probability:
        jittered = tuple(
            CorePiece(
                f.u0,
                f.u1,
                f.sagitta_um,
                f.angle_rad + np.deg2rad(rng.uniform(-0.5, 0.5)),
                (f.centre_um[0] + rng.uniform(-20, 20), f.centre_um[1] + rng.uniform(-20, 20)),
            )
            for f in fragments
        )
        serial = Section(jittered, main.angle_rad + np.deg2rad(rng.uniform(-2, 2)), (0.0, 0.0))

    # Stack the sections (main on top or below), then add the margin and debris.
    placed: list[Section] = []
    top = 0.0
    order = [main] if serial is None else ([main, serial] if rng.random() < 0.5 else [serial, main])
    for number, section in enumerate(order):
        bounds = _bounds(layout, section)
        if number:
            top += rng.uniform(*_SECTION_GAP_UM)
        shift_x = rng.uniform(-300, 300) if number else 0.0
        placed.append(
            Section(
                section.fragments,
                section.angle_rad,
                (shift_x - (bounds[0] + bounds[2]) / 2, top - bounds[1]),
            )
        )
        top += bounds[3] - bounds[1]
    main_placed = placed[order.index(main)]
    serial_placed = placed[order.index(serial)] if serial is not None else None
    layout = _replace(layout, main=main_placed, serial=serial_placed)

    tissue = shapely.union_all(
        [layout.fragment_outline(s, f) for _, s in layout.sections() for f in s.fragments]
    )
    xmin, ymin, xmax, ymax = tissue.bounds
    margin = margin_mm * 1000.0
    step = size_multiple * mpp
    width_px = int(np.ceil((xmax - xmin + 2 * margin) / step)) * size_multiple
    height_px = int(np.ceil((ymax - ymin + 2 * margin) / step)) * size_multiple
    shift = (
        (width_px * mpp - (xmax - xmin)) / 2 - xmin,
        (height_px * mpp - (ymax - ymin)) / 2 - ymin,
    )
    moved = [
        Section(s.fragments, s.angle_rad, (s.offset_um[0] + shift[0], s.offset_um[1] + shift[1]))
        for s in (main_placed, serial_placed)
        if s is not None
    ]
    layout = _replace(
        layout,
        main=moved[0],
        serial=moved[1] if len(moved) > 1 else None,
        size_px=(height_px, width_px),
    )
    count = int(rng.integers(faults.debris[0], faults.debris[1] + 1))
    specks = _specks(layout, count, faults.debris_area_mm2, rng)
    return _replace(layout, specks=specks)


def _replace(layout: CoreLayout, **changes) -> CoreLayout:
    values = {name: getattr(layout, name) for name in CoreLayout.__dataclass_fields__}
    values.update(changes)
    return CoreLayout(**values)


def _cuts(length: float, pieces: int, rng: np.random.Generator) -> np.ndarray:
    """Fragment boundaries ``[0, c1, ..., length]`` with no piece shorter than the minimum."""
    pieces = max(1, min(pieces, int(length // _MIN_FRAGMENT_UM)))
    for _ in range(100):
        inner = np.sort(rng.uniform(0, length, pieces - 1))
        bounds = np.concatenate([[0.0], inner, [length]])
        if np.all(np.diff(bounds) >= _MIN_FRAGMENT_UM):
            return bounds
    even = np.linspace(0.0, length, pieces + 1)
    jitter = rng.uniform(-0.2, 0.2, pieces - 1) * (length / pieces - _MIN_FRAGMENT_UM)
    even[1:-1] += jitter
    return even


def _edge_wave(samples: int, roughness: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth relative deviation of an edge (correlated over about 0.3 mm)."""
    if roughness == 0:
        return np.zeros(samples)
    pad = int(600 / _EDGE_STEP_UM)
    noise = ndimage.gaussian_filter1d(
        rng.standard_normal(samples + 2 * pad), 150.0 / _EDGE_STEP_UM
    )[pad:-pad]
    noise /= max(float(noise.std()), 1e-9)
    return roughness * np.clip(noise, -2.5, 2.5)


def _place_fragments(
    layout: CoreLayout, cuts: np.ndarray, faults: FaultSettings, rng: np.random.Generator
) -> tuple[CorePiece, ...]:
    """Lay the fragments out along the section's x axis, each gap at least its drawn size."""
    fragments: list[CorePiece] = []
    previous: shapely.Polygon | None = None
    probe = Section((), 0.0, (0.0, 0.0))
    x_end = 0.0
    for u0, u1 in zip(cuts[:-1], cuts[1:], strict=True):
        length = u1 - u0
        angle = np.deg2rad(rng.uniform(-1, 1) * faults.fragment_rotation_deg)
        bend = np.deg2rad(rng.uniform(*faults.bend_deg)) * rng.choice([-1.0, 1.0])
        sagitta = length * bend / 8.0
        lateral = rng.uniform(-1, 1) * faults.lateral_offset_mm * 1000.0
        gap = rng.uniform(*faults.gap_mm) * 1000.0 if fragments else 0.0
        centre_x = x_end + gap + length / 2
        for _ in range(20):
            fragment = CorePiece(u0, u1, sagitta, angle, (centre_x, lateral))
            outline = layout.fragment_outline(probe, fragment)
            if previous is None:
                break
            shortfall = gap - outline.distance(previous)
            if shortfall <= 1.0:
                break
            centre_x += shortfall
        fragments.append(fragment)
        previous = outline
        x_end = outline.bounds[2]
    return tuple(fragments)


def _bounds(layout: CoreLayout, section: Section) -> tuple[float, float, float, float]:
    outlines = [layout.fragment_outline(section, f) for f in section.fragments]
    return shapely.union_all(outlines).bounds


def _specks(
    layout: CoreLayout, count: int, area_mm2: tuple[float, float], rng: np.random.Generator
) -> tuple[Speck, ...]:
    """Debris specks anywhere on the slide, clear of tissue and of each other."""
    height, width = layout.size_px[0] * layout.mpp, layout.size_px[1] * layout.mpp
    obstacles = [layout.fragment_outline(s, f) for _, s in layout.sections() for f in s.fragments]
    specks: list[Speck] = []
    for _ in range(count):
        area = rng.uniform(*area_mm2) * 1e6
        aspect = rng.uniform(1.0, 2.2)
        radii = (np.sqrt(area * aspect / np.pi), np.sqrt(area / (aspect * np.pi)))
        wobble = (*rng.uniform(0, 0.12, 3), *rng.uniform(0, 2 * np.pi, 3))
        for _ in range(50):
            reach = radii[0] * 1.4
            centre = (rng.uniform(reach, width - reach), rng.uniform(reach, height - reach))
            speck = Speck(centre, radii, rng.uniform(0, np.pi), tuple(wobble))
            polygon = speck.polygon()
            if all(polygon.distance(o) >= _SPECK_CLEARANCE_UM for o in obstacles):
                specks.append(speck)
                obstacles.append(polygon)
                break
    return tuple(specks)
