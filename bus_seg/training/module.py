"""The LightningModule: any registry model, a segmentation loss, pooled and per-image metrics."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MaxMetric

from bus_seg.errors import BusSegError
from bus_seg.evaluation.samples import EvalSample
from bus_seg.training.metrics import (
    METRIC_NAMES,
    PER_IMAGE_LOGGED,
    SegmentationMetrics,
    scores_from_counts,
    stat_scores,
)

log = logging.getLogger(__name__)

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


class TrainingDivergedError(BusSegError):
    """The loss, gradients or weights became NaN or infinite (raised by the ``nan_guard`` callback)."""


class SegmentationModule(pl.LightningModule):
    """Train, validate and test a segmentation model on 0/1/255 labels.

    Logs ``train/loss``, ``val/<metric>`` and ``test/<metric>`` for every pooled metric of
    :class:`~bus_seg.training.metrics.SegmentationMetrics` (``pixel_acc``, ``dice``, ``iou``,
    ``recall``, ``precision``, ``specificity``), the per-image means ``*/per_image_dice``,
    ``*/per_image_recall``, ``*/per_image_pixel_acc``, ``val/dice_best`` and
    ``val/balanced_acc_best`` (the model-selection value of strip labels: the mean of strip
    recall and specificity, which calling every pixel cancer cannot raise above 0.5).

    Args:
        net: a registry model returning ``{"out": logits, "aux": logits?}``.
        loss: a :class:`~bus_seg.training.losses.SegmentationLoss` (main + weighted aux).
        optimizer: ``optimizer(net)`` -> optimizer (a Hydra ``_partial_`` of
            :func:`bus_seg.training.optim.build_optimizer`, which sets the head/backbone groups).
        scheduler: ``scheduler(optimizer, total_steps=...)`` -> per-step LR scheduler, or None.
        mean: intensity mean the data were normalised with (to restore images for figures).
        std: intensity standard deviation the data were normalised with.
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        mean: float = 0.449,
        std: float = 0.226,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "loss", "optimizer", "scheduler"])
        self.net, self.loss = net, loss
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.val_metrics = SegmentationMetrics()
        self.val_dice_best = MaxMetric()
        self.val_balanced_acc_best = MaxMetric()
        self.test_samples: list[EvalSample] = []
        self.evaluation_dir: Path | None = None
        self.evaluation_options: dict[str, Any] = {}
        self.tested_checkpoint: str | None = None

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net(image)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        outputs = self(batch["image"])
        losses = self.loss(outputs, batch["label"], batch["image"])
        loss = losses.pop("loss")
        batch_size = batch["image"].shape[0]
        self.log(
            "train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=batch_size
        )
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=batch_size)
        return loss

    def on_validation_epoch_start(self) -> None:
        self.val_metrics.reset()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        outputs = self(batch["image"])
        loss = self.loss(outputs, batch["label"], batch["image"])["loss"]
        self.log(
            "val/loss", loss, on_epoch=True, batch_size=batch["image"].shape[0], sync_dist=True
        )
        self.val_metrics.update(outputs["out"].argmax(dim=1), batch["label"])

    def on_validation_epoch_end(self) -> None:
        scores = {k: _finite(v) for k, v in self.val_metrics.compute().items()}
        self.log("val/dice", scores.pop("dice"), prog_bar=True)
        self.log_dict({f"val/{k}": v for k, v in scores.items()})
        self.val_dice_best.update(self.trainer.callback_metrics["val/dice"])
        self.log("val/dice_best", self.val_dice_best.compute(), prog_bar=True)
        self.val_balanced_acc_best.update(self.trainer.callback_metrics["val/balanced_acc"])
        self.log("val/balanced_acc_best", self.val_balanced_acc_best.compute())

    def on_test_epoch_start(self) -> None:
        self.test_samples = []

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        outputs = self(batch["image"])
        prob = outputs["out"].softmax(dim=1)[:, 1]
        pred = outputs["out"].argmax(dim=1)
        self.test_samples.extend(self._eval_samples(batch, pred, prob))

    def on_test_epoch_end(self) -> None:
        """Score the test images once each, on rank 0, from the gathered per-image samples.

        The predictions go back to each image's own size (padding cropped, probability resized)
        and are scored against the label map and lesion mask re-read from the image's files
        (:mod:`bus_seg.evaluation.native`): ``test/<metric>``, ``test/per_image_<metric>`` and,
        with lesion masks, ``test/lesion_dice``, ``test/lesion_precision``,
        ``test/lesion_recall`` and ``test/lesion_fp_area_mm2``. The same scores at the network
        input size are logged as ``test/net_<metric>``. Test data without source files are scored
        at the network input size only.

        Under DDP the distributed sampler pads the test set by repeating images, so per-rank
        metric states would count those twice: rank 0 scores the de-duplicated samples and
        broadcasts the scores, and every rank logs the same values.
        """
        samples = self._gather_test_samples()
        scores = self._score_and_write(samples) if self.trainer.is_global_zero else None
        scores = self.trainer.strategy.broadcast(scores, src=0)
        # Equal on every rank: "max" keeps them exact where a mean could round. An undefined
        # test figure stays NaN (null in metrics.json), as in the evaluation's files.
        self.log_dict(
            {
                k: torch.tensor(v, dtype=torch.float32, device=self.device)
                for k, v in scores.items()
            },
            sync_dist=True,
            reduce_fx="max",
        )

    def _score_and_write(self, samples: list[EvalSample]) -> dict[str, float]:
        """Rank 0: the ``test/`` scores (native and network size); writes the evaluation files."""
        from bus_seg.evaluation import write_evaluation
        from bus_seg.evaluation.evaluate import headline_text
        from bus_seg.evaluation.native import native_samples
        from bus_seg.evaluation.per_image import per_image_table
        from bus_seg.evaluation.summaries import headline_metrics

        scores = {f"test/net_{k}": float(v) for k, v in score_test_samples(samples).items()}
        native = native_samples(samples, self._test_sources())
        evaluated = native or samples
        size = samples[0].target.shape if samples else (0, 0)
        resolution = "native resolution" if native else f"network input size {size[1]}×{size[0]}"
        checkpoint = self._checkpoint_description()
        if self.evaluation_dir is not None:
            options = {"checkpoint": checkpoint, **self.evaluation_options}
            self.evaluation_result = write_evaluation(
                evaluated, self.evaluation_dir, resolution=resolution, **options
            )
            table = self.evaluation_result.per_image
        else:
            table = per_image_table(evaluated)
        headline = headline_metrics(table)
        scores.update(headline)
        log.info("test (%s; %s): %s", checkpoint, resolution, headline_text(headline))
        return scores

    def _checkpoint_description(self) -> str:
        """Which weights the test stage uses: the checkpoint given to ``trainer.test`` (or set in
        ``tested_checkpoint`` by whoever loaded the weights), else the weights in memory."""
        path = self.trainer.ckpt_path or self.tested_checkpoint
        return f"checkpoint {path}" if path else "weights in memory (no checkpoint)"

    def _test_sources(self) -> dict[str, Any]:
        """Image id -> the test dataset's sample record (its files), where the loader has one."""
        loaders = self.trainer.test_dataloaders
        loaders = loaders if isinstance(loaders, list | tuple) else [loaders]
        records = [s for loader in loaders for s in getattr(loader.dataset, "samples", None) or []]
        return {s.image_id: s for s in records if hasattr(s, "load_labels")}

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = self.optimizer_factory(self.net)
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        total_steps = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = self.scheduler_factory(optimizer, total_steps=total_steps)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def _eval_samples(
        self, batch: dict[str, Any], pred: torch.Tensor, prob: torch.Tensor
    ) -> list[EvalSample]:
        images = (batch["image"][:, 0] * self.hparams.std + self.hparams.mean).clamp(0, 1) * 255
        samples = []
        for i, image_id in enumerate(batch["image_id"]):
            spacing = float(batch["spacing_mm"][i])
            samples.append(
                EvalSample(
                    image_id=image_id,
                    patient_id=batch["patient_id"][i],
                    image=images[i].round().byte().cpu().numpy(),
                    target=batch["label"][i].byte().cpu().numpy(),
                    pred=pred[i].byte().cpu().numpy(),
                    prob=prob[i].float().cpu().numpy(),
                    spacing_mm=None if math.isnan(spacing) else spacing,
                    lesion_mask=batch["lesion"][i].byte().cpu().numpy()
                    if bool(batch["lesion_known"][i])
                    else None,
                )
            )
        return samples

    def _gather_test_samples(self) -> list[EvalSample]:
        """Every rank's test samples on rank 0, each image once, in image-id order (DDP-safe).

        Other ranks get an empty list. Padding repeats of the distributed sampler share their
        image id with the original and are dropped.
        """
        if self.trainer.world_size == 1:
            gathered = [self.test_samples]
        else:
            gathered = [None] * self.trainer.world_size if self.trainer.is_global_zero else None
            torch.distributed.gather_object(self.test_samples, gathered, dst=0)
            if not self.trainer.is_global_zero:
                return []
        unique = {s.image_id: s for part in gathered for s in part}
        return [unique[k] for k in sorted(unique)]


def score_test_samples(samples: list[EvalSample]) -> dict[str, torch.Tensor]:
    """The ``test/`` scores of :class:`SegmentationMetrics` computed from per-image samples.

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


def _finite(value: torch.Tensor) -> torch.Tensor:
    """NaN (an undefined ratio) is logged as 0 during validation so checkpoint monitors and
    sweepers stay sane; test figures keep NaN."""
    return torch.nan_to_num(value, nan=0.0)
