"""Metrics against small hand-computed golden cases (255 pixels and empty images included)."""

from __future__ import annotations

import math

import pytest
import torch

from bus_seg.training.metrics import SegmentationMetrics, scores_from_counts, stat_scores

I = 255  # noqa: E741  (ignore label, short for readable grids)


def t(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long)


def test_stat_scores_skip_ignored_pixels() -> None:
    pred = t([[1, 1, 0], [0, 1, 0]])
    target = t([[1, 0, I], [1, I, 0]])
    # labelled pixels: (1,1) tp, (1,0) fp, (0,1) fn, (0,0) tn; the two 255 pixels are dropped.
    assert stat_scores(pred, target).tolist() == [1, 1, 1, 1]


def test_scores_hand_computed() -> None:
    s = scores_from_counts(*torch.tensor([3, 1, 4, 2]))
    assert s["pixel_acc"].item() == pytest.approx(7 / 10)
    assert s["dice"].item() == pytest.approx(6 / 9)
    assert s["iou"].item() == pytest.approx(3 / 6)
    assert s["recall"].item() == pytest.approx(3 / 5)
    assert s["precision"].item() == pytest.approx(3 / 4)
    assert s["specificity"].item() == pytest.approx(4 / 5)


def test_empty_image_rules() -> None:
    both_empty = scores_from_counts(*torch.tensor([0, 0, 5, 0]))
    assert both_empty["dice"].item() == 1.0 and both_empty["iou"].item() == 1.0
    assert math.isnan(both_empty["recall"].item())
    assert math.isnan(both_empty["precision"].item())
    missed = scores_from_counts(*torch.tensor([0, 0, 3, 2]))
    assert missed["dice"].item() == 0.0 and missed["recall"].item() == 0.0
    unlabelled = scores_from_counts(*torch.tensor([0, 0, 0, 0]))
    assert math.isnan(unlabelled["pixel_acc"].item())
    assert math.isnan(unlabelled["dice"].item()) and math.isnan(
        unlabelled["iou"].item()
    )  # never 1.0


def test_metric_pools_counts_and_averages_images() -> None:
    metric = SegmentationMetrics()
    pred = torch.stack([t([[1, 1], [0, 0]]), t([[0, 0], [0, 0]])])
    target = torch.stack([t([[1, 0], [0, I]]), t([[0, 0], [I, I]])])
    metric.update(pred, target)
    out = metric.compute()
    # image 1: tp1 fp1 tn1 fn0 -> dice 2/3; image 2: tn2 -> dice 1 (both empty); pooled tp1 fp1 tn3.
    assert out["dice"].item() == pytest.approx(2 / 3)
    assert out["pixel_acc"].item() == pytest.approx(4 / 5)
    assert out["per_image_dice"].item() == pytest.approx((2 / 3 + 1) / 2)
    # recall is undefined on image 2 (no truth cancer) and left out of the per-image mean.
    assert out["per_image_recall"].item() == pytest.approx(1.0)
    assert out["per_image_pixel_acc"].item() == pytest.approx((2 / 3 + 1) / 2)


def test_shape_mismatch_is_clear() -> None:
    with pytest.raises(ValueError, match="shape"):
        stat_scores(torch.zeros(2, 2), torch.zeros(3, 3))
