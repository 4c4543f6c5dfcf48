"""Shared fixtures: composed Hydra configs with CPU overrides, shared-data location, quiet threads."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, open_dict

from bus_seg.config import compose_config as compose_packaged_config
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
        pytest.skip(
            f"shared public data not found at {root}; set BUS_SEG_DATA to the shared/data folder"
        )
    return root


@pytest.fixture
def compose_config(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose a packaged entry config (default ``train``) with CPU overrides and tmp output paths."""

    def _compose(*overrides: str, config_name: str = "train") -> DictConfig:
        cfg = compose_packaged_config(
            [*CPU_OVERRIDES, *overrides], config_name, output_dir=tmp_path / "run"
        )
        with open_dict(cfg):
            cfg.paths.log_dir = str(tmp_path / "logs")
            cfg.paths.cache_dir = str(tmp_path / "cache")
        return cfg

    return _compose
