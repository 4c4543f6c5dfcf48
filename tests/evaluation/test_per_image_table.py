"""Per-image table and pooled reductions against small hand-computed golden cases."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import torch

from bus_seg.errors import InputError
from bus_seg.evaluation.callback import score_test_samples
from bus_seg.evaluation.per_image import per_image_table
from bus_seg.evaluation.summaries import (
    confusion_counts,
    count_metrics,
    headline_metrics,
    normalize_rows,
    per_image_summary,
)
from bus_seg.training.eval_sample import EvalSample
from bus_seg.training.metrics import SegmentationMetrics

I = 255  # noqa: E741  (ignore label, short for readable grids)


def sample(image_id: str, target: list[list[int]], pred: list[list[int]], **kwargs) -> EvalSample:
    target_array = np.array(target, dtype=np.uint8)
    return EvalSample(
        image_id=image_id,
        patient_id=kwargs.pop("patient_id", "p"),
        image=np.zeros(target_array.shape, np.uint8),
        target=target_array,
        pred=np.array(pred, dtype=np.uint8),
        **kwargs,
    )


MIXED = sample(
    "mixed",
    [[1, 1, 0, I], [1, 0, 0, I], [I, I, I, I]],
    [[1, 0, 1, 1], [1, 1, 0, 1], [0, 0, 0, 1]],
)  # labelled: tp (0,0) (1,0); fn (0,1); fp (0,2) (1,1); tn (1,2); predictions on 255 ignored
EMPTY_TRUTH_EMPTY_PRED = sample("both_empty", [[0, 0, I], [0, 0, I]], [[0, 0, 1], [0, 0, 1]])
EMPTY_TRUTH = sample("no_truth", [[0, 0, I], [0, 0, I]], [[1, 0, 0], [0, 0, 0]])
EMPTY_PRED = sample("no_pred", [[1, 1, I], [0, 0, I]], [[0, 0, 1], [0, 0, 1]])
UNLABELLED = sample("unlabelled", [[I, I], [I, I]], [[1, 0], [0, 0]])


def row(table: pd.DataFrame, image_id: str) -> pd.Series:
    return table.set_index("image_id").loc[image_id]


def test_mixed_image_hand_computed() -> None:
    r = row(per_image_table([MIXED]), "mixed")
    assert (r.tp, r.fp, r.tn, r.fn) == (2, 2, 1, 1)
    assert (r.n_labelled, r.n_ref_cancer, r.n_pred_cancer) == (6, 3, 4)
    assert r.pixel_acc == pytest.approx(3 / 6)
    assert r.dice == pytest.approx(4 / 7)
    assert r.iou == pytest.approx(2 / 5)
    assert r.recall == pytest.approx(2 / 3)
    assert r.precision == pytest.approx(2 / 4)
    assert r.specificity == pytest.approx(1 / 3)


def test_both_empty_scores_perfect_dice_and_undefined_recall() -> None:
    r = row(per_image_table([EMPTY_TRUTH_EMPTY_PRED]), "both_empty")
    assert (r.dice, r.iou, r.pixel_acc, r.specificity) == (1.0, 1.0, 1.0, 1.0)
    assert math.isnan(r.recall) and math.isnan(r.precision) and math.isnan(r.hd95_px)
    assert r.n_pred_cancer == 0  # the predicted pixels on 255 do not count


def test_empty_truth_with_prediction() -> None:
    r = row(per_image_table([EMPTY_TRUTH]), "no_truth")
    assert (r.dice, r.iou, r.precision) == (0.0, 0.0, 0.0)
    assert r.specificity == pytest.approx(3 / 4)
    assert math.isnan(r.recall) and math.isnan(r.hd95_px)


def test_empty_prediction_with_truth() -> None:
    r = row(per_image_table([EMPTY_PRED]), "no_pred")
    assert (r.dice, r.recall, r.specificity) == (0.0, 0.0, 1.0)
    assert math.isnan(r.precision) and math.isnan(r.hd95_px)


def test_image_without_labelled_pixel_is_nan_everywhere() -> None:
    r = row(per_image_table([UNLABELLED]), "unlabelled")
    assert r.n_labelled == 0
    assert all(
        math.isnan(r[m]) for m in ("pixel_acc", "dice", "iou", "recall", "precision", "specificity")
    )


def test_pooled_sums_counts_and_summaries_skip_nan() -> None:
    table = per_image_table([MIXED, EMPTY_TRUTH_EMPTY_PRED, EMPTY_TRUTH, EMPTY_PRED])
    counts = count_metrics(table)
    pooled = headline_metrics(table)
    tp, fp, tn, fn = 2 + 0 + 0 + 0, 2 + 0 + 1 + 0, 1 + 4 + 3 + 2, 1 + 0 + 0 + 2
    assert [counts[f"test/counts/{name}"] for name in ("tp", "fp", "tn", "fn")] == [tp, fp, tn, fn]
    assert pooled["test/dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert pooled["test/pixel_acc"] == pytest.approx((tp + tn) / (tp + fp + tn + fn))
    assert pooled["test/recall"] == pytest.approx(tp / (tp + fn))
    summary = per_image_summary(table)
    assert summary["test/per_image/recall/n"] == 2  # recall undefined without reference cancer
    assert summary["test/per_image/recall/mean"] == pytest.approx((2 / 3 + 0.0) / 2)
    assert summary["test/per_image/dice/n"] == 4
    assert summary["test/per_image/dice/mean"] == pytest.approx((4 / 7 + 1 + 0 + 0) / 4)
    assert summary["test/per_image/dice/median"] == pytest.approx(np.median([4 / 7, 1, 0, 0]))
    assert summary["test/per_image/dice/sd"] == pytest.approx(np.std([4 / 7, 1, 0, 0], ddof=1))


def test_confusion_matrix_rows_are_reference() -> None:
    table = per_image_table([MIXED])
    counts = confusion_counts(table)
    assert counts.to_numpy().tolist() == [[1, 2], [1, 2]]  # [[tn, fp], [fn, tp]]
    normalized = normalize_rows(counts)
    assert normalized.to_numpy() == pytest.approx(np.array([[1 / 3, 2 / 3], [1 / 3, 2 / 3]]))


def test_lesion_scores_use_the_whole_image() -> None:
    lesion = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], np.uint8)
    s = sample("mixed", MIXED.target.tolist(), MIXED.pred.tolist(), lesion_mask=lesion)
    r = row(per_image_table([s, EMPTY_PRED]), "mixed")
    # whole image: pred has 7 positives, lesion 3; overlap (0,0), (1,0)
    assert r.lesion_dice == pytest.approx(2 * 2 / (7 + 3))
    assert r.lesion_recall == pytest.approx(2 / 3)
    assert r.lesion_precision == pytest.approx(2 / 7)
    assert r.n_lesion == 3
    assert math.isnan(row(per_image_table([s, EMPTY_PRED]), "no_pred").lesion_dice)


def test_area_predicted_outside_the_lesion_in_mm2() -> None:
    lesion = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], np.uint8)
    s = sample(
        "mixed", MIXED.target.tolist(), MIXED.pred.tolist(), lesion_mask=lesion, spacing_mm=0.5
    )
    unknown = sample("no_spacing", MIXED.target.tolist(), MIXED.pred.tolist(), lesion_mask=lesion)
    table = per_image_table([s, unknown])
    # predicted cancer outside the lesion: (0,2) (0,3) (1,1) (1,3) (2,3) = 5 pixels of 0.25 mm²
    assert row(table, "mixed").lesion_fp_px == 5
    assert row(table, "mixed").lesion_fp_area_mm2 == pytest.approx(1.25)
    assert math.isnan(row(table, "no_spacing").lesion_fp_area_mm2)
    headline = headline_metrics(table)
    assert headline["test/lesion_fp_area_mm2"] == pytest.approx(1.25)  # NaN images skipped
    assert headline["test/lesion_dice"] == pytest.approx(2 * 2 / (7 + 3))
    assert headline["test/lesion_precision"] == pytest.approx(2 / 7)


def test_no_labelled_pixel_has_one_value_in_logged_metric_and_table() -> None:
    """An image without labelled pixel is NaN (left out) in the table, in the metric logged during
    validation and in the test scores: the per-image means agree (issue 11)."""
    samples = [MIXED, UNLABELLED]
    table = per_image_table(samples)
    assert math.isnan(row(table, "unlabelled").dice)
    table_mean = headline_metrics(table)["test/per_image_dice"]
    assert table_mean == pytest.approx(4 / 7)  # the mixed image only
    metric = SegmentationMetrics()
    for s in samples:
        metric.update(
            torch.from_numpy(s.pred[None].astype(np.int64)),
            torch.from_numpy(s.target[None].astype(np.int64)),
        )
    logged = metric.compute()
    assert logged["per_image_dice"].item() == pytest.approx(table_mean)
    assert score_test_samples(samples)["per_image_dice"].item() == pytest.approx(table_mean)


def test_hd95_mm_follows_spacing_and_ignores_unlabelled_predictions() -> None:
    target = np.full((20, 30), I, np.uint8)
    target[5:15, :] = 0
    target[8:12, 5:9] = 1
    pred = np.zeros_like(target)
    pred[8:12, 8:12] = 1  # shifted by 3 px along x
    pred[0:3, 0:3] = 1  # outside the labelled strip: not part of the predicted region
    s = EvalSample("a", "p", np.zeros_like(target), target, pred, spacing_mm=0.5)
    r = row(per_image_table([s]), "a")
    assert r.hd95_px == pytest.approx(3.0)
    assert r.hd95_mm == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pred": np.full((2, 3), 2, np.uint8)}, "pred holds values [2]"),
        ({"target": np.full((2, 3), 7, np.uint8)}, "target holds values [7]"),
        ({"pred": np.zeros((3, 3), np.uint8)}, "pred shape"),
    ],
)
def test_bad_samples_are_refused_with_the_image_id(change: dict, message: str) -> None:
    base = {
        "image_id": "bad",
        "patient_id": "p",
        "image": np.zeros((2, 3), np.uint8),
        "target": np.zeros((2, 3), np.uint8),
        "pred": np.zeros((2, 3), np.uint8),
    }
    with pytest.raises(InputError, match=re.escape(message)) as info:
        per_image_table([EvalSample(**{**base, **change})])
    assert "'bad'" in str(info.value)


def test_repeated_image_id_is_refused() -> None:
    with pytest.raises(InputError, match="occurs twice"):
        per_image_table([MIXED, MIXED])
