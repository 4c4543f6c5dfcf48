"""Evaluate one run's test predictions: per-image table, pooled metrics, figures and report."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bus_seg.evaluation.figures import plot_confusion
from bus_seg.evaluation.overlays import OverlayRenderer
from bus_seg.evaluation.per_image import EMPTY_IMAGE_RULES, per_image_table
from bus_seg.evaluation.report import Report, format_value
from bus_seg.evaluation.samples import EvalSample
from bus_seg.evaluation.summaries import (
    SUMMARY_STATISTICS,
    confusion_counts,
    metric_columns,
    normalize_rows,
    per_image_summary,
    pooled_metrics,
)
from bus_seg.io.atomic import atomic_path, write_json_atomic
from bus_seg.training.metrics import METRIC_NAMES

GALLERY_SIZE = 12

JsonScalar = float | int | str | None


@dataclass
class EvaluationResult:
    """What :func:`write_evaluation` computed and wrote.

    Attributes:
        metrics: flat JSON-able figures (``pooled/<metric>``, ``per_image/<metric>/<statistic>``,
            ``rules/<name>``, ``run_name``, ``n_images``, ``n_patients``); NaN is stored as None.
        per_image: the per-image table, sorted by image id.
        paths: output name -> file (``per_image``, ``metrics``, ``confusion_counts``,
            ``confusion_normalized``, ``confusion_png``, ``report_md``, ``report_html``,
            ``overlay/<image_id>``).
        samples: the evaluated samples, sorted by image id (used to log masks to W&B).
    """

    metrics: dict[str, JsonScalar]
    per_image: pd.DataFrame
    paths: dict[str, Path]
    samples: tuple[EvalSample, ...] = field(default=(), repr=False)


def _json_scalar(value: object) -> JsonScalar:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value  # type: ignore[return-value]


def _flatten(mapping: Mapping, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def overlay_file_name(image_id: str) -> str:
    """File name of an image's overlay: the id with characters unsafe in paths replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(image_id)) + ".png"


def _write_csv(frame: pd.DataFrame, path: Path, index: bool = False) -> Path:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=index)
    return path


