"""Evaluate one run's test predictions: per-image table, pooled metrics, figures and report."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bus_seg.evaluation.figures import plot_confusion
from bus_seg.evaluation.overlays import OverlayRenderer
from bus_seg.evaluation.per_image import EMPTY_IMAGE_RULES, per_image_table
from bus_seg.evaluation.report import Report, format_value
from bus_seg.evaluation.run_files import flatten_keys
from bus_seg.evaluation.summaries import (
    SUMMARY_STATISTICS,
    confusion_counts,
    count_metrics,
    headline_metrics,
    metric_columns,
    normalize_rows,
    per_image_summary,
)
from bus_seg.io.atomic import atomic_path, write_json_atomic
from bus_seg.metrics_file import json_number, metrics_document
from bus_seg.training.eval_sample import EvalSample
from bus_seg.training.metrics import METRIC_NAMES

GALLERY_SIZE = 12

JsonScalar = float | int | str | None


@dataclass
class EvaluationResult:
    """What :func:`write_evaluation` computed and wrote.

    Attributes:
        metrics: flat JSON-able figures, NaN as None: the headline under the names the test stage
            logs (``test/dice``, ``test/per_image_dice``, ``test/lesion_dice``, ...; see
            :func:`~bus_seg.evaluation.summaries.headline_metrics`), ``test/per_image/<metric>/<statistic>``
            and ``test/counts/<count>``.
        document: the written ``metrics.json`` (:mod:`bus_seg.metrics_file` layout).
        per_image: the per-image table, sorted by image id.
        paths: output name -> file (``per_image``, ``metrics``, ``confusion_counts``,
            ``confusion_normalized``, ``confusion_png``, ``report_md``, ``report_html``,
            ``overlay/<image_id>``).
        samples: the evaluated samples, sorted by image id (used to log masks to W&B).
    """

    metrics: dict[str, JsonScalar]
    document: dict[str, object]
    per_image: pd.DataFrame
    paths: dict[str, Path]
    samples: tuple[EvalSample, ...] = field(default=(), repr=False)


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
        pooled = metrics.get(f"test/{column}") if column in METRIC_NAMES else None
        stats = {name: metrics[f"test/per_image/{column}/{name}"] for name in SUMMARY_STATISTICS}
        rows.append(
            {"metric": column, "pooled": pooled, **{f"per-image {k}": v for k, v in stats.items()}}
        )
    return pd.DataFrame(rows).rename(columns={"per-image n": "n images"})


HEADLINE_ROWS = (
    ("strip Dice (pooled)", "test/dice"),
    ("strip Dice (per-image mean)", "test/per_image_dice"),
    ("whole-lesion Dice (per-image mean)", "test/lesion_dice"),
    ("lesion precision (per-image mean)", "test/lesion_precision"),
    ("lesion recall (per-image mean)", "test/lesion_recall"),
    ("cancer area predicted outside the lesion, mm² (per-image mean)", "test/lesion_fp_area_mm2"),
    ("HD95 on the strip, mm (per-image mean)", "test/hd95_mm"),
)


HEADLINE_SHORT = (
    ("strip Dice", "test/dice"),
    ("whole-lesion Dice", "test/lesion_dice"),
    ("lesion precision", "test/lesion_precision"),
    ("predicted outside the lesion (mm²)", "test/lesion_fp_area_mm2"),
)


def headline_text(metrics: Mapping[str, object]) -> str:
    """One line with the strip and whole-lesion figures side by side (those that exist)."""
    return " | ".join(
        f"{label} {format_value(metrics[key], 3)}"
        for label, key in HEADLINE_SHORT
        if key in metrics
    )


def overlay_caption(image_id: str | None, row: Mapping[str, object]) -> str:
    """Caption of an image's overlay: strip Dice, and the whole-lesion figures when known
    (prefixed with ``image_id: `` unless it is None)."""
    parts = [f"strip Dice {format_value(row.get('dice'), 3)}"]
    if (
        "lesion_dice" in row
        and row.get("n_lesion") is not pd.NA
        and row.get("n_lesion") is not None
    ):
        parts.append(f"whole-lesion Dice {format_value(row.get('lesion_dice'), 3)}")
        parts.append(f"lesion precision {format_value(row.get('lesion_precision'), 3)}")
        area = row.get("lesion_fp_area_mm2")
        if isinstance(area, float) and not math.isnan(area):
            parts.append(f"predicted outside the lesion {area:.1f} mm²")
    text = ", ".join(parts)
    return text if image_id is None else f"{image_id}: {text}"


def _report(
    run_name: str,
    metrics: Mapping[str, JsonScalar],
    table: pd.DataFrame,
    confusion: pd.DataFrame,
    config_summary: Mapping | None,
    overlays: Sequence[tuple[str, str]],
    context: Mapping[str, str],
) -> Report:
    report = Report(f"Evaluation: {run_name}")
    report.paragraph(
        f"{len(table)} test images from {table['patient_id'].nunique()} patients, scored at "
        f"{context['resolution']}; {context['checkpoint']}. "
        f"{format_value(metrics['test/counts/n_labelled'])} labelled pixels "
        "(1 cancer, 0 sampled non-cancer; 255 not sampled is ignored). "
        "Per-image scores: per_image.csv; all figures: metrics.json."
    )
    report.heading("Headline")
    report.table(
        pd.DataFrame(
            [
                {"figure": label, "value": metrics[key], "metrics.json key": key}
                for label, key in HEADLINE_ROWS
                if key in metrics
            ]
        )
    )
    if "test/lesion_dice" not in metrics:
        report.paragraph(
            "No lesion masks: whole-lesion figures need the cohort's lesion_mask_path."
        )
    if config_summary:
        report.heading("Configuration")
        flat = {k: str(v) for k, v in flatten_keys(config_summary, separator=".").items()}
        report.table(pd.DataFrame({"setting": list(flat), "value": list(flat.values())}))
    report.heading("Metrics")
    report.paragraph(
        "pooled: one ratio over the summed confusion matrix of all labelled test pixels; "
        "per-image: the ratio per image, summarised over the images where it is defined (n images). "
        "lesion_*: the prediction over the whole image against the full lesion mask."
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
            "present, outlines the full lesion in reddish purple. Click an image to open it at "
            "full size."
        )
        shown = overlays[:GALLERY_SIZE]
        report.images([path for _, path in shown], [caption for caption, _ in shown])
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
    resolution: str = "the samples' resolution",
    checkpoint: str = "checkpoint not recorded",
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
        resolution: what resolution the samples are at (stated in the report and metrics.json).
        checkpoint: which weights made the predictions (stated likewise).

    Returns:
        The :class:`EvaluationResult`.

    Raises:
        InputError: no sample, repeated image ids, mismatched shapes or unexpected label values.
    """
    out_dir = Path(out_dir)
    ordered = tuple(sorted(samples, key=lambda sample: sample.image_id))
    table = per_image_table(ordered)
    metrics: dict[str, JsonScalar] = {
        **headline_metrics(table),
        **per_image_summary(table),
        **count_metrics(table),
    }
    metrics = {key: json_number(value) for key, value in metrics.items()}
    context = {"resolution": resolution, "checkpoint": checkpoint}
    document = metrics_document(
        metrics,
        {"test/*": f"{checkpoint}; {resolution}"},
        run_name=run_name,
        evaluation={
            "n_images": len(table),
            "n_patients": int(table["patient_id"].nunique()),
            **context,
        },
        rules=dict(EMPTY_IMAGE_RULES),
    )
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
    overlays: list[tuple[str, str]] = []
    if to_draw:
        rows = table.set_index("image_id")
        renderer = OverlayRenderer(with_lesion=any(s.lesion_mask is not None for s in to_draw))
        for sample in to_draw:
            row = rows.loc[sample.image_id].to_dict()
            path = renderer.render(
                sample,
                out_dir / "overlays" / overlay_file_name(sample.image_id),
                dice=float(row["dice"]),
                lesion_dice=float(row.get("lesion_dice", math.nan)),
                caption=overlay_caption(None, row),
            )
            paths[f"overlay/{sample.image_id}"] = path
            overlays.append((overlay_caption(sample.image_id, row), f"overlays/{path.name}"))
    report = _report(run_name, metrics, table, confusion, config_summary, overlays, context)
    paths["report_md"], paths["report_html"] = report.write(
        out_dir / "report.md", out_dir / "report.html"
    )
    paths["metrics"] = write_json_atomic(out_dir / "metrics.json", document)
    return EvaluationResult(
        metrics=metrics, document=document, per_image=table, paths=paths, samples=ordered
    )
