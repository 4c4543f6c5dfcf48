"""Build the module, callbacks and loggers of a run from its composed config."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.utilities import rank_zero_only

from bus_seg.labels import DEFAULT_MEAN, DEFAULT_STD
from bus_seg.training.callbacks import ConfigInCheckpoint
from bus_seg.training.module import SegmentationModule
from bus_seg.training.resume import resume_callbacks
from bus_seg.training.run_outputs import RunOutputs


def build_module(cfg: DictConfig) -> SegmentationModule:
    """The LightningModule of ``cfg.model``, ``cfg.loss``, ``cfg.optimizer`` and ``cfg.scheduler``."""
    scheduler = cfg.get("scheduler")
    return SegmentationModule(
        net=instantiate(cfg.model),
        loss=instantiate(cfg.loss),
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(scheduler) if scheduler else None,
        mean=cfg.data.get("mean", DEFAULT_MEAN),
        std=cfg.data.get("std", DEFAULT_STD),
    )


def build_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    """:class:`ConfigInCheckpoint`, every callback of ``cfg.callbacks``, and the callbacks that
    exact resume depends on (:func:`~bus_seg.training.resume.resume_callbacks`), whatever the
    group holds.

    ``callbacks.step_checkpoint.every_n_train_steps`` sets the interval of the mid-epoch
    ``last.ckpt``; ``trainer.enable_checkpointing=false`` (the debug configs) writes none. A
    group entry of a resume callback's own class is left out: Lightning allows one instance of
    each stateful callback, and the one added here is always there.
    """
    group = cfg.get("callbacks") or {}
    configured = [
        instantiate(conf) for conf in group.values() if conf is not None and "_target_" in conf
    ]
    steps = OmegaConf.select(cfg, "callbacks.step_checkpoint.every_n_train_steps", default=None)
    write_last = OmegaConf.select(cfg, "trainer.enable_checkpointing", default=True) is not False
    resume = resume_callbacks(Path(str(cfg.paths.output_dir)) / "checkpoints", steps, write_last)
    always = {type(callback) for callback in resume}
    kept = [callback for callback in configured if type(callback) not in always]
    return [ConfigInCheckpoint(cfg), *kept, *resume]


RUN_TITLE_SKIPPED = ("hydra", "paths.", "experiment=", "experiment_name=", "logger")


def run_title(group: str) -> str:
    """A tracker's run name: ``group`` and the command line's overrides (Hydra's own keys, paths,
    the experiment and the logger left out), e.g. ``default_pipeline model=unet trainer.max_epochs=3``."""
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    shown = [o for o in overrides if not o.lstrip("+~").startswith(RUN_TITLE_SKIPPED)]
    return " ".join([group, *shown])


def build_loggers(logger_cfg: DictConfig | None) -> list[Any]:
    """Every logger in ``cfg.logger`` (none when the group is null).

    A W&B logger without an explicit ``id`` takes its output folder's run id (see
    :meth:`RunOutputs.wandb_run_id`): a restarted run continues its W&B run (``resume="allow"``,
    the WandbLogger default) and each multirun job, in its own folder, gets its own run. W&B and
    MLflow runs without a name are named by :func:`run_title`; MLflow takes the run's tags.
    """
    loggers = []
    for conf in (logger_cfg or {}).values():
        if conf is None or "_target_" not in conf:
            continue
        target, extra = str(conf._target_), {}
        if target.endswith("WandbLogger"):
            if not conf.get("name"):
                extra["name"] = run_title(str(conf.get("group") or "bus_seg"))
            if not conf.get("id"):
                outputs = RunOutputs(Path(str(conf.get("save_dir") or ".")))
                extra["id"] = outputs.wandb_run_id(write=rank_zero_only.rank == 0)
        elif target.endswith("MLFlowLogger"):
            if not conf.get("run_name"):
                extra["run_name"] = run_title(str(conf.get("experiment_name") or "bus_seg"))
            tags = conf.get("tags")
            if tags is not None and not isinstance(tags, DictConfig):
                conf = copy.deepcopy(conf)
                with open_dict(conf):
                    del conf["tags"]
                extra["tags"] = {str(tag): "true" for tag in tags}
        loggers.append(instantiate(conf, **extra))
    return loggers
