"""Optimizer parameter groups and per-step schedules against their formulas."""

from __future__ import annotations

import math

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from bus_seg.errors import ConfigError
from bus_seg.models import build_model, head_parameter_names
from bus_seg.paths import config_dir
from bus_seg.training.optim import (
    PolyWithWarmup,
    build_optimizer,
    cosine_with_warmup,
    param_groups,
)


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return build_model(
        "smp.Unet", encoder_name="resnet18", encoder_depth=3, decoder_channels=[16, 8, 4]
    )


def one_parameter_optimizer(lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)


def lrs_over(scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> list[float]:
    """Learning rate used at each step 0..steps (the scheduler is stepped after each)."""
    optimizer = scheduler.optimizer
    lrs = []
    for _ in range(steps + 1):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_head_groups_get_the_multiplied_lr(model: nn.Module) -> None:
    groups = param_groups(model, base_lr=0.01, head_lr_mult=10.0)
    by_name = {group["name"]: group for group in groups}
    assert set(by_name) == {"backbone", "head"}
    assert by_name["backbone"]["lr"] == 0.01
    assert by_name["head"]["lr"] == pytest.approx(0.1)
    assert {id(p) for p in by_name["backbone"]["params"]} == {
        id(p) for p in model.net.encoder.parameters()
    }
    heads = set(head_parameter_names(model))
    assert {id(p) for p in by_name["head"]["params"]} == {
        id(p) for name, p in model.named_parameters() if name in heads
    }


def test_groups_of_a_module_holding_the_model(model: nn.Module) -> None:
    holder = nn.Module()
    holder.model = model  # as in the LightningModule
    groups = param_groups(holder, base_lr=0.01, head_lr_mult=10.0)
    assert [len(g["params"]) for g in groups] == [
        len(g["params"]) for g in param_groups(model, 0.01, 10.0)
    ]


def test_no_decay_on_norm_weights_and_biases(model: nn.Module) -> None:
    groups = param_groups(model, base_lr=0.01, no_decay_norm_bias=True)
    names = {group["name"] for group in groups}
    assert names == {"backbone", "head", "backbone_no_decay", "head_no_decay"}
    for group in groups:
        one_dimensional = [p.ndim <= 1 for p in group["params"]]
        if group["name"].endswith("no_decay"):
            assert group["weight_decay"] == 0.0 and all(one_dimensional)
        else:
            assert "weight_decay" not in group and not any(one_dimensional)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_frozen_parameters_are_left_out(model: nn.Module) -> None:
    frozen = build_model(
        "smp.Unet", encoder_name="resnet18", encoder_depth=3, decoder_channels=[16, 8, 4]
    )
    frozen.net.encoder.requires_grad_(False)
    assert [g["name"] for g in param_groups(frozen, 0.01)] == ["head"]


def test_head_lr_mult_needs_a_registry_model() -> None:
    with pytest.raises(ConfigError, match="head_lr_mult"):
        param_groups(nn.Linear(2, 2), base_lr=0.01, head_lr_mult=10.0)
    assert len(param_groups(nn.Linear(2, 2), base_lr=0.01)) == 1


@pytest.mark.parametrize(
    ("config_name", "optimizer_class"), [("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)]
)
def test_optimizer_configs(model: nn.Module, config_name: str, optimizer_class: type) -> None:
    cfg = OmegaConf.load(config_dir() / "optimizer" / f"{config_name}.yaml")
    cfg.head_lr_mult = 10.0
    optimizer = instantiate(cfg)(model)
    assert type(optimizer) is optimizer_class
    backbone, head = optimizer.param_groups
    assert backbone["lr"] == cfg.lr and head["lr"] == pytest.approx(10 * cfg.lr)
    assert backbone["weight_decay"] == cfg.weight_decay
    if config_name == "sgd":
        assert backbone["momentum"] == 0.9


def test_optimizer_by_class_path_and_errors(model: nn.Module) -> None:
    assert type(build_optimizer(model, name="torch.optim.RAdam", lr=1e-3)) is torch.optim.RAdam
    with pytest.raises(ConfigError, match="sgd, adam, adamw"):
        build_optimizer(model, name="lamb")
    with pytest.raises(ConfigError, match="momentum"):
        build_optimizer(model, name="adamw", momentum=0.9)


def test_poly_lr_at_start_middle_and_end() -> None:
    scheduler = PolyWithWarmup(one_parameter_optimizer(0.1), total_steps=10, power=0.9)
    lrs = lrs_over(scheduler, 10)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[5] == pytest.approx(0.1 * 0.5**0.9)
    assert lrs[7] == pytest.approx(0.1 * (1 - 7 / 10) ** 0.9)
    assert lrs[10] == 0.0


def test_poly_linear_warmup() -> None:
    scheduler = PolyWithWarmup(
        one_parameter_optimizer(0.1), total_steps=10, warmup_steps=4, warmup_start_factor=0.01
    )
    lrs = lrs_over(scheduler, 10)
    assert lrs[0] == pytest.approx(0.1 * 0.01)
    assert lrs[2] == pytest.approx(0.1 * (0.01 + 0.99 * 2 / 4))
    assert lrs[4] == pytest.approx(0.1)  # decay starts where warmup ends
    assert lrs[7] == pytest.approx(0.1 * (1 - 3 / 6) ** 0.9)
    assert lrs[10] == 0.0
    fraction = PolyWithWarmup(one_parameter_optimizer(0.1), total_steps=10, warmup_fraction=0.2)
    assert lrs_over(fraction, 2)[2] == pytest.approx(0.1)


def test_cosine_endpoints_and_middle() -> None:
    scheduler = cosine_with_warmup(one_parameter_optimizer(0.1), total_steps=10, min_lr_ratio=0.1)
    lrs = lrs_over(scheduler, 10)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[5] == pytest.approx(0.1 * (0.1 + 0.9 * 0.5))
    assert lrs[10] == pytest.approx(0.01)
    assert lrs[3] == pytest.approx(0.1 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.3))))


