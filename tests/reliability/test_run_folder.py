"""A reused run folder with another config is refused; resume checks the checkpoint's config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from bus_seg.errors import ConfigError, InputError
from bus_seg.io.checkpoint import CONFIG_KEY
from bus_seg.train import train
from bus_seg.training.run_folder import check_resume_checkpoint, config_differences
from tests.helpers.configs import SYNTHETIC_64


def test_config_differences_ignore_what_may_change_on_resume() -> None:
    old = {
        "seed": 1,
        "trainer": {"max_epochs": 1, "devices": 1, "precision": 32},
        "logger": {"a": 1},
    }
    new = {"seed": 1, "trainer": {"max_epochs": 5, "devices": 2, "precision": 16}, "logger": None}
    assert config_differences(old, new) == ["trainer.precision"]
    assert config_differences(old, {**old, "model": {"name": "unet"}}) == ["model"]


def test_resuming_from_a_foreign_checkpoint_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match="lacks loops, bus_seg_config.*not written by bus-seg-train"
    ):
        check_resume_checkpoint({"state_dict": {}}, tmp_path / "last.ckpt", {})


def test_a_reused_run_folder_with_another_config_is_refused(compose_config) -> None:
    first = compose_config(*SYNTHETIC_64, "trainer.max_epochs=1", "test=false")
    train(first)
    out = Path(first.paths.output_dir)
    config_before = (out / "config.yaml").read_text()
    other = compose_config(*SYNTHETIC_64, "trainer.max_epochs=1", "test=false", "optimizer.lr=0.5")
    with pytest.raises(
        ConfigError, match=r"another config \(optimizer.lr: .* -> 0.5\).*new run folder"
    ):
        train(other)
    assert (out / "config.yaml").read_text() == config_before, "the old run's config is kept"
    # explicit ckpt_path: the checkpoint's own config is checked
    explicit = compose_config(
        *SYNTHETIC_64, "trainer.max_epochs=2", "test=false", "optimizer.lr=0.5", "ckpt_path=last"
    )
    with pytest.raises(ConfigError, match="trained with another config .*optimizer.lr"):
        train(explicit)
    # the same config continues (a requeued job); max_epochs may change
    same = compose_config(*SYNTHETIC_64, "trainer.max_epochs=2", "test=false")
    _, objects = train(same)
    assert objects["trainer"].current_epoch == 2


def test_a_foreign_last_ckpt_gets_a_clear_message(compose_config) -> None:
    cfg = compose_config(*SYNTHETIC_64, "trainer.max_epochs=1", "test=false")
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    torch.save({"weight": torch.zeros(2)}, last)
    with pytest.raises(InputError, match="lacks state_dict, loops, bus_seg_config"):
        train(cfg)
    checkpoint = {"state_dict": {}, "loops": {}, CONFIG_KEY: {"seed": 1}}
    with open_dict(cfg):
        cfg.seed = 2
    with pytest.raises(ConfigError, match="seed: 1 -> 2"):
        check_resume_checkpoint(checkpoint, last, {"seed": 2})
