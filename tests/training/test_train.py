"""End-to-end training on the built-in data: fast_dev_run, outputs, resume, library use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import open_dict

from bus_seg.errors import ConfigError
from bus_seg.train import train
from tests.helpers.configs import SYNTHETIC_64


def test_fast_dev_run_trains_and_tests(compose_config) -> None:
    cfg = compose_config(*SYNTHETIC_64, "trainer.fast_dev_run=true")
    metrics, objects = train(cfg)
    assert {"test/dice", "test/pixel_acc", "test/recall", "val/dice_best"} <= set(metrics)
    out = Path(cfg.paths.output_dir)
    document = json.loads((out / "metrics.json").read_text())
    assert document["metrics"]["test/dice"] == pytest.approx(metrics["test/dice"])
    assert (out / "test" / "per_image.csv").is_file() and (out / "split.csv").is_file()


def test_short_run_writes_checkpoints_and_resumes_next_epoch(compose_config) -> None:
    cfg = compose_config(*SYNTHETIC_64, "trainer.max_epochs=1", "test=false")
    train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert last.is_file()
    resumed = compose_config(*SYNTHETIC_64, "trainer.max_epochs=2", "test=false", "ckpt_path=last")
    with open_dict(resumed):
        resumed.paths.output_dir = cfg.paths.output_dir
    _, objects = train(resumed)
    trainer = objects["trainer"]
    assert trainer.current_epoch == 2, "resuming from epoch 1 runs exactly one more epoch"
    logs = sorted((Path(cfg.paths.output_dir) / "csv").glob("version_*/metrics.csv"))
    assert len(logs) == 2, "the resumed run logs into a new version beside the first one"
    assert all("val/dice" in log.read_text() for log in logs)


def test_ckpt_path_last_without_checkpoint_is_clear(compose_config) -> None:
    cfg = compose_config(*SYNTHETIC_64, "trainer.fast_dev_run=true", "ckpt_path=last")
    with pytest.raises(ConfigError, match="ckpt_path=last"):
        train(cfg)


def test_library_use_without_hydra(tmp_path: Path) -> None:
    import torch

    from bus_seg.data import SyntheticDataModule
    from bus_seg.models import build_model

    net = build_model("fcn_resnet50", in_channels=1)
    datamodule = SyntheticDataModule(cache_dir=str(tmp_path), num_images=8, size=64, image_size=64)
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    with torch.no_grad():
        out = net.eval()(batch["image"])
    assert out["out"].shape[-2:] == batch["label"].shape[-2:]
