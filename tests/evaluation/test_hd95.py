"""95th-percentile Hausdorff distance on hand cases and against a brute-force reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import hausdorff_distance

from bus_seg.evaluation.distances import hd95, region_boundary


def square(shape: tuple[int, int], top: int, left: int, size: int) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + size, left : left + size] = True
    return mask


def brute_force_hd95(a: np.ndarray, b: np.ndarray) -> float:
    pa, pb = np.argwhere(region_boundary(a)), np.argwhere(region_boundary(b))
    distances = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1))
    return max(np.percentile(distances.min(1), 95), np.percentile(distances.min(0), 95))


@pytest.mark.parametrize("k", [4, 10, 15])
def test_disjoint_squares_shifted_by_k(k: int) -> None:
    # side 3 < k: every boundary pixel's nearest partner is its twin k pixels away or closer,
    # and a full column lies exactly k away, so the 95th percentile is k.
    ref = square((20, 40), 5, 2, 3)
    pred = square((20, 40), 5, 2 + k, 3)
    assert hd95(pred, ref) == pytest.approx(k)


@pytest.mark.parametrize("k", [0, 1, 3])
def test_overlapping_squares_shifted_by_k(k: int) -> None:
    ref = square((30, 40), 8, 8, 12)
    pred = square((30, 40), 8, 8 + k, 12)
    value = hd95(pred, ref)
    assert value == pytest.approx(brute_force_hd95(pred, ref))
    assert value <= hausdorff_distance(pred, ref) == pytest.approx(k)
    if k == 0:
        assert value == 0.0


def test_empty_region_gives_nan() -> None:
    ref = square((10, 10), 2, 2, 3)
    assert math.isnan(hd95(np.zeros_like(ref), ref))
    assert math.isnan(hd95(ref, np.zeros_like(ref)))


def test_irregular_shapes_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((25, 25)) > 0.6
    b = rng.random((25, 25)) > 0.7
    assert hd95(a, b) == pytest.approx(brute_force_hd95(a, b))
