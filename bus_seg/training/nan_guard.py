"""Stop a diverging run before a non-finite loss, gradient or weight reaches a checkpoint."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from bus_seg.training.module import TrainingDivergedError


class NonFiniteGuard(pl.Callback):
    """Raise :class:`~bus_seg.training.module.TrainingDivergedError` when training stops being finite.

    Three checks, each before the damage spreads:

    - the loss, before ``backward`` (``on_before_backward``; single process only: under DDP a
      rank that stopped alone would leave the others waiting, so the gradients, which are
      averaged over the ranks and so the same on each, take over);
    - the gradients, before the optimizer step, so the weights never take a NaN/inf update
      (skipped under a mixed-precision grad scaler, which skips such steps by design);
    - the weights, after the optimizer step (``on_train_batch_end`` runs before Lightning's
      checkpoint callbacks, which it always calls last), so no checkpoint with non-finite
      weights is ever written as ``last.ckpt``.

    The message names the global step, epoch, batch index and image ids, and the last good
    checkpoint that was kept.

    Args:
        check_weights: check every weight after each optimizer step (one device sync per step).
    """

    def __init__(self, check_weights: bool = True) -> None:
        self.check_weights = check_weights
        self._where = "before the first training batch"

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        images = batch.get("image_id") if isinstance(batch, dict) else None
        shown = f", images {list(images)[:8]}" if images is not None else ""
        self._where = f"global step {trainer.global_step} (epoch {trainer.current_epoch}, batch {batch_idx}{shown})"

    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor
    ) -> None:
        if trainer.world_size > 1:
            return  # one rank stopping alone would hang the others; the gradients are checked
        if not bool(torch.isfinite(loss.detach()).all()):
            self._stop(trainer, f"the training loss is {loss.detach().float().mean().item()}")

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if getattr(trainer.precision_plugin, "scaler", None) is not None:
            return
        grads = [
            p.grad
            for group in optimizer.param_groups
            for p in group["params"]
            if p.grad is not None
        ]
        if not all_finite(grads):
            self._stop(
                trainer,
                "the gradients are not finite; the weights were not updated",
            )

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.check_weights and not all_finite(pl_module.parameters()):
            self._stop(trainer, "the weights became non-finite in the optimizer step")

    def _stop(self, trainer: pl.Trainer, what: str) -> None:
        kept = last_checkpoint(trainer)
        where = (
            f"the last good checkpoint is kept: {kept}"
            if kept
            else "no checkpoint had been written yet"
        )
        raise TrainingDivergedError(
            f"training stopped at {self._where}: {what}; {where}. Lower optimizer.lr (or set "
            "trainer.gradient_clip_val), check the images and labels of this batch, and start again "
            "(model.pretrained=<checkpoint> starts from the kept weights)"
        )


def all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """Whether every element of every tensor is finite (one device sync in all)."""
    flags = [torch.isfinite(t.detach()).all() for t in tensors]
    return bool(torch.stack(flags).all()) if flags else True


def last_checkpoint(trainer: pl.Trainer) -> str | None:
    """The ``last.ckpt`` (else the best checkpoint) a checkpoint callback has written, or None."""
    callbacks = trainer.checkpoint_callbacks
    candidates = [getattr(c, "last_model_path", "") for c in callbacks] + [
        getattr(c, "best_model_path", "") for c in callbacks
    ]
    return next((path for path in candidates if path and Path(path).is_file()), None)
