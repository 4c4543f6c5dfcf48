"""The LightningModule: any registry model, a segmentation loss, pooled and per-image metrics."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MaxMetric

from bus_seg.errors import BusSegError
from bus_seg.labels import DEFAULT_MEAN, DEFAULT_STD
from bus_seg.training.eval_sample import EvalSample
from bus_seg.training.metrics import SegmentationMetrics

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

    The test stage only collects one :class:`~bus_seg.training.eval_sample.EvalSample` per image
    (:meth:`gather_test_samples`); scoring, logging ``test/…`` and writing the evaluation files
    is the job of :class:`bus_seg.evaluation.callback.EvaluationCallback`, which the tasks
    (:func:`bus_seg.train.train`, :func:`bus_seg.evaluate.evaluate`) add to the trainer.

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
        mean: float = DEFAULT_MEAN,
        std: float = DEFAULT_STD,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "loss", "optimizer", "scheduler"])
        self.net, self.loss = net, loss
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.val_metrics = SegmentationMetrics()
        self.val_dice_best = MaxMetric()
        self.val_balanced_acc_best = MaxMetric()
        self.test_samples: list[EvalSample] = []

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

    def gather_test_samples(self) -> list[EvalSample]:
        """Every rank's test samples on rank 0, each image once, in image-id order (DDP-safe).

        Other ranks get an empty list. Padding repeats of the distributed sampler share their
        image id with the original and are dropped. Every rank must call it (a collective under
        DDP).
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


def _finite(value: torch.Tensor) -> torch.Tensor:
    """NaN (an undefined ratio) is logged as 0 during validation so checkpoint monitors and
    sweepers stay sane; test figures keep NaN."""
    return torch.nan_to_num(value, nan=0.0)
