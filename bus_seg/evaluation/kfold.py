"""Aggregate the metrics of k-fold runs: mean ± SD across folds and a Student-t 95% interval.

The interval is clipped to the metric's range: [0, 1] for ratios (Dice, recall, precision, ...),
[0, ∞) for distances and areas (``hd95*``, ``*_mm2``), so that two folds can never give a recall
interval such as [-0.10, 1.66]; the outputs say when an interval was clipped.
"""

from __future__ import annotations

import fnmatch
import math
import numbers
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bus_seg.errors import ConfigError, InputError
from bus_seg.evaluation.report import Report, format_value
from bus_seg.evaluation.run_files import expand_run_paths, read_run_metrics, short_names
from bus_seg.evaluation.statistics import bounded_interval, t_interval
from bus_seg.io.atomic import atomic_path, write_json_atomic

DEFAULT_METRICS = ("test/*",)
# Pixel counts are sums, not scores: averaging them over folds says nothing about performance.
COUNT_PATTERNS = (
    "*/counts/*",
    "pooled/tp",
    "pooled/fp",
    "pooled/tn",
    "pooled/fn",
    "pooled/n_labelled",
)
UNBOUNDED_ABOVE = ("*hd95*", "*_mm2", "*_px", "*loss*")


def metric_range(name: str) -> tuple[float | None, float | None]:
    """The range of a metric's values: [0, ∞) for distances, areas and losses, else [0, 1]."""
    if any(fnmatch.fnmatch(name, pattern) for pattern in UNBOUNDED_ABOVE):
        return 0.0, None
    return 0.0, 1.0


def _selected(names: set[str], pattern: str) -> list[str]:
    """Names matching ``pattern``; a pattern with one ``/`` skips the detail keys below it
    (``test/*`` gives ``test/dice`` but not ``test/per_image/dice/sd``)."""
    depth = pattern.count("/")
    return sorted(n for n in fnmatch.filter(names, pattern) if depth > 1 or n.count("/") <= depth)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def aggregate_folds(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    confidence_level: float = 0.95,
) -> pd.DataFrame:
    """Mean, SD and t-based confidence interval of each metric across fold runs.

    Writes ``kfold.md``, ``kfold.json`` and ``kfold.csv`` into ``out_dir``.

    Args:
        run_dirs: fold run folders, their ``metrics.json`` files, or glob patterns of either
            (e.g. ``multirun/*/*/metrics.json``); see
            :func:`~bus_seg.evaluation.run_files.read_run_metrics` for what is read.
        out_dir: output folder (created when missing).
        metrics: fnmatch patterns of the metric names to aggregate (pixel counts are skipped;
            a pattern with a single ``/`` does not reach the ``test/per_image/...`` details).
        confidence_level: level of the Student-t interval of the mean (df = folds − 1).

    Returns:
        One row per metric: ``n_folds``, ``mean``, ``sd``, ``ci_low``, ``ci_high`` (clipped to
        the metric's range, :func:`metric_range`), ``clipped`` and one column per fold. A metric
        missing or null in some folds uses the folds that have it.

    Raises:
        InputError: no run, a run without ``metrics.json``, or no metric matching ``metrics``.
        ConfigError: ``confidence_level`` outside (0, 1).
    """
    if not 0 < confidence_level < 1:
        raise ConfigError(f"confidence_level must lie in (0, 1), got {confidence_level}")
    paths = expand_run_paths(run_dirs)
    if not paths:
        raise InputError(
            "no fold run given; pass run folders or a glob such as multirun/*/*/metrics.json"
        )
    folds = short_names([path if path.is_dir() else path.parent for path in paths])
    per_fold = {fold: read_run_metrics(path) for fold, path in zip(folds, paths, strict=True)}
    matching = {
        key
        for fold_metrics in per_fold.values()
        for key, value in fold_metrics.items()
        if not any(fnmatch.fnmatch(key, p) for p in COUNT_PATTERNS)
        and (_is_number(value) or value is None)
    }
    names = [name for pattern in metrics for name in _selected(matching, pattern)]
    names = list(dict.fromkeys(names))
    if not names:
        available = sorted({key for fold_metrics in per_fold.values() for key in fold_metrics})
        raise InputError(
            f"no metric matches {list(metrics)}; the runs hold {available[:30]}", paths[0]
        )
    rows = []
    for name in names:
        values = np.array(
            [float(v) if _is_number(v := per_fold[fold].get(name)) else math.nan for fold in folds]
        )
        finite = values[np.isfinite(values)]
        raw = t_interval(finite, confidence_level)
        ci_low, ci_high = bounded_interval(raw, *metric_range(name))
        rows.append(
            {
                "metric": name,
                "n_folds": int(finite.size),
                "mean": float(finite.mean()) if finite.size else math.nan,
                "sd": float(finite.std(ddof=1)) if finite.size > 1 else math.nan,
                "ci_low": ci_low,
                "ci_high": ci_high,
                "clipped": bool((ci_low, ci_high) != raw and np.isfinite(raw).all()),
                **dict(zip(folds, values, strict=True)),
            }
        )
    table = pd.DataFrame(rows).set_index("metric")
    _write_outputs(
        Path(out_dir), table, rows, dict(zip(folds, paths, strict=True)), confidence_level
    )
    return table


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _write_outputs(
    out_dir: Path,
    table: pd.DataFrame,
    rows: list[dict],
    sources: dict[str, Path],
    confidence_level: float,
) -> None:
    level = f"{100 * confidence_level:g}%"
    with atomic_path(out_dir / "kfold.csv") as tmp:
        table.to_csv(tmp)
    json_rows = {
        row["metric"]: {
            "n_folds": row["n_folds"],
            **{key: _json_number(row[key]) for key in ("mean", "sd", "ci_low", "ci_high")},
            "clipped": row["clipped"],
            "folds": {fold: _json_number(row[fold]) for fold in sources},
        }
        for row in rows
    }
    write_json_atomic(
        out_dir / "kfold.json",
        {
            "folds": {fold: str(path) for fold, path in sources.items()},
            "confidence_level": confidence_level,
            "interval": "Student t on the fold values (df = n_folds - 1), clipped to the "
            "metric's range ([0, 1] for ratios, [0, inf) for distances and areas)",
            "metrics": json_rows,
        },
    )
    report = Report(f"K-fold summary ({len(sources)} folds)")
    report.paragraph(
        f"Mean ± SD (ddof 1) across folds and the {level} Student-t interval of the mean, "
        "clipped to the metric's range ([0, 1] for ratios, ≥ 0 for distances and areas; "
        "* marks a clipped interval: too few folds for a t-interval to mean much). "
        "Folds: " + ", ".join(f"{fold} ({path})" for fold, path in sources.items()) + "."
    )
    shown = pd.DataFrame(
        {
            "metric": table.index,
            "mean ± SD": [
                f"{format_value(m)} ± {format_value(s)}"
                for m, s in zip(table["mean"], table["sd"], strict=True)
            ],
            f"{level} CI": [
                f"[{format_value(lo)}, {format_value(hi)}]" + ("*" if clipped else "")
                for lo, hi, clipped in zip(
                    table["ci_low"], table["ci_high"], table["clipped"], strict=True
                )
            ],
            "n folds": table["n_folds"].to_numpy(),
            **{fold: table[fold].to_numpy() for fold in sources},
        }
    )
    report.table(shown)
    report.write(out_dir / "kfold.md")
