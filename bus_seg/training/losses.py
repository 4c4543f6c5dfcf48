"""Segmentation losses that honour the ignore label 255.

Every criterion takes logits ``N×C×H×W`` and a target ``N×H×W`` (long; 0 sampled non-cancer,
1 cancer, 255 not sampled) and returns a scalar. Ignored pixels contribute nothing, and a batch
whose pixels are all ignored gives a loss of exactly 0 that is still part of the graph (so
``backward()`` works and leaves zero gradients).

Why not smp's losses: ``segmentation_models_pytorch.losses.DiceLoss`` masks 255 correctly but sets
the loss of a class absent from the batch to zero, so false positives on a batch without cancer
pixels would cost nothing; ``smp.losses.FocalLoss`` in multiclass mode sums one-vs-rest *sigmoid*
focal terms and gives NaN on an all-ignored batch. Our Dice agrees with smp's whenever the batch
has cancer pixels (tested).

:class:`SegmentationLoss` combines the main and auxiliary outputs as torchvision's reference
``train.py::criterion``: ``loss = criterion(out) + aux_weight * criterion(aux)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bus_seg.errors import ConfigError
from bus_seg.labels import CANCER_LABEL, IGNORE_LABEL, WEAK_NEGATIVE_LABEL


def _class_weights(weight: Sequence[float] | None) -> torch.Tensor | None:
    if weight is None:
        return None
    values = [float(value) for value in weight]
    if any(value < 0 for value in values) or not any(values):
        raise ConfigError(f"loss weight={values} must be non-negative and not all zero")
    return torch.tensor(values)


def _masked_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum(values) / sum(weights)``, and 0 (with grad) where the weights sum to 0."""
    return values.sum() / weights.sum().clamp_min(torch.finfo(values.dtype).tiny)


class CrossEntropy(nn.Module):
    """Pixel cross-entropy averaged over non-ignored pixels (class-weighted mean if ``weight``).

    Same value as ``nn.CrossEntropyLoss(weight, ignore_index)``, except that an all-ignored
    batch gives 0 instead of NaN.

    Args:
        weight: Per-class weights (``[w_non_cancer, w_cancer]``), or None for equal weights.
        ignore_index: Target label that is ignored.
    """

    def __init__(
        self, weight: Sequence[float] | None = None, ignore_index: int = IGNORE_LABEL
    ) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.register_buffer("weight", _class_weights(weight))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        pixel_losses = F.cross_entropy(
            logits, target, weight=self.weight, ignore_index=self.ignore_index, reduction="none"
        )
        valid = target != self.ignore_index
        if self.weight is None:
            pixel_weights = valid.to(logits.dtype)
        else:
            pixel_weights = self.weight[torch.where(valid, target, 0)] * valid
        return _masked_mean(pixel_losses, pixel_weights)


class DiceLoss(nn.Module):
    """Soft Dice loss of one class (cancer) on softmax probabilities, pooled over the batch.

    ``1 - (2·Σ p·t + smooth) / (Σ p + Σ t + smooth)`` with ``p`` the softmax probability of
    ``class_index`` and ``t`` its one-hot target, both summed over every non-ignored pixel of the
    batch (not per image). A batch without cancer pixels still penalises cancer probability
    (``1 - smooth / (Σ p + smooth)``); an all-ignored batch gives 0.

    Args:
        smooth: Added to numerator and denominator; must be positive (it defines the empty case).
        ignore_index: Target label that is ignored.
        class_index: The class whose Dice is optimised.
    """

    def __init__(
        self, smooth: float = 1.0, ignore_index: int = IGNORE_LABEL, class_index: int = CANCER_LABEL
    ) -> None:
        super().__init__()
        if smooth <= 0:
            raise ConfigError(f"loss smooth={smooth} must be positive")
        self.smooth = smooth
        self.ignore_index = ignore_index
        self.class_index = class_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = target != self.ignore_index
        probability = logits.float().softmax(dim=1)[:, self.class_index] * valid
        truth = ((target == self.class_index) & valid).to(probability.dtype)
        intersection = (probability * truth).sum()
        denominator = probability.sum() + truth.sum()
        return 1.0 - (2.0 * intersection + self.smooth) / (denominator + self.smooth)


class CEDice(nn.Module):
    """``ce_weight · CrossEntropy + dice_weight · DiceLoss``.

    Args:
        ce_weight: Factor of the cross-entropy term.
        dice_weight: Factor of the Dice term.
        weight: Per-class weights of the cross-entropy.
        smooth: Dice smoothing.
        ignore_index: Target label that is ignored.
    """

    def __init__(
        self,
        ce_weight: float = 1.0,
        dice_weight: float = 1.0,
        weight: Sequence[float] | None = None,
        smooth: float = 1.0,
        ignore_index: int = IGNORE_LABEL,
    ) -> None:
        super().__init__()
        self.ce_weight = ce_weight
        self.dice_weight = dice_weight
        self.cross_entropy = CrossEntropy(weight=weight, ignore_index=ignore_index)
        self.dice = DiceLoss(smooth=smooth, ignore_index=ignore_index)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.ce_weight * self.cross_entropy(logits, target) + self.dice_weight * self.dice(
            logits, target
        )


