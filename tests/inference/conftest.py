"""A real (tiny) checkpoint: one training batch of a bus-seg-train run on the synthetic data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from bus_seg.io.images import write_png
from bus_seg.training.train import train

RUN_OVERRIDES = [
    "data=synthetic",
    "data.num_images=8",
    "data.size=64",
    "data.image_size=64",
    "data.batch_size=4",
    "data.num_workers=0",
    "trainer=cpu",
    "logger=csv",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=1",
    "test=false",
]


@pytest.fixture(scope="package")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``checkpoints/last.ckpt`` of a one-batch run of the tiny model (64×64 inputs)."""
    root = tmp_path_factory.mktemp("tiny_run")
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="bus_seg.conf", version_base="1.3"):
        cfg = compose(config_name="train", overrides=RUN_OVERRIDES, return_hydra_config=True)
    GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.paths.output_dir = str(root / "run")
        cfg.paths.cache_dir = str(root / "cache")
        cfg.hydra.runtime.output_dir = str(root / "run")
    train(cfg)
    return root / "run" / "checkpoints" / "last.ckpt"


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Three gray PNGs of different, non-square sizes (one in a subfolder) and a BUSI-style mask."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    for name, shape in {"a": (50, 90), "b": (120, 80), "sub/c": (64, 64)}.items():
        write_png(folder / f"{name}.png", rng.integers(0, 256, shape, dtype=np.uint8))
    write_png(folder / "a_mask.png", np.zeros((50, 90), dtype=np.uint8))
    return folder
