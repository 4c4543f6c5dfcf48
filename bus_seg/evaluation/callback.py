"""The test stage's scoring: ``test/…`` figures logged once per image, and the evaluation written."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from bus_seg.evaluation.native import native_samples
from bus_seg.evaluation.per_image import per_image_table
from bus_seg.evaluation.summaries import headline_metrics
from bus_seg.evaluation.writer import EvaluationResult, headline_text, write_evaluation
from bus_seg.training.eval_sample import EvalSample
from bus_seg.training.metrics import (
    METRIC_NAMES,
    PER_IMAGE_LOGGED,
    scores_from_counts,
    stat_scores,
)
from bus_seg.training.run_outputs import RunOutputs, run_name

log = logging.getLogger(__name__)


class EvaluationCallback(pl.Callback):
    """Score the test images once each, on rank 0, and write the evaluation files.

    At the end of the test stage the module's per-image samples
    (:meth:`~bus_seg.training.module.SegmentationModule.gather_test_samples`) go back to each
    image's own size (padding cropped, probability resized) and are scored against the label
    map and lesion mask re-read from the image's files (:mod:`bus_seg.evaluation.native`):
    ``test/<metric>``, ``test/per_image_<metric>`` and, with lesion masks, ``test/lesion_dice``,
    ``test/lesion_precision``, ``test/lesion_recall`` and ``test/lesion_fp_area_mm2``. The same
    scores at the network input size are logged as ``test/net_<metric>``. Test data without
    source files are scored at the network input size only.

    Under DDP the distributed sampler pads the test set by repeating images, so per-rank metric
    states would count those twice: rank 0 scores the de-duplicated samples and broadcasts the
    scores, and every rank logs the same values.

    Args:
        out_dir: folder of the evaluation files (:func:`~bus_seg.evaluation.writer.write_evaluation`),
            or None to score and log without writing.
        checkpoint: the weights' checkpoint when the trainer was not given one (the evaluation
            of a loaded checkpoint), stated in the report.
        options: further arguments of :func:`~bus_seg.evaluation.writer.write_evaluation`
            (``run_name``, ``config_summary``, ``max_overlays``).

    Attributes:
        result: what the last test stage wrote (rank 0, with ``out_dir``), else None.
    """

    def __init__(
        self,
        out_dir: str | Path | None = None,
        checkpoint: str | None = None,
        **options: Any,
    ) -> None:
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.checkpoint = checkpoint
        self.options: Mapping[str, Any] = options
        self.result: EvaluationResult | None = None

    @classmethod
    def for_run(
        cls, cfg: DictConfig, outputs: RunOutputs, checkpoint: str | None = None
    ) -> EvaluationCallback:
        """The scoring of a run's test stage, writing into ``outputs.evaluation`` (``<run>/test``).

        Args:
            cfg: the run's composed config (``evaluation.max_overlays``, the run name's keys).
            outputs: the run folder.
            checkpoint: the tested weights' checkpoint when the trainer is not given one.
        """
        return cls(
            outputs.evaluation,
            checkpoint=checkpoint,
            run_name=run_name(cfg),
            config_summary=outputs.config_summary(cfg),
            max_overlays=cfg.evaluation.max_overlays,
        )

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        samples = pl_module.gather_test_samples()
        scores = self._score_and_write(trainer, samples) if trainer.is_global_zero else None
        scores = trainer.strategy.broadcast(scores, src=0)
        # Equal on every rank: "max" keeps them exact where a mean could round. An undefined
        # test figure stays NaN (null in metrics.json), as in the evaluation's files.
        pl_module.log_dict(
            {
                k: torch.tensor(v, dtype=torch.float32, device=pl_module.device)
                for k, v in scores.items()
            },
            sync_dist=True,
            reduce_fx="max",
        )

    def _score_and_write(self, trainer: pl.Trainer, samples: list[EvalSample]) -> dict[str, float]:
        """Rank 0: the ``test/`` scores (native and network size); writes the evaluation files."""
        scores = {f"test/net_{k}": float(v) for k, v in score_test_samples(samples).items()}
        native = native_samples(samples, _test_sources(trainer))
        evaluated = native or samples
        size = samples[0].target.shape if samples else (0, 0)
        resolution = "native resolution" if native else f"network input size {size[1]}×{size[0]}"
        path = trainer.ckpt_path or self.checkpoint
        checkpoint = f"checkpoint {path}" if path else "weights in memory (no checkpoint)"
        if self.out_dir is not None:
            self.result = write_evaluation(
                evaluated,
                self.out_dir,
                resolution=resolution,
                checkpoint=checkpoint,
                **self.options,
            )
            table = self.result.per_image
        else:
            table = per_image_table(evaluated)
        headline = headline_metrics(table)
        scores.update(headline)
        log.info("test (%s; %s): %s", checkpoint, resolution, headline_text(headline))
        return scores


def _test_sources(trainer: pl.Trainer) -> dict[str, Any]:
    """Image id -> the test dataset's sample record (its files), where the loader has one."""
    loaders = trainer.test_dataloaders
    loaders = loaders if isinstance(loaders, list | tuple) else [loaders]
    records = [s for loader in loaders for s in getattr(loader.dataset, "samples", None) or []]
    return {s.image_id: s for s in records if hasattr(s, "load_labels")}


def score_test_samples(samples: list[EvalSample]) -> dict[str, torch.Tensor]:
    """The ``test/`` scores of :class:`~bus_seg.training.metrics.SegmentationMetrics` computed
    from per-image samples.

    Pooled metrics sum the (tp, fp, tn, fn) counts of every image, per-image metrics average the
    per-image ratios (NaN images skipped), with the rules of :mod:`bus_seg.training.metrics`.
    """
    if not samples:
        image_counts = torch.zeros(0, 4, dtype=torch.long)
    else:
        image_counts = torch.stack(
            [stat_scores(torch.from_numpy(s.pred), torch.from_numpy(s.target)) for s in samples]
        )
    pooled = scores_from_counts(*image_counts.sum(dim=0))
    per_image = scores_from_counts(*image_counts.T)
    scores = {name: pooled[name].float() for name in METRIC_NAMES}
    scores.update(
        {f"per_image_{name}": torch.nanmean(per_image[name]).float() for name in PER_IMAGE_LOGGED}
    )
    return scores
