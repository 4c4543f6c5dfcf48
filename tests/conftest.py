"""Shared fixtures: composed Hydra configs with CPU overrides, shared-data location, quiet threads."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from bus_seg.paths import shared_data_root

torch.set_num_threads(1)
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

CPU_OVERRIDES = ["trainer=cpu", "logger=csv", "data.num_workers=0"]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``$BUS_SEG_DATA`` (default ../shared/data); tests that need it skip with a reason if it is absent."""
    root = shared_data_root()
    if not (root / "SOURCES.md").is_file():
        pytest.skip(f"shared public data not found at {root}; set BUS_SEG_DATA to the shared/data folder")
    return root


@pytest.fixture
def compose_config(tmp_path: Path) -> Iterator[Callable[..., DictConfig]]:
    """Compose a packaged entry config (default ``train``) with CPU overrides and tmp output paths."""

    def _compose(*overrides: str, config_name: str = "train") -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_module(config_module="bus_seg.conf", version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=[*CPU_OVERRIDES, *overrides], return_hydra_config=True)
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path / "run")
            cfg.paths.log_dir = str(tmp_path / "logs")
            cfg.paths.cache_dir = str(tmp_path / "cache")
            cfg.hydra.runtime.output_dir = str(tmp_path / "run")
        return cfg

    yield _compose
    GlobalHydra.instance().clear()
