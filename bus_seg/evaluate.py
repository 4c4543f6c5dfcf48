"""``evaluate(cfg)``: test a checkpoint and write the evaluation report into the run folder.

The task of ``bus-seg-eval`` (``python -m bus_seg.evaluate`` runs that command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from bus_seg.evaluation.callback import EvaluationCallback
from bus_seg.io.atomic import write_json_atomic
from bus_seg.io.checkpoint import load_checkpoint
from bus_seg.training.builders import build_loggers, build_module
from bus_seg.training.run_outputs import RunOutputs, finish_wandb, metrics_to_floats
from bus_seg.training.stored_config import trusted_stored_config


def run_config(cfg: DictConfig, checkpoint: dict[str, Any]) -> DictConfig:
    """The config to evaluate with: the checkpoint's model (it must match the weights), and the
    checkpoint's data unless ``use_run_data=false`` asks for the eval config's ``data``.

    The stored sections are checked by :func:`~bus_seg.training.stored_config.trusted_stored_config`
    before anything is built from them. The model is built without pretrained weights (the
    checkpoint holds them all), and the stored data keep this run's ``cache_dir``, so a stored
    config cannot make the evaluation write outside the folders this run was given.
    """
    stored = trusted_stored_config(checkpoint, cfg.ckpt_path)
    if stored is None:
        return cfg
    merged = cfg.copy()
    with open_dict(merged):
        for section in ("model", "loss", "optimizer"):
            if section in stored:
                merged[section] = stored[section]
        merged.model.pretrained = None
        if cfg.get("use_run_data", True) and "data" in stored:
            data = stored.data
            if "cache_dir" in data and "cache_dir" in cfg.data:
                data.cache_dir = cfg.data.cache_dir
            merged.data = data
    return merged


def evaluate(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Test ``cfg.ckpt_path`` on the test subset and write metrics, tables, figures and report.

    Returns:
        ``(metric_dict, object_dict)`` as :func:`bus_seg.train.train`.
    """
    checkpoint = load_checkpoint(cfg.ckpt_path)
    cfg = run_config(cfg, checkpoint)
    outputs = RunOutputs(Path(cfg.paths.output_dir))
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    model = build_module(cfg)
    model.load_state_dict(checkpoint["state_dict"])
    evaluation = EvaluationCallback.for_run(cfg, outputs, checkpoint=str(cfg.ckpt_path))
    loggers = build_loggers(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=[evaluation])
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


if __name__ == "__main__":
    from bus_seg.cli.eval import main

    main()
