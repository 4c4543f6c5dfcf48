"""The per-image table: one row of scores and pixel counts per evaluated image.

Scores come from :mod:`bus_seg.training.metrics` (the cancer class over labelled pixels, 255
dropped), so training, testing and evaluation share one definition and one set of empty-image rules
(:data:`EMPTY_IMAGE_RULES`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from bus_seg.errors import InputError
from bus_seg.evaluation.distances import hd95
from bus_seg.labels import IGNORE_LABEL, LABEL_VALUES
from bus_seg.training.eval_sample import EvalSample
from bus_seg.training.metrics import METRIC_NAMES, scores_from_counts, stat_scores

COUNT_NAMES = ("tp", "fp", "tn", "fn")
LESION_METRIC_NAMES = ("dice", "recall", "precision")

EMPTY_IMAGE_RULES = {
    "scope": "scores use labelled pixels only (label 1 cancer, 0 sampled non-cancer); "
    "255 (not sampled) pixels are left out of every count, score and distance",
    "dice": "1.0 when neither the reference nor the prediction has a cancer pixel",
    "iou": "1.0 when neither the reference nor the prediction has a cancer pixel",
    "recall": "NaN when the reference has no cancer pixel",
    "precision": "NaN when nothing is predicted cancer",
    "specificity": "NaN when the reference has no non-cancer pixel",
    "pixel_acc": "NaN when the image has no labelled pixel",
    "hd95": "95th-percentile symmetric boundary distance between predicted cancer (within "
    "labelled pixels) and reference cancer; NaN when either is empty; hd95_mm is NaN "
    "when the pixel size is unknown",
    "lesion": "lesion_* compare the prediction over the whole image with the full lesion mask "
    "(only pixels outside the image, such as padding to a square, are left out), same rules as "
    "above; lesion_fp_area_mm2 is the area predicted cancer outside the lesion (NaN when the "
    "pixel size is unknown)",
    "no_labelled_pixel": "an image without any labelled pixel scores NaN on every strip metric "
    "(in the logged metrics and in this table alike)",
    "per_image_means": "per-image summaries skip NaN images; per_image/<metric>/n counts the "
    "images used",
    "pooled": "pooled figures sum tp/fp/tn/fn over all labelled test pixels, then take the "
    "ratio with the same rules",
}


def _check_labels(array: np.ndarray, allowed: set[int], what: str, image_id: str) -> None:
    values = set(np.unique(array).tolist())
    if not values <= allowed:
        raise InputError(
            f"image {image_id!r}: {what} holds values {sorted(values - allowed)}; "
            f"only {sorted(allowed)} are allowed (1 cancer, 0 non-cancer, 255 not sampled). "
            "Threshold probabilities and map labels before evaluation."
        )


def validate_samples(samples: Sequence[EvalSample]) -> None:
    """Check ids, shapes and label values of the samples.

    Raises:
        InputError: no sample, a repeated image id, mismatched shapes or unexpected label values.
    """
    if not samples:
        raise InputError("no evaluated image; the test split is empty (check the split settings)")
    seen: set[str] = set()
    for sample in samples:
        image_id = sample.image_id
        if image_id in seen:
            raise InputError(
                f"image id {image_id!r} occurs twice; every test image needs its own id"
            )
        seen.add(image_id)
        shape = sample.target.shape
        if sample.target.ndim != 2:
            raise InputError(f"image {image_id!r}: target must be H×W, got shape {shape}")
        for name in ("image", "pred", "prob", "lesion_mask"):
            array = getattr(sample, name)
            if array is not None and array.shape[:2] != shape:
                raise InputError(
                    f"image {image_id!r}: {name} shape {array.shape} does not match target shape "
                    f"{shape}; evaluate every array at the same resolution"
                )
        _check_labels(sample.target, set(LABEL_VALUES), "target", image_id)
        _check_labels(sample.pred, {0, 1}, "pred", image_id)
        if sample.lesion_mask is not None:
            _check_labels(sample.lesion_mask, set(LABEL_VALUES), "lesion_mask", image_id)


def _scores(counts: torch.Tensor) -> dict[str, np.ndarray]:
    scores = scores_from_counts(*counts.unbind(-1))
    return {name: scores[name].numpy() for name in METRIC_NAMES}


def _counts(pred: np.ndarray, target: np.ndarray) -> torch.Tensor:
    return stat_scores(
        torch.from_numpy(pred.astype(np.uint8)), torch.from_numpy(target.astype(np.uint8))
    )


def per_image_table(samples: Sequence[EvalSample]) -> pd.DataFrame:
    """Scores and counts of every sample, one row per image, in the samples' order.

    Columns: ``image_id``, ``patient_id``, the strip metrics (``pixel_acc``, ``dice``, ``iou``,
    ``recall``, ``precision``, ``specificity``), ``hd95_px`` (and ``hd95_mm`` when any pixel size
    is known), ``n_labelled``, ``n_ref_cancer``, ``n_pred_cancer`` (predicted cancer among labelled
    pixels), ``tp``, ``fp``, ``tn``, ``fn``, ``spacing_mm``; and, when any sample has a lesion
    mask, ``lesion_dice``, ``lesion_recall``, ``lesion_precision``, ``n_lesion``,
    ``lesion_fp_px`` (pixels predicted cancer outside the lesion) and ``lesion_fp_area_mm2`` (that
    area in mm², NaN when the pixel size is unknown).

    Raises:
        InputError: see :func:`validate_samples`.
    """
    validate_samples(samples)
    counts = torch.stack([_counts(s.pred, s.target) for s in samples])
    table = pd.DataFrame(
        {
            "image_id": [s.image_id for s in samples],
            "patient_id": [s.patient_id for s in samples],
        }
    )
    n_labelled = counts.sum(dim=1).numpy()
    for name, values in _scores(counts).items():
        table[name] = values
    hd95_px = np.array(
        [hd95((s.pred == 1) & (s.target != IGNORE_LABEL), s.target == 1) for s in samples]
    )
    spacing = np.array(
        [np.nan if s.spacing_mm is None else s.spacing_mm for s in samples], dtype=float
    )
    table["hd95_px"] = hd95_px
    if np.isfinite(spacing).any():
        table["hd95_mm"] = hd95_px * spacing
    tp, fp, tn, fn = counts.numpy().T
    table["n_labelled"] = n_labelled
    table["n_ref_cancer"] = tp + fn
    table["n_pred_cancer"] = tp + fp
    for name, values in zip(COUNT_NAMES, (tp, fp, tn, fn), strict=True):
        table[name] = values
    table["spacing_mm"] = spacing
    with_lesion = [s for s in samples if s.lesion_mask is not None]
    if with_lesion:
        lesion = _scores(torch.stack([_counts(s.pred, s.lesion_mask) for s in with_lesion]))
        rows = table["image_id"].isin([s.image_id for s in with_lesion]).to_numpy()
        for name in LESION_METRIC_NAMES:
            table[f"lesion_{name}"] = np.nan
            table.loc[rows, f"lesion_{name}"] = lesion[name]
        table["n_lesion"] = pd.array([pd.NA] * len(table), dtype="Int64")
        table.loc[rows, "n_lesion"] = [int((s.lesion_mask == 1).sum()) for s in with_lesion]
        outside = [int(((s.pred == 1) & (s.lesion_mask == 0)).sum()) for s in with_lesion]
        table["lesion_fp_px"] = pd.array([pd.NA] * len(table), dtype="Int64")
        table.loc[rows, "lesion_fp_px"] = outside
        area = np.array([np.nan if s.spacing_mm is None else s.spacing_mm**2 for s in with_lesion])
        table["lesion_fp_area_mm2"] = np.nan
        table.loc[rows, "lesion_fp_area_mm2"] = np.array(outside, dtype=float) * area
    return table
