"""Callbacks of bus_seg runs."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
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
