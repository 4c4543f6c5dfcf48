"""Choice of an in-plane needle tract through the lesion and of its sampled segment.

The needle enters from one side at a chosen angle below the horizontal and passes through a
random point of the lesion's interior. The sampled segment (the core, proximal end first) lies on that
line, fully inside the image with a margin, and straddles lesion and normal tissue: the lesion
covers a share of it within ``tract.cancer_fraction`` (a position counts as lesion when the
lesion covers at least half the core's width there, as in the profile projection).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from bus_seg.simulate.lesion_field import LesionField
from bus_seg.simulate.settings import GAUGE_DIAMETER_MM, TractSettings

Point = tuple[float, float]

_STEP_PX = 0.5
"""Sampling step along a candidate line."""
_ACROSS = 9
"""Samples across the core's width."""
_DECIMALS = 3
"""Tract coordinates are rounded to this many decimals before anything uses them."""


class SkipCase(Exception):
    """An image cannot give a valid case; the message is the reason in the skip list."""


@dataclass(frozen=True)
class NeedlePass:
    """A needle tract and its sampled segment, in ultrasound pixels.

    Attributes:
        p0: proximal end of the sampled segment ``(x, y)``.
        p1: distal end of the sampled segment.
        entry: where the needle crosses the image border.
        tip: the needle's tip (beyond ``p1``).
        gauge: needle gauge.
        diameter_mm: core diameter.
        angle_deg: angle below the horizontal.
        side: side of entry, ``left`` or ``right``.
        lesion_share: share of the segment where the lesion covers at least half the width.
    """

    p0: Point
    p1: Point
    entry: Point
    tip: Point
    gauge: int
    diameter_mm: float
    angle_deg: float
    side: str
    lesion_share: float

    @property
    def length_px(self) -> float:
        """Length of the sampled segment in pixels."""
        return float(np.hypot(self.p1[0] - self.p0[0], self.p1[1] - self.p0[1]))


def lesion_along(
    field: LesionField,
    origin: np.ndarray,
    direction: np.ndarray,
    positions: np.ndarray,
    diameter_px: float,
) -> np.ndarray:
    """Share of the core's width that is lesion at positions along a line.

    Args:
        field: the lesion field.
        origin: a point of the line ``(x, y)``.
        direction: unit direction of the line.
        positions: distances from ``origin`` along ``direction`` (pixels).
        diameter_px: the core's width.

    Returns:
        Array like ``positions`` of fractions in [0, 1].
    """
    normal = np.array([-direction[1], direction[0]])
    offsets = np.linspace(-diameter_px / 2, diameter_px / 2, _ACROSS)
    centres = origin[None, :] + positions[:, None] * direction[None, :]
    points = centres[:, None, :] + offsets[None, :, None] * normal[None, None, :]
    inside = field.contains(points[..., 0], points[..., 1])
    return inside.mean(axis=1)


