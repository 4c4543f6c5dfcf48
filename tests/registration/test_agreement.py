"""Dice and boundary error along the tract on hand-computed label maps."""

from __future__ import annotations

import numpy as np
import pytest

from bus_seg.registration.agreement import boundary_error_mm, cancer_along_tract, cancer_dice
from bus_seg.registration.tract import Tract

TRACT = Tract(0.0, 2.0, 19.0, 2.0, spacing_mm=0.5, diameter_mm=2.0)  # rows 0-4, columns 0-19


def strip_labels(cancer_columns: range) -> np.ndarray:
    labels = np.full((7, 22), 255, dtype=np.uint8)
    labels[0:5, 0:20] = 0
    labels[0:5, cancer_columns.start : cancer_columns.stop] = 1
    return labels


def test_dice_counts_only_cancer_pixels() -> None:
    a, b = strip_labels(range(5, 10)), strip_labels(range(7, 12))
    assert cancer_dice(a, b) == pytest.approx(2 * 3 / 10)
    assert cancer_dice(strip_labels(range(0, 0)), strip_labels(range(0, 0))) == 1.0
    assert cancer_dice(strip_labels(range(5, 10)), strip_labels(range(0, 0))) == 0.0


def test_cancer_state_along_the_tract() -> None:
    state = cancer_along_tract(strip_labels(range(5, 10)), TRACT)
    assert state.tolist() == [i in range(5, 10) for i in range(20)]


def test_boundary_error_is_the_mean_distance_of_matched_boundaries() -> None:
    reference = strip_labels(range(5, 10))
    shifted = strip_labels(range(7, 11))  # rising boundary 2 px later, falling 1 px later
    assert boundary_error_mm(shifted, reference, TRACT) == pytest.approx((2 + 1 + 2 + 1) / 4 * 0.5)
    assert boundary_error_mm(reference, reference, TRACT) == 0.0


def test_a_missing_boundary_costs_the_tract_length() -> None:
    reference = strip_labels(range(5, 10))
    none = strip_labels(range(0, 0))
    assert boundary_error_mm(none, reference, TRACT) == pytest.approx(TRACT.length_mm)
