"""Log an evaluation to a Weights & Biases run: per-image table, confusion matrix, overlays."""

from __future__ import annotations

from typing import Any

import numpy as np

from bus_seg.evaluation.writer import EvaluationResult, overlay_caption
from bus_seg.io.images import to_gray
from bus_seg.labels import CANCER_LABEL, IGNORE_LABEL, NON_CANCER_LABEL

REFERENCE_CLASS_LABELS = {
    NON_CANCER_LABEL: "non-cancer",
    CANCER_LABEL: "cancer",
    IGNORE_LABEL: "not sampled",
}
PREDICTION_CLASS_LABELS = {0: "non-cancer", 1: "cancer"}


def log_evaluation_to_wandb(
    result: EvaluationResult,
    run: Any,
    *,
    prefix: str = "test",
    log_images: bool = False,
    max_images: int | None = 16,
) -> None:
    """Log one evaluation to an active ``wandb`` run.

    Logs ``<prefix>/per_image`` (a ``wandb.Table`` of the per-image table), the pixel confusion
    matrix as ``<prefix>/confusion_matrix`` (a table of counts) and ``<prefix>/confusion`` (the
    heatmap image), and puts every number of ``result.metrics`` (``test/<name>``) into the run
    summary as ``<prefix>/<name>``, whole-lesion figures included. With ``log_images``, also ``<prefix>/overlays``: the first ``max_images``
    ultrasound images (by image id) with ``masks`` for the reference labels and the prediction,
    which the W&B UI can toggle.

    Args:
        result: the output of :func:`~bus_seg.evaluation.writer.write_evaluation`.
        run: the ``wandb`` run (``wandb.init(...)`` or ``WandbLogger.experiment``).
        prefix: key prefix (the stage).
        log_images: also log the overlay images with masks.
        max_images: most images logged with ``log_images`` (None: all).
    """
    import wandb

    table = result.per_image.astype(object).where(result.per_image.notna(), None)
    payload: dict[str, Any] = {f"{prefix}/per_image": wandb.Table(dataframe=table)}
    counts = {
        name: int(result.metrics[f"test/counts/{name}"] or 0) for name in ("tn", "fp", "fn", "tp")
    }
    payload[f"{prefix}/confusion_matrix"] = wandb.Table(
        columns=["reference", "predicted non-cancer", "predicted cancer"],
        data=[["non-cancer", counts["tn"], counts["fp"]], ["cancer", counts["fn"], counts["tp"]]],
    )
    confusion_png = result.paths.get("confusion_png")
    if confusion_png is not None:
        payload[f"{prefix}/confusion"] = wandb.Image(
            str(confusion_png), caption="pixel confusion (labelled pixels)"
        )
    if log_images:
        samples = result.samples if max_images is None else result.samples[:max_images]
        rows = result.per_image.set_index("image_id")
        payload[f"{prefix}/overlays"] = [
            wandb.Image(
                np.ascontiguousarray(to_gray(sample.image)),
                masks={
                    "reference": {
                        "mask_data": sample.target.astype(np.uint8),
                        "class_labels": REFERENCE_CLASS_LABELS,
                    },
                    "prediction": {
                        "mask_data": sample.pred.astype(np.uint8),
                        "class_labels": PREDICTION_CLASS_LABELS,
                    },
                },
                caption=overlay_caption(sample.image_id, rows.loc[sample.image_id].to_dict()),
            )
            for sample in samples
        ]
    run.log(payload)
    for name, value in result.metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            stage, _, rest = name.partition("/")
            run.summary[f"{prefix}/{rest}" if stage == "test" else name] = value
