"""The callbacks exact resume depends on are built whatever the callbacks group holds."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl

from bus_seg.training.builders import build_callbacks
from bus_seg.training.callbacks import (
    AggregatorStatesInCheckpoint,
    RandomStateInCheckpoint,
    TrainLoaderPositionInCheckpoint,
)
from bus_seg.training.resume import DEFAULT_EVERY_N_TRAIN_STEPS, LastCheckpoint

STATES = (RandomStateInCheckpoint, TrainLoaderPositionInCheckpoint, AggregatorStatesInCheckpoint)
CUSTOM = [
    "callbacks=none",
    # a custom group: a best-model checkpoint of its own, and an old copy of a state callback
    "+callbacks.best._target_=pytorch_lightning.callbacks.ModelCheckpoint",
    "+callbacks.best.monitor=val/dice",
    "+callbacks.best.mode=max",
    "+callbacks.random_state._target_=bus_seg.training.callbacks.RandomStateInCheckpoint",
]


@pytest.mark.parametrize(
    ("overrides", "steps"),
    [
        (["callbacks=none"], DEFAULT_EVERY_N_TRAIN_STEPS),
        (CUSTOM, DEFAULT_EVERY_N_TRAIN_STEPS),
        (["callbacks=default", "callbacks.step_checkpoint.every_n_train_steps=7"], 7),
        (["callbacks=early_stopping"], DEFAULT_EVERY_N_TRAIN_STEPS),
    ],
    ids=["empty", "custom", "default", "early_stopping"],
)
def test_resume_callbacks_are_always_built(
    compose_config, overrides: list[str], steps: int
) -> None:
    cfg = compose_config("data=synthetic", *overrides)
    built = build_callbacks(cfg)
    for kind in STATES:
        assert sum(type(c) is kind for c in built) == 1, kind.__name__
    last = [c for c in built if isinstance(c, LastCheckpoint)]
    checkpoints = Path(cfg.paths.output_dir) / "checkpoints"
    assert [(c._every_n_epochs, c._every_n_train_steps) for c in last] == [(1, 0), (0, steps)]
    assert all(c.save_last and c.save_top_k == 0 and Path(c.dirpath) == checkpoints for c in last)
    pl.Trainer(callbacks=built, logger=False, accelerator="cpu", devices=1)  # accepted as a set


def test_a_custom_group_keeps_its_own_callbacks(compose_config) -> None:
    built = build_callbacks(compose_config("data=synthetic", *CUSTOM))
    trainer = pl.Trainer(callbacks=built, logger=False, accelerator="cpu", devices=1)
    assert trainer.checkpoint_callback.monitor == "val/dice", "the group's best model is tested"


def test_a_trainer_without_checkpointing_gets_no_last_checkpoint(compose_config) -> None:
    """``debug=fdr`` (``trainer.enable_checkpointing=false``) writes no checkpoint at all."""
    built = build_callbacks(compose_config("data=synthetic", "debug=fdr"))
    assert not [c for c in built if isinstance(c, LastCheckpoint)]
    assert {type(c) for c in built} >= set(STATES)
