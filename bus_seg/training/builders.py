"""Build the module, callbacks and loggers of a run from its composed config."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig

from bus_seg.training.callbacks import ConfigInCheckpoint
from bus_seg.training.module import SegmentationModule


def build_module(cfg: DictConfig) -> SegmentationModule:
    """The LightningModule of ``cfg.model``, ``cfg.loss``, ``cfg.optimizer`` and ``cfg.scheduler``."""
    scheduler = cfg.get("scheduler")
    return SegmentationModule(
        net=instantiate(cfg.model),
        loss=instantiate(cfg.loss),
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(scheduler) if scheduler else None,
        mean=cfg.data.get("mean", 0.449),
        std=cfg.data.get("std", 0.226),
    )


def build_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    """Every callback in ``cfg.callbacks`` plus :class:`ConfigInCheckpoint`."""
    callbacks: list[pl.Callback] = [ConfigInCheckpoint(cfg)]
    for conf in (cfg.get("callbacks") or {}).values():
        if conf is not None and "_target_" in conf:
            callbacks.append(instantiate(conf))
    return callbacks


def build_loggers(logger_cfg: DictConfig | None) -> list[Any]:
    """Every logger in ``cfg.logger`` (none when the group is null)."""
    return [instantiate(conf) for conf in (logger_cfg or {}).values() if conf is not None and "_target_" in conf]
