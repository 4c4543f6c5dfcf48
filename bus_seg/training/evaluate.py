"""``evaluate(cfg)``: test a checkpoint and write the evaluation report into the run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from bus_seg.errors import ConfigError, InputError
from bus_seg.io.atomic import write_json_atomic
from bus_seg.training.builders import build_loggers, build_module
from bus_seg.training.callbacks import CONFIG_KEY
from bus_seg.training.run_outputs import RunOutputs, finish_wandb, metrics_to_floats, run_name


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; refuse one that needs pickle.

    Raises:
        ConfigError: the file is missing, or it holds objects that only pickle can load.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"ckpt_path={path}: no such checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError or RuntimeError variants
        raise InputError(
            f"refusing to load: the checkpoint needs pickle to load ({err.__class__.__name__}). Only checkpoints "
            "written by bus_seg or plain state dicts are loaded (weights_only=True); convert others to safetensors",
            path,
        ) from err


def run_config(cfg: DictConfig, checkpoint: dict[str, Any]) -> DictConfig:
    """The config to evaluate with: the checkpoint's model (it must match the weights), and the
    checkpoint's data unless ``use_run_data=false`` asks for the eval config's ``data``."""
    stored = checkpoint.get(CONFIG_KEY)
    if stored is None:
        return cfg
    stored_cfg = OmegaConf.create(stored)
    merged = cfg.copy()
    with open_dict(merged):
        merged.model = stored_cfg.model
        merged.loss = stored_cfg.loss
        merged.optimizer = stored_cfg.optimizer
        if cfg.get("use_run_data", True):
            merged.data = stored_cfg.data
    return merged


def evaluate(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Test ``cfg.ckpt_path`` on the test subset and write metrics, tables, figures and report.

    Returns:
        ``(metric_dict, object_dict)`` as :func:`bus_seg.training.train.train`.
    """
    checkpoint = load_checkpoint(cfg.ckpt_path)
    cfg = run_config(cfg, checkpoint)
    outputs = RunOutputs(Path(cfg.paths.output_dir))
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    model = build_module(cfg)
    model.load_state_dict(checkpoint["state_dict"])
    model.evaluation_dir = outputs.evaluation
    model.evaluation_options = {
        "run_name": run_name(cfg),
        "config_summary": outputs.config_summary(cfg),
        "max_overlays": cfg.evaluation.max_overlays,
    }
    loggers = build_loggers(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=[])
    try:
        trainer.test(model, datamodule=datamodule)
        metrics = metrics_to_floats(trainer.callback_metrics)
        if trainer.is_global_zero:
            document = outputs.metrics_document(metrics, cfg, trainer)
            document["evaluated_checkpoint"] = str(cfg.ckpt_path)
            write_json_atomic(outputs.metrics, document)
            print(outputs.summary_line(trainer))
    finally:
        finish_wandb(loggers)
    return metrics, {"cfg": cfg, "datamodule": datamodule, "model": model, "trainer": trainer}
