"""Reductions of the per-image table: pooled pixel metrics, per-image summaries, confusion matrix."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from bus_seg.evaluation.per_image import COUNT_NAMES
from bus_seg.evaluation.statistics import describe
from bus_seg.training.metrics import METRIC_NAMES, PER_IMAGE_LOGGED, scores_from_counts

CLASS_NAMES = ("non-cancer", "cancer")
SUMMARY_STATISTICS = ("mean", "sd", "median", "q1", "q3", "n")
HEADLINE_LESION = ("lesion_dice", "lesion_precision", "lesion_recall", "lesion_fp_area_mm2")
NON_METRIC_COLUMNS = frozenset(
    {
        "image_id",
        "patient_id",
        "spacing_mm",
        "n_labelled",
        "n_ref_cancer",
        "n_pred_cancer",
        "n_lesion",
        "lesion_fp_px",
        *COUNT_NAMES,
    }
)


def headline_metrics(table: pd.DataFrame, prefix: str = "test/") -> dict[str, float]:
    """The figures a run is judged by, under the names the test stage logs them with.

    - ``<prefix><metric>``: pooled strip ratios (:data:`~bus_seg.training.metrics.METRIC_NAMES`);
    - ``<prefix>per_image_<metric>``: per-image means of dice, recall and pixel_acc;
    - ``<prefix>lesion_dice``, ``lesion_precision``, ``lesion_recall``, ``lesion_fp_area_mm2``:
      per-image means of the whole-lesion figures, when the images have lesion masks;
    - ``<prefix>hd95_mm`` (or ``hd95_px`` when no pixel size is known): per-image mean.

    Per-image means skip images where the figure is undefined (NaN); an optional figure that no
    image defines is left out.
    """
    result = {f"{prefix}{name}": value for name, value in _pooled_scores(table).items()}
    for name in PER_IMAGE_LOGGED:
        result[f"{prefix}per_image_{name}"] = describe(table[name].to_numpy(dtype=float))["mean"]
    optional = [*HEADLINE_LESION, "hd95_mm" if "hd95_mm" in table.columns else "hd95_px"]
    for column in optional:
        if column in table.columns:
            mean = describe(table[column].to_numpy(dtype=float))["mean"]
            if not math.isnan(mean):
                result[f"{prefix}{column}"] = mean
    return result


def _pooled_scores(table: pd.DataFrame) -> dict[str, float]:
    counts = pooled_counts(table)
    scores = scores_from_counts(*(torch.tensor(counts[name]) for name in COUNT_NAMES))
    return {name: float(scores[name]) for name in METRIC_NAMES}


def pooled_counts(table: pd.DataFrame) -> dict[str, int]:
    """tp, fp, tn, fn summed over every image of the table."""
    return {name: int(table[name].sum()) for name in COUNT_NAMES}


def count_metrics(table: pd.DataFrame, prefix: str = "test/") -> dict[str, int]:
    """Pixel counts of the summed confusion matrix: ``<prefix>counts/<tp|fp|tn|fn|n_labelled>``."""
    counts = pooled_counts(table)
    result = {f"{prefix}counts/{name}": value for name, value in counts.items()}
    result[f"{prefix}counts/n_labelled"] = sum(counts.values())
    return result


def metric_columns(table: pd.DataFrame) -> list[str]:
    """Columns of the per-image table that hold scores (everything but ids and counts)."""
    return [column for column in table.columns if column not in NON_METRIC_COLUMNS]


def per_image_summary(table: pd.DataFrame, prefix: str = "test/") -> dict[str, float]:
    """``<prefix>per_image/<metric>/<statistic>`` for every score column (NaN images skipped)."""
    result: dict[str, float] = {}
    for column in metric_columns(table):
        for statistic, value in describe(table[column].to_numpy(dtype=float)).items():
            result[f"{prefix}per_image/{column}/{statistic}"] = value
    return result


def confusion_counts(table: pd.DataFrame) -> pd.DataFrame:
    """2×2 pixel confusion matrix: rows = reference, columns = prediction (non-cancer, cancer)."""
    counts = pooled_counts(table)
    matrix = np.array([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]], dtype=np.int64)
    return pd.DataFrame(
        matrix,
        index=pd.Index([f"reference {name}" for name in CLASS_NAMES], name="reference"),
        columns=[f"predicted {name}" for name in CLASS_NAMES],
    )


def normalize_rows(confusion: pd.DataFrame) -> pd.DataFrame:
    """Row-normalised confusion matrix: each reference class sums to 1 (NaN for an empty class)."""
    totals = confusion.sum(axis=1).to_numpy(dtype=float)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(totals > 0, confusion.to_numpy(dtype=float) / totals, math.nan)
    return pd.DataFrame(values, index=confusion.index, columns=confusion.columns)
