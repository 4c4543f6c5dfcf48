"""Optimizer and learning-rate schedule builders, configured through Hydra partials.

Optimizer (``conf/optimizer/*.yaml``): ``_target_: bus_seg.training.optim.build_optimizer`` with
``_partial_: true``; the module completes it with the model::

    optimizer = hydra.utils.instantiate(cfg.optimizer)(self)  # or (self.model)

``build_optimizer`` splits the parameters into backbone and head groups (:func:`param_groups`:
``head_lr_mult`` × lr on heads, optional no weight decay on norm weights and biases) and builds
the optimizer named by ``name``; its other keys (``momentum``, ``betas``, ...) go to the optimizer.

Schedule (``conf/scheduler/*.yaml``): ``_partial_: true`` with a ``_target_`` taking
``(optimizer, total_steps)``; the total number of optimizer steps is known only at fit time::

    scheduler = hydra.utils.instantiate(cfg.scheduler)(
        optimizer, total_steps=self.trainer.estimated_stepping_batches
    )

and it is stepped every optimizer step (Lightning ``"interval": "step"``). ``scheduler=none``
selects no schedule: the learning rate stays the optimizer's.

Warmup, when asked for (``warmup_steps`` or ``warmup_fraction`` of ``total_steps``), ramps the
factor linearly from ``warmup_start_factor`` to 1; the decay then runs over the remaining steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from bus_seg.errors import ConfigError
from bus_seg.models.wrapper import head_parameter_names

TORCH_OPTIM_PREFIX = "torch.optim."
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}


def param_groups(
    model: nn.Module,
    base_lr: float,
    head_lr_mult: float = 1.0,
    no_decay_norm_bias: bool = False,
) -> list[dict[str, Any]]:
    """Split the trainable parameters of ``model`` into named optimizer groups.

    Backbone = everything that :func:`~bus_seg.models.head_parameter_names` does not call head
    (the ImageNet backbone/encoder, plus any parameter outside a SegmentationNet). Heads get
    ``base_lr · head_lr_mult``. With ``no_decay_norm_bias``, one-dimensional parameters (norm
    weights, biases) go to extra groups with ``weight_decay=0``. Empty groups are left out.

    Args:
        model: A SegmentationNet or a module holding one (the LightningModule).
        base_lr: Learning rate of the backbone.
        head_lr_mult: Learning-rate factor of the heads (10 for the DeepLab "10× on the
            classifier" recipe).
        no_decay_norm_bias: Exclude norm weights and biases from weight decay.

    Returns:
        Groups with keys ``name`` (``backbone``, ``head``, ``backbone_no_decay``,
        ``head_no_decay``), ``params``, ``lr`` and, for no-decay groups, ``weight_decay``.

    Raises:
        ConfigError: ``head_lr_mult`` ≠ 1 for a model without a SegmentationNet, or a
            non-positive learning rate or factor.
    """
    if base_lr <= 0 or head_lr_mult <= 0:
        raise ConfigError(
            f"optimizer lr={base_lr} and head_lr_mult={head_lr_mult} must both be positive"
        )
    heads = set(head_parameter_names(model))
    if not heads and head_lr_mult != 1.0:
        raise ConfigError(
            "optimizer.head_lr_mult needs a bus_seg model (bus_seg.models.build_model) to tell "
            "heads from backbone: set it to 1.0"
        )
    groups: dict[str, dict[str, Any]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        part = "head" if name in heads else "backbone"
        no_decay = no_decay_norm_bias and parameter.ndim <= 1
        group_name = f"{part}_no_decay" if no_decay else part
        if group_name not in groups:
            lr = base_lr * head_lr_mult if part == "head" else base_lr
            groups[group_name] = {"name": group_name, "params": [], "lr": lr}
            if no_decay:
                groups[group_name]["weight_decay"] = 0.0
        groups[group_name]["params"].append(parameter)
    return list(groups.values())


def build_optimizer(
    model: nn.Module,
    name: str = "sgd",
    lr: float = 0.01,
    weight_decay: float = 0.0,
    head_lr_mult: float = 1.0,
    no_decay_norm_bias: bool = False,
    **optimizer_kwargs: Any,
) -> Optimizer:
    """Build an optimizer over :func:`param_groups` of ``model``.

    Args:
        model: A SegmentationNet or a module holding one.
        name: ``sgd``, ``adam``, ``adamw``, or any optimizer class of ``torch.optim``
            (``torch.optim.RAdam``).
        lr: Base (backbone) learning rate.
        weight_decay: Weight decay of the decayed groups.
        head_lr_mult: Learning-rate factor of the heads.
        no_decay_norm_bias: Exclude norm weights and biases from weight decay.
        **optimizer_kwargs: Further optimizer arguments (``momentum``, ``nesterov``, ``betas``).

    Raises:
        ConfigError: Unknown optimizer or optimizer argument.
    """
    if name in OPTIMIZERS:
        optimizer_class = OPTIMIZERS[name]
    elif name.startswith(TORCH_OPTIM_PREFIX):
        # Only classes of torch.optim: a name from a stored config must not import other code.
        optimizer_class = getattr(torch.optim, name.removeprefix(TORCH_OPTIM_PREFIX), None)
        if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, Optimizer)):
            raise ConfigError(f"optimizer.name={name!r} is not an optimizer class of torch.optim")
    else:
        raise ConfigError(
            f"optimizer.name={name!r} is unknown: use one of {', '.join(OPTIMIZERS)} or a class of "
            f"torch.optim such as torch.optim.RAdam"
        )
    groups = param_groups(model, lr, head_lr_mult, no_decay_norm_bias)
    try:
        return optimizer_class(groups, lr=lr, weight_decay=weight_decay, **optimizer_kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"cannot build optimizer {name!r} with {optimizer_kwargs}: {error}"
        ) from error


def _warmup_steps(total_steps: int, warmup_steps: int, warmup_fraction: float) -> int:
    if not isinstance(total_steps, int) or total_steps < 1:
        raise ConfigError(
            f"scheduler total_steps={total_steps!r} must be a positive integer: bound the run "
            f"with trainer.max_epochs or trainer.max_steps"
        )
    if warmup_steps and warmup_fraction:
        raise ConfigError("scheduler: set warmup_steps or warmup_fraction, not both")
    if not 0 <= warmup_fraction < 1:
        raise ConfigError(f"scheduler warmup_fraction={warmup_fraction} must lie in [0, 1)")
    steps = round(warmup_fraction * total_steps) if warmup_fraction else warmup_steps
    if not 0 <= steps < total_steps:
        raise ConfigError(
            f"scheduler warmup of {steps} steps must be shorter than total_steps={total_steps}"
        )
    return steps


@dataclass
class WarmupDecayFactor:
    """Learning-rate factor at a step: linear warmup, then polynomial or cosine decay.

    A callable object (not a lambda) so that ``LambdaLR.state_dict()`` saves it and a resumed
    run continues the same schedule.

    Attributes:
        total_steps: Steps of the whole schedule; the factor reaches its floor there.
        warmup_steps: Steps of the linear warmup.
        warmup_start_factor: Factor at step 0 when warming up.
        decay: ``"poly"`` ``(1 - progress)^power`` or ``"cosine"``
            ``min_factor + (1 - min_factor)·(1 + cos(π·progress))/2``.
        power: Exponent of the polynomial decay.
        min_factor: Floor of the cosine decay.
    """

    total_steps: int
    warmup_steps: int = 0
    warmup_start_factor: float = 0.001
    decay: str = "poly"
    power: float = 0.9
    min_factor: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.warmup_start_factor + (1.0 - self.warmup_start_factor) * (
                step / self.warmup_steps
            )
        progress = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        if self.decay == "cosine":
            return self.min_factor + (1.0 - self.min_factor) * 0.5 * (
                1.0 + math.cos(math.pi * progress)
            )
        return (1.0 - progress) ** self.power


def _check_start_factor(warmup_start_factor: float) -> None:
    if not 0 < warmup_start_factor <= 1:
        raise ConfigError(f"scheduler warmup_start_factor={warmup_start_factor} must lie in (0, 1]")


class PolyWithWarmup(LambdaLR):
    """Polynomial decay ``lr·(1 - t/T)^power`` after an optional linear warmup, per step.

    The DeepLab/torchvision "poly" schedule: at step ``s ≥ w`` the factor is
    ``(1 - (s - w)/(total_steps - w))^power`` (0 from ``total_steps`` on); during the warmup
    ``s < w`` it rises linearly from ``warmup_start_factor`` to 1.

    Args:
        optimizer: The optimizer whose group learning rates are scaled.
        total_steps: Optimizer steps of the whole run (``trainer.estimated_stepping_batches``).
        power: Decay exponent (0.9 in DeepLab).
        warmup_steps: Warmup length in steps ...
        warmup_fraction: ... or as a fraction of ``total_steps`` (set one of the two).
        warmup_start_factor: Learning-rate factor at step 0 of the warmup.
        last_epoch: Index of the last step, for resuming (LambdaLR's argument).

    Raises:
        ConfigError: Inconsistent steps or factors.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        total_steps: int,
        power: float = 0.9,
        warmup_steps: int = 0,
        warmup_fraction: float = 0.0,
        warmup_start_factor: float = 0.001,
        last_epoch: int = -1,
    ) -> None:
        if power <= 0:
            raise ConfigError(f"scheduler power={power} must be positive")
        _check_start_factor(warmup_start_factor)
        factor = WarmupDecayFactor(
            total_steps=total_steps,
            warmup_steps=_warmup_steps(total_steps, warmup_steps, warmup_fraction),
            warmup_start_factor=warmup_start_factor,
            decay="poly",
            power=power,
        )
        super().__init__(optimizer, lr_lambda=factor, last_epoch=last_epoch)


def cosine_with_warmup(
    optimizer: Optimizer,
    total_steps: int,
    warmup_steps: int = 0,
    warmup_fraction: float = 0.0,
    warmup_start_factor: float = 0.001,
    min_lr_ratio: float = 0.0,
) -> LambdaLR:
    """Cosine decay from ``lr`` to ``min_lr_ratio·lr`` after an optional linear warmup, per step.

    Args:
        optimizer: The optimizer whose group learning rates are scaled.
        total_steps: Optimizer steps of the whole run.
        warmup_steps: Warmup length in steps ...
        warmup_fraction: ... or as a fraction of ``total_steps`` (set one of the two).
        warmup_start_factor: Learning-rate factor at step 0 of the warmup.
        min_lr_ratio: Final learning rate as a fraction of the initial one.

    Raises:
        ConfigError: Inconsistent steps or factors.
    """
    _check_start_factor(warmup_start_factor)
    if not 0 <= min_lr_ratio <= 1:
        raise ConfigError(f"scheduler min_lr_ratio={min_lr_ratio} must lie in [0, 1]")
    factor = WarmupDecayFactor(
        total_steps=total_steps,
        warmup_steps=_warmup_steps(total_steps, warmup_steps, warmup_fraction),
        warmup_start_factor=warmup_start_factor,
        decay="cosine",
        min_factor=min_lr_ratio,
    )
    return LambdaLR(optimizer, lr_lambda=factor)
