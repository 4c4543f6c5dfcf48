"""Callbacks of bus_seg runs."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

CONFIG_KEY = "bus_seg_config"


def plain_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved run config as plain containers, without Hydra's own ``hydra`` node."""
    return {key: OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key] for key in cfg if key != "hydra"}


class ConfigInCheckpoint(pl.Callback):
    """Store the run's resolved config (plain containers) in every checkpoint.

    ``bus-seg-eval`` and ``bus-seg-predict`` rebuild the model and data from it, and the checkpoint
    still loads with ``torch.load(weights_only=True)``.
    """

    def __init__(self, cfg: DictConfig) -> None:
        self.config = plain_config(cfg)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[CONFIG_KEY] = self.config


class RandomStateInCheckpoint(pl.Callback):
    """Save the global random states (torch, CUDA, NumPy, Python) in every checkpoint.

    When training resumes from a checkpoint, the states are put back right before the first
    training batch, so dropout and any other global randomness continue as in an uninterrupted
    run (the data order and augmentation have their own seeds: :mod:`bus_seg.data.sampling`).
    The states are plain tensors, lists and tuples, so checkpoints still load with
    ``torch.load(weights_only=True)``.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        name, keys, position, has_gauss, cached_gaussian = np.random.get_state()
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached_gaussian],
            "python": random.getstate(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        torch.set_rng_state(state["torch"])
        name, keys, position, has_gauss, cached_gaussian = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian))
        random.setstate(state["python"])
        if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
