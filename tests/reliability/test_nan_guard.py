"""A NaN/inf loss, gradient or weight stops training with the step and batch; last.ckpt stays finite."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from bus_seg.errors import BusSegError
from bus_seg.train import train
from bus_seg.training.module import TrainingDivergedError
from bus_seg.training.nan_guard import NonFiniteGuard, all_finite

# 16 images: 5 training batches of 2 per epoch; a step checkpoint every 2 steps.
RUN = [
    "data=synthetic",
    "data.num_images=16",
    "data.size=32",
    "data.image_size=32",
    "data.batch_size=2",
    "trainer.max_epochs=2",
    "test=false",
    "callbacks.step_checkpoint.every_n_train_steps=2",
    "callbacks.progress_bar=null",
    "callbacks.model_summary=null",
]


def poisoned(step: int, mode: str) -> list[str]:
    """Overrides for the test-only loss of ``tests/helpers/poison.py`` (NaN at the ``step``-th
    training call)."""
    return [
        "loss._target_=tests.helpers.poison.PoisonedLoss",
        f"+loss.step={step}",
        f"+loss.mode={mode}",
    ]


def last_checkpoint(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


def assert_finite_weights(checkpoint: dict) -> None:
    weights = [v for v in checkpoint["state_dict"].values() if v.is_floating_point()]
    assert weights and all_finite(weights)


def test_nan_loss_stops_at_its_step_and_keeps_the_last_checkpoint(compose_config) -> None:
    cfg = compose_config(*RUN, *poisoned(3, "loss"))
    with pytest.raises(TrainingDivergedError, match=r"global step 3 \(epoch 0, batch 3\b") as info:
        train(cfg)
    assert "nan" in str(info.value) and "last good checkpoint" in str(info.value)
    kept = last_checkpoint(Path(cfg.paths.output_dir))
    assert kept["global_step"] == 2
    assert_finite_weights(kept)


def test_nan_gradient_stops_before_the_weights_change(compose_config) -> None:
    cfg = compose_config(*RUN, *poisoned(6, "grad"))  # epoch 1, batch 1
    with pytest.raises(
        TrainingDivergedError, match=r"global step 6 \(epoch 1, batch 1.*gradients are not finite"
    ) as info:
        train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    assert str(run_dir / "checkpoints" / "last.ckpt") in str(info.value)
    kept = last_checkpoint(run_dir)
    assert kept["global_step"] == 6  # the step-6 checkpoint was written before step 6 ran
    assert_finite_weights(kept)


def test_a_huge_learning_rate_is_stopped_with_a_clear_message(compose_config) -> None:
    cfg = compose_config(
        *RUN, "optimizer.lr=1e30", "callbacks.step_checkpoint.every_n_train_steps=1"
    )
    with pytest.raises(BusSegError, match=r"global step \d+ \(epoch \d+, batch \d+") as info:
        train(cfg)
    assert re.search("learning rate|optimizer.lr", str(info.value))
    checkpoints = Path(cfg.paths.output_dir) / "checkpoints"
    if (checkpoints / "last.ckpt").is_file():
        assert_finite_weights(last_checkpoint(Path(cfg.paths.output_dir)))


def test_weights_turned_non_finite_are_caught_after_the_step() -> None:
    guard = NonFiniteGuard()
    trainer = SimpleNamespace(global_step=7, current_epoch=1, checkpoint_callbacks=[])
    net = nn.Linear(2, 1)
    guard.on_train_batch_start(trainer, net, {"image_id": ["case_a", "case_b"]}, 2)
    guard.on_train_batch_end(trainer, net, None, None, 2)  # finite: nothing happens
    with torch.no_grad():
        net.weight[0, 1] = float("inf")
    with pytest.raises(
        TrainingDivergedError,
        match=r"global step 7 \(epoch 1, batch 2, images \['case_a', 'case_b'\]\).*weights.*no checkpoint",
    ):
        guard.on_train_batch_end(trainer, net, None, None, 2)
