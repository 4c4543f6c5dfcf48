"""The strip of a tract follows the cohort format's rectangle rule, ends and edges included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bus_seg.errors import RegistrationError
from bus_seg.registration.tract import Tract


def rectangle_rule(shape, x0, y0, x1, y1, half_width_px) -> np.ndarray:
    """Independent statement of the rule: projection parameter t in [0, 1], distance <= D/2."""
    mask = np.zeros(shape, dtype=bool)
    length2 = (x1 - x0) ** 2 + (y1 - y0) ** 2
    for row in range(shape[0]):
        for col in range(shape[1]):
            t = ((col - x0) * (x1 - x0) + (row - y0) * (y1 - y0)) / length2
            cross = (col - x0) * (y1 - y0) - (row - y0) * (x1 - x0)
            distance = abs(cross) / math.sqrt(length2)
            mask[row, col] = -1e-9 <= t <= 1 + 1e-9 and distance <= half_width_px + 1e-9
    return mask


@pytest.mark.parametrize(
    "points",
    [
        (5.3, 6.1, 40.7, 30.2),  # down-right
        (40.2, 5.5, 8.9, 33.3),  # down-left
        (38.0, 35.5, 4.4, 7.7),  # up-left
        (6.6, 36.1, 41.0, 3.2),  # up-right
        (22.0, 2.0, 22.0, 37.0),  # vertical, integer ends
        (3.0, 20.0, 44.0, 20.0),  # horizontal, integer ends
        (10.0, 10.0, 30.0, 30.0),  # exact diagonal
    ],
)
def test_strip_mask_is_the_rectangle_rule(points: tuple[float, float, float, float]) -> None:
    shape = (40, 48)
    tract = Tract(*points, spacing_mm=0.2, diameter_mm=1.6)
    expected = rectangle_rule(shape, *points, half_width_px=4.0)
    np.testing.assert_array_equal(tract.strip_mask(shape), expected)


def test_pixels_exactly_on_the_ends_and_edges_are_included() -> None:
    tract = Tract(2.0, 10.0, 12.0, 10.0, spacing_mm=0.1, diameter_mm=0.8)  # half width 4 px
    mask = tract.strip_mask((21, 16))
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max()) == (6, 14)  # distance 4 px included
    assert (cols.min(), cols.max()) == (2, 12)  # both ends included
    assert mask.sum() == 9 * 11


def test_tract_coordinates_along_and_across() -> None:
    tract = Tract(0.0, 0.0, 3.0, 4.0, spacing_mm=0.5, diameter_mm=1.0)
    along, across = tract.coordinates((5, 5))
    assert along[4, 3] == pytest.approx(5.0)
    assert across[4, 3] == pytest.approx(0.0)
    assert across[0, 4] == pytest.approx(np.array([4, 0]) @ tract.normal)
    assert tract.length_mm == pytest.approx(2.5)
    assert tract.half_width_px == pytest.approx(1.0)


@pytest.mark.parametrize("point", [(-0.6, 5.0), (5.0, 19.6), (20.0, 3.0), (float("nan"), 2.0)])
def test_tract_points_outside_the_image_are_refused(point: tuple[float, float]) -> None:
    tract = Tract(5.0, 5.0, *point, spacing_mm=0.1, diameter_mm=0.2)
    with pytest.raises(RegistrationError, match="outside|not a number"):
        tract.check_inside((20, 20))


def test_tract_ends_on_the_image_border_are_accepted() -> None:
    Tract(-0.5, -0.5, 19.5, 19.5, spacing_mm=0.1, diameter_mm=0.2).check_inside((20, 20))


def test_tract_shorter_than_the_core_diameter_is_refused() -> None:
    with pytest.raises(RegistrationError, match="shorter than the core diameter 1.6 mm"):
        Tract(0, 0, 10, 0, spacing_mm=0.1, diameter_mm=1.6).check_length()
    Tract(0, 0, 16, 0, spacing_mm=0.1, diameter_mm=1.6).check_length()
