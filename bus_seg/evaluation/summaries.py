"""Reductions of the per-image table: pooled pixel metrics, per-image summaries, confusion matrix."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from bus_seg.evaluation.per_image import COUNT_NAMES
from bus_seg.evaluation.statistics import describe
from bus_seg.training.metrics import METRIC_NAMES, scores_from_counts

CLASS_NAMES = ("non-cancer", "cancer")
SUMMARY_STATISTICS = ("mean", "sd", "median", "q1", "q3", "n")
NON_METRIC_COLUMNS = frozenset(
    {
        "image_id",
        "patient_id",
        "spacing_mm",
        "n_labelled",
        "n_ref_cancer",
        "n_pred_cancer",
        "n_lesion",
        *COUNT_NAMES,
    }
)


def pooled_counts(table: pd.DataFrame) -> dict[str, int]:
    """tp, fp, tn, fn summed over every image of the table."""
    return {name: int(table[name].sum()) for name in COUNT_NAMES}


def pooled_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Ratios of the summed confusion matrix: ``pooled/<metric>`` plus ``pooled/<count>``."""
    counts = pooled_counts(table)
    scores = scores_from_counts(*(torch.tensor(counts[name]) for name in COUNT_NAMES))
    result = {f"pooled/{name}": float(scores[name]) for name in METRIC_NAMES}
    result.update({f"pooled/{name}": value for name, value in counts.items()})
    result["pooled/n_labelled"] = sum(counts.values())
    return result


def metric_columns(table: pd.DataFrame) -> list[str]:
    """Columns of the per-image table that hold scores (everything but ids and counts)."""
    return [column for column in table.columns if column not in NON_METRIC_COLUMNS]


def per_image_summary(table: pd.DataFrame) -> dict[str, float]:
    """``per_image/<metric>/<statistic>`` for every score column (NaN images skipped)."""
    result: dict[str, float] = {}
    for column in metric_columns(table):
        for statistic, value in describe(table[column].to_numpy(dtype=float)).items():
            result[f"per_image/{column}/{statistic}"] = value
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