class FocalLoss(nn.Module):
    """Softmax focal loss (Lin et al. 2017), averaged over non-ignored pixels.

    ``-α_t (1 - p_t)^γ log p_t`` with ``p_t`` the softmax probability of the true class. With
    ``gamma=0`` and ``alpha=None`` it equals the cross-entropy.

    Args:
        gamma: Focusing parameter (≥ 0).
        alpha: None (no class balancing), a float (weight of class 1, cancer; class 0 gets
            ``1 - alpha``; two classes only) or per-class weights. The mean is taken over
            pixels, not normalised by the weights.
        ignore_index: Target label that is ignored.
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
        ignore_index: int = IGNORE_LABEL,
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise ConfigError(f"focal loss gamma={gamma} must be ≥ 0")
        if isinstance(alpha, int | float):
            if not 0 <= alpha <= 1:
                raise ConfigError(f"focal loss alpha={alpha} must lie in [0, 1]")
            alpha = [1.0 - alpha, float(alpha)]
        self.gamma = gamma
        self.ignore_index = ignore_index
        self.register_buffer("alpha", _class_weights(alpha))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.alpha is not None and self.alpha.numel() != logits.shape[1]:
            raise ConfigError(
                f"focal loss alpha has {self.alpha.numel()} weights for {logits.shape[1]} classes"
            )
        valid = target != self.ignore_index
        safe_target = torch.where(valid, target, 0)
        log_p_true = logits.log_softmax(dim=1).gather(1, safe_target.unsqueeze(1)).squeeze(1)
        pixel_losses = -((1.0 - log_p_true.exp()) ** self.gamma) * log_p_true
        if self.alpha is not None:
            pixel_losses = pixel_losses * self.alpha[safe_target]
        return _masked_mean(pixel_losses * valid, valid.to(logits.dtype))


class SegmentationLoss(nn.Module):
    """Main plus weighted auxiliary loss over a model's output dict, plus regularisers.

    ``loss = criterion(outputs["out"], target) + aux_weight · criterion(outputs["aux"], target)
    + Σ_k weight_k · regulariser_k(outputs["out"], target, image)`` (the first two terms as
    torchvision's reference ``train.py::criterion``); the auxiliary term is skipped when the model
    has no ``"aux"`` output or ``aux_weight`` is 0. Regularisers
    (:mod:`bus_seg.training.regularisers`) speak about the unlabelled pixels of strip labels.

    Weak negatives (target 254, from ``data.weak_labels``: outside the lesion box or outline)
    are not histology: the criterion and the regularisers see them as unlabelled (255), except
    a regulariser whose ``reads_weak_labels`` is true (:class:`~.regularisers.BoxPrior`), and
    ``weak_weight ·`` their own mean cross-entropy towards non-cancer is added, so that however
    many they are, they do not drown the strip's labels in one mean.

    Args:
        criterion: A loss taking ``(logits, target)``.
        aux_weight: Weight of the auxiliary-head loss.
        regularisers: ``{name: module}``; each module has a ``weight`` and takes
            ``(logits, target, image)``.
        weak_weight: Weight of the weak-negative term.
    """

    def __init__(
        self,
        criterion: nn.Module,
        aux_weight: float = 0.5,
        regularisers: Mapping[str, nn.Module] | None = None,
        weak_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if aux_weight < 0 or weak_weight < 0:
            raise ConfigError(
                f"loss.aux_weight={aux_weight} and loss.weak_weight={weak_weight} must be ≥ 0"
            )
        self.weak_weight = weak_weight
        self.criterion = criterion
        self.aux_weight = aux_weight
        self.regularisers = nn.ModuleDict(
            {name: term for name, term in (regularisers or {}).items() if term is not None}
        )

    def forward(
        self,
        outputs: Mapping[str, torch.Tensor],
        target: torch.Tensor,
        image: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Compute the loss.

        Args:
            outputs: The model's ``{"out": logits, "aux": logits?}``.
            target: ``N×H×W`` labels (0/1/255).
            image: The normalised input ``N×C×H×W`` (needed by regularisers).

        Returns:
            ``{"loss": total, "loss_out": main term, "loss_aux": auxiliary term (unweighted,
            present only when computed), "loss_<name>": each regulariser (unweighted),
            "loss_weak": the weak-negative term (unweighted, when the target has any)}``.
        """
        raw_target = target
        weak = target == WEAK_NEGATIVE_LABEL
        target = torch.where(weak, IGNORE_LABEL, target)
        parts = {"loss_out": self.criterion(outputs["out"], target)}
        total = parts["loss_out"]
        if "aux" in outputs and self.aux_weight > 0:
            parts["loss_aux"] = self.criterion(outputs["aux"], target)
            total = total + self.aux_weight * parts["loss_aux"]
        if self.regularisers and image is None:
            raise ConfigError(
                "loss.regularisers need the input image: call loss(outputs, target, image)"
            )
        for name, term in self.regularisers.items():
            seen = raw_target if getattr(term, "reads_weak_labels", False) else target
            parts[f"loss_{name}"] = term(outputs["out"], seen, image)
            total = total + term.weight * parts[f"loss_{name}"]
        if weak.any():
            log_p = outputs["out"].float().log_softmax(dim=1)[:, 1 - CANCER_LABEL]
            parts["loss_weak"] = -(log_p * weak).sum() / weak.sum()
            total = total + self.weak_weight * parts["loss_weak"]
        return {"loss": total, **parts}
