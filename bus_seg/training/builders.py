"""Build the module, callbacks and loggers of a run from its composed config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only

from bus_seg.training.callbacks import ConfigInCheckpoint
from bus_seg.training.module import SegmentationModule
from bus_seg.training.run_outputs import RunOutputs


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
    """Every logger in ``cfg.logger`` (none when the group is null).

    A W&B logger without an explicit ``id`` takes its output folder's run id (see
    :meth:`RunOutputs.wandb_run_id`): a restarted run continues its W&B run (``resume="allow"``,
    the WandbLogger default) and each multirun job, in its own folder, gets its own run.
    """
    loggers = []
    for conf in (logger_cfg or {}).values():
        if conf is None or "_target_" not in conf:
            continue
        if str(conf._target_).endswith("WandbLogger") and not conf.get("id"):
            outputs = RunOutputs(Path(str(conf.get("save_dir") or ".")))
            loggers.append(
                instantiate(conf, id=outputs.wandb_run_id(write=rank_zero_only.rank == 0))
            )
        else:
            loggers.append(instantiate(conf))
    return loggers