def _summary_table(metrics: Mapping[str, JsonScalar], table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for column in metric_columns(table):
        pooled = metrics.get(f"pooled/{column}") if column in METRIC_NAMES else None
        stats = {name: metrics[f"per_image/{column}/{name}"] for name in SUMMARY_STATISTICS}
        rows.append(
            {"metric": column, "pooled": pooled, **{f"per-image {k}": v for k, v in stats.items()}}
        )
    return pd.DataFrame(rows).rename(columns={"per-image n": "n images"})


def _report(
    run_name: str,
    metrics: Mapping[str, JsonScalar],
    table: pd.DataFrame,
    confusion: pd.DataFrame,
    config_summary: Mapping | None,
    overlays: Sequence[tuple[str, str, float]],
) -> Report:
    report = Report(f"Evaluation: {run_name}")
    report.paragraph(
        f"{metrics['n_images']} test images from {metrics['n_patients']} patients; "
        f"{format_value(metrics['pooled/n_labelled'])} labelled pixels "
        "(1 cancer, 0 sampled non-cancer; 255 not sampled is ignored). "
        "Per-image scores: per_image.csv; all figures: metrics.json."
    )
    if config_summary:
        report.heading("Configuration")
        flat = _flatten(config_summary)
        report.table(pd.DataFrame({"setting": list(flat), "value": list(flat.values())}))
    report.heading("Metrics")
    report.paragraph(
        "pooled: one ratio over the summed confusion matrix of all labelled test pixels; "
        "per-image: the ratio per image, summarised over the images where it is defined (n images)."
    )
    report.table(_summary_table(metrics, table))
    report.heading("Pixel confusion matrix (labelled pixels, pooled)")
    report.table(confusion.reset_index())
    report.images(["confusion.png"], ["Pixel confusion matrix: counts and % of each reference row"])
    report.heading("Empty-image rules")
    report.bullets(f"{name}: {rule}" for name, rule in EMPTY_IMAGE_RULES.items())
    if overlays:
        report.heading("Overlays")
        report.paragraph(
            "Predicted cancer (vermillion fill), reference cancer (sky-blue outline), reference "
            "non-cancer (green tint), sampled strip (yellow dashed); the whole-lesion panel, when "
            "present, outlines the full lesion in reddish purple."
        )
        shown = overlays[:GALLERY_SIZE]
        report.images(
            [path for _, path, _ in shown],
            [f"{image_id}: strip Dice {format_value(dice, 3)}" for image_id, _, dice in shown],
        )
        if len(overlays) > len(shown):
            report.paragraph(f"{len(overlays) - len(shown)} more overlays in overlays/.")
    return report


def write_evaluation(
    samples: Sequence[EvalSample],
    out_dir: str | Path,
    *,
    run_name: str = "run",
    config_summary: Mapping | None = None,
    max_overlays: int | None = None,
) -> EvaluationResult:
    """Score test predictions and write the tables, figures and report of one run.

    Writes into ``out_dir`` (each file atomically): ``per_image.csv``, ``metrics.json``,
    ``confusion_counts.csv``, ``confusion_normalized.csv``, ``confusion.png``,
    ``overlays/<image_id>.png``, ``report.md`` and ``report.html``.

    Args:
        samples: one record per test image.
        out_dir: output folder (created when missing).
        run_name: name shown in the report and stored in ``metrics.json``.
        config_summary: settings shown in the report (nested mappings are flattened).
        max_overlays: draw at most this many overlays (the first by image id); None draws all,
            0 none.

    Returns:
        The :class:`EvaluationResult`.

    Raises:
        InputError: no sample, repeated image ids, mismatched shapes or unexpected label values.
    """
    out_dir = Path(out_dir)
    ordered = tuple(sorted(samples, key=lambda sample: sample.image_id))
    table = per_image_table(ordered)
    metrics: dict[str, JsonScalar] = {
        "run_name": run_name,
        "n_images": len(table),
        "n_patients": int(table["patient_id"].nunique()),
        **pooled_metrics(table),
        **per_image_summary(table),
        **{f"rules/{name}": rule for name, rule in EMPTY_IMAGE_RULES.items()},
    }
    metrics = {key: _json_scalar(value) for key, value in metrics.items()}
    paths = {"per_image": _write_csv(table, out_dir / "per_image.csv")}
    confusion = confusion_counts(table)
    normalized = normalize_rows(confusion)
    paths["confusion_counts"] = _write_csv(confusion, out_dir / "confusion_counts.csv", index=True)
    paths["confusion_normalized"] = _write_csv(
        normalized, out_dir / "confusion_normalized.csv", index=True
    )
    paths["confusion_png"] = plot_confusion(
        confusion,
        normalized,
        out_dir / "confusion.png",
        title=f"{run_name}: pixel confusion ({len(table)} images, labelled pixels)",
    )
    to_draw = ordered if max_overlays is None else ordered[: max(0, max_overlays)]
    overlays: list[tuple[str, str, float]] = []
    if to_draw:
        rows = table.set_index("image_id")
        renderer = OverlayRenderer(with_lesion=any(s.lesion_mask is not None for s in to_draw))
        for sample in to_draw:
            row = rows.loc[sample.image_id]
            path = renderer.render(
                sample,
                out_dir / "overlays" / overlay_file_name(sample.image_id),
                dice=float(row["dice"]),
                lesion_dice=float(row.get("lesion_dice", math.nan)),
            )
            paths[f"overlay/{sample.image_id}"] = path
            overlays.append((sample.image_id, f"overlays/{path.name}", float(row["dice"])))
    report = _report(run_name, metrics, table, confusion, config_summary, overlays)
    paths["report_md"], paths["report_html"] = report.write(
        out_dir / "report.md", out_dir / "report.html"
    )
    paths["metrics"] = write_json_atomic(out_dir / "metrics.json", metrics)
    return EvaluationResult(metrics=metrics, per_image=table, paths=paths, samples=ordered)