def choose_tract(
    mask: np.ndarray,
    field: LesionField,
    spacing_mm: float,
    settings: TractSettings,
    rng: np.random.Generator,
) -> NeedlePass:
    """Draw a needle tract through the lesion whose sampled segment satisfies the settings.

    Args:
        mask: H×W lesion mask (the field at pixel centres).
        field: the lesion as a continuous field.
        spacing_mm: pixel size.
        settings: angle, side, length, margin, lesion-share and gauge ranges.
        rng: generator of every choice.

    Raises:
        SkipCase: no lesion, or no tract satisfies the settings after ``settings.attempts``.
    """
    if not mask.any():
        raise SkipCase("no lesion in the mask")
    height, width = mask.shape
    gauge = int(rng.choice(settings.gauge))
    diameter_mm = GAUGE_DIAMETER_MM[gauge]
    diameter_px = diameter_mm / spacing_mm
    margin_px = settings.margin_mm / spacing_mm
    strip_margin = margin_px + diameter_px / 2
    # Aim at the lesion's interior, as a radiologist would: its inner half (or, for a narrow
    # lesion, the pixels at least half a core's width from its border).
    depth = ndimage.distance_transform_edt(mask)
    aim = depth >= min(diameter_px / 2, 0.5 * float(depth.max()))
    rows, cols = np.nonzero(aim)
    failures: Counter[str] = Counter()
    low_share, high_share = settings.cancer_fraction
    for _ in range(settings.attempts):
        angle = rng.uniform(*settings.angle_deg)
        side = str(rng.choice(settings.entry_sides))
        length = rng.uniform(*settings.segment_length_mm) / spacing_mm
        tip_length = rng.uniform(*settings.tip_length_mm) / spacing_mm
        radians = np.deg2rad(angle)
        direction = np.array([np.cos(radians) * (1 if side == "left" else -1), np.sin(radians)])
        pick = int(rng.integers(len(rows)))
        target = np.array([cols[pick], rows[pick]], dtype=np.float64) + rng.uniform(-0.5, 0.5, 2)
        image_range = _line_range(target, direction, (width, height), 0.0)
        strip_range = _line_range(target, direction, (width, height), strip_margin)
        tip_range = _line_range(target, direction, (width, height), margin_px)
        positions = np.arange(image_range[0], image_range[1] + 1e-9, _STEP_PX)
        share = lesion_along(field, target, direction, positions, diameter_px) >= 0.5
        if not share.any():
            failures["small"] += 1
            continue
        if strip_range is None or tip_range is None or strip_range[1] - strip_range[0] < length:
            failures["room"] += 1
            continue
        window = max(int(round(length / _STEP_PX)), 1)
        cumulative = np.concatenate([[0], np.cumsum(share)])
        starts = np.arange(len(positions) - window)
        shares = (cumulative[starts + window] - cumulative[starts]) / window
        fits = (positions[starts] >= strip_range[0]) & (
            positions[starts] + length <= strip_range[1]
        )
        fits &= positions[starts] + length + tip_length <= tip_range[1]
        good = starts[(shares >= low_share) & (shares <= high_share) & fits]
        if len(good) == 0:
            failures["share" if (fits & (shares > 0)).any() else "room"] += 1
            continue
        start = int(rng.choice(good))
        a = positions[start]
        p0 = _round(target + a * direction)
        p1 = _round(target + (a + length) * direction)
        entry_range = _line_range(np.array(p0), direction, (width, height), 0.0)
        entry = _round(np.array(p0) + entry_range[0] * direction)
        tip = _round(np.array(p1) + tip_length * direction)
        return NeedlePass(
            p0=p0,
            p1=p1,
            entry=entry,
            tip=tip,
            gauge=gauge,
            diameter_mm=diameter_mm,
            angle_deg=float(angle),
            side=side,
            lesion_share=float(shares[start]),
        )
    raise SkipCase(_failure_reason(failures, settings, diameter_mm))


def _line_range(
    point: np.ndarray, direction: np.ndarray, size: tuple[int, int], margin: float
) -> tuple[float, float] | None:
    """Parameter interval of the line ``point + s·direction`` inside the image minus a margin."""
    low, high = -np.inf, np.inf
    for axis in (0, 1):
        lo_bound, hi_bound = margin, size[axis] - 1 - margin
        if hi_bound < lo_bound:
            return None
        if abs(direction[axis]) < 1e-12:
            if not lo_bound <= point[axis] <= hi_bound:
                return None
            continue
        s0 = (lo_bound - point[axis]) / direction[axis]
        s1 = (hi_bound - point[axis]) / direction[axis]
        low, high = max(low, min(s0, s1)), min(high, max(s0, s1))
    return (float(low), float(high)) if low <= high else None


def _round(point: np.ndarray) -> Point:
    return (round(float(point[0]), _DECIMALS), round(float(point[1]), _DECIMALS))


def _failure_reason(failures: Counter[str], settings: TractSettings, diameter_mm: float) -> str:
    kind = failures.most_common(1)[0][0] if failures else "room"
    low, high = settings.segment_length_mm
    if kind == "small":
        return (
            f"lesion too small: no tract through it has the lesion across at least half of a "
            f"{diameter_mm:g} mm core"
        )
    if kind == "share":
        lo, hi = settings.cancer_fraction
        return (
            f"no segment of {low:g}-{high:g} mm through the lesion has a lesion share within "
            f"[{lo:g}, {hi:g}] (lesion too small or too large for the segment)"
        )
    return (
        f"lesion too close to the image border: no segment of {low:g}-{high:g} mm through it "
        f"fits inside the image with a {settings.margin_mm:g} mm margin"
    )
