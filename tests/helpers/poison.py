"""A test-only loss that turns non-finite at a chosen training step (to trip the NaN guard)."""

from __future__ import annotations

import torch
from torch import nn

from bus_seg.training.losses import SegmentationLoss


class _NaNGradient(torch.autograd.Function):
    """Identity forward; NaN gradient backward."""

    @staticmethod
    def forward(ctx: object, value: torch.Tensor) -> torch.Tensor:
        return value.clone()

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        return grad * float("nan")


class PoisonedLoss(SegmentationLoss):
    """:class:`SegmentationLoss` whose ``step``-th training call (0-based) is poisoned.

    Training calls are the ones made with gradients enabled. ``mode="loss"`` returns a NaN loss,
    ``mode="grad"`` a finite loss whose gradients are NaN.
    """

    def __init__(
        self, criterion: nn.Module, step: int, mode: str = "loss", aux_weight: float = 0.5
    ) -> None:
        super().__init__(criterion, aux_weight)
        self.step, self.mode, self.calls = step, mode, 0

    def forward(
        self,
        outputs: dict[str, torch.Tensor],
        target: torch.Tensor,
        image: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        losses = super().forward(outputs, target, image)
        if not torch.is_grad_enabled():
            return losses
        self.calls += 1
        if self.calls - 1 == self.step:
            poisoned = (
                losses["loss"] * float("nan")
                if self.mode == "loss"
                else _NaNGradient.apply(losses["loss"])
            )
            losses["loss"] = poisoned
        return losses