def test_schedules_scale_every_group(model: nn.Module) -> None:
    optimizer = build_optimizer(model, lr=0.01, head_lr_mult=10.0)
    scheduler = PolyWithWarmup(optimizer, total_steps=4)
    optimizer.step()
    scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx(
        [0.01 * 0.75**0.9, 0.1 * 0.75**0.9]
    )


def test_poly_state_round_trip_resumes_the_schedule() -> None:
    scheduler = PolyWithWarmup(one_parameter_optimizer(), total_steps=20, warmup_steps=5)
    lrs_over(scheduler, 7)
    # as Lightning resumes: build both, then restore the optimizer, then the scheduler
    resumed = PolyWithWarmup(
        one_parameter_optimizer(), total_steps=1
    )  # settings come from the state
    resumed.optimizer.load_state_dict(scheduler.optimizer.state_dict())
    resumed.load_state_dict(scheduler.state_dict())
    assert lrs_over(resumed, 3) == pytest.approx(lrs_over(scheduler, 3))


@pytest.mark.parametrize("config_name", ["poly", "cosine"])
def test_scheduler_configs_take_optimizer_and_total_steps(config_name: str) -> None:
    cfg = OmegaConf.load(config_dir() / "scheduler" / f"{config_name}.yaml")
    scheduler = instantiate(cfg)(one_parameter_optimizer(0.1), total_steps=100)
    lrs = lrs_over(scheduler, 100)
    assert lrs[0] == pytest.approx(0.1) and lrs[100] == 0.0


def test_scheduler_none_gives_the_module_no_schedule() -> None:
    from bus_seg.config import compose_config
    from bus_seg.training.builders import build_module

    module = build_module(compose_config(["scheduler=none", "model=tiny", "optimizer.lr=0.01"]))
    configured = module.configure_optimizers()
    assert set(configured) == {"optimizer"}
    assert all(group["lr"] == 0.01 for group in configured["optimizer"].param_groups)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"total_steps": 0},
        {"total_steps": float("inf")},
        {"total_steps": 10, "warmup_steps": 10},
        {"total_steps": 10, "warmup_steps": 2, "warmup_fraction": 0.1},
        {"total_steps": 10, "power": 0.0},
        {"total_steps": 10, "warmup_start_factor": 0.0},
    ],
)
def test_bad_schedule_settings_raise_config_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        PolyWithWarmup(one_parameter_optimizer(), **kwargs)
