"""``train(cfg)``: build everything from a composed config, fit, test, and write the run's outputs.

The task of ``bus-seg-train`` (``python -m bus_seg.train`` runs that command).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import CSVLogger

from bus_seg.errors import ConfigError, InputError
from bus_seg.evaluation import log_evaluation_to_wandb
from bus_seg.evaluation.callback import EvaluationCallback
from bus_seg.io.atomic import remove_stale_temp_files, write_json_atomic, write_text_atomic
from bus_seg.io.checkpoint import load_checkpoint
from bus_seg.training.builders import build_callbacks, build_loggers, build_module
from bus_seg.training.callbacks import plain_config
from bus_seg.training.run_folder import check_resume_checkpoint, check_run_folder
from bus_seg.training.run_outputs import RunOutputs, finish_wandb, metrics_to_floats

log = logging.getLogger(__name__)


def resolve_ckpt_path(
    ckpt_path: str | None, output_dir: Path, config: dict[str, Any] | None = None
) -> str | None:
    """The checkpoint to resume from.

    ``"last"`` means ``<output_dir>/checkpoints/last.ckpt`` (must exist); None resumes from that file
    automatically when it exists (a restarted run in the same folder); any other value is a path.
    With ``config`` (the run's plain config), the checkpoint must be a bus-seg-train checkpoint
    of the same config apart from the keys that may change on resume (see
    :mod:`bus_seg.training.run_folder`).
    """
    last = output_dir / "checkpoints" / "last.ckpt"
    if ckpt_path in (None, "last"):
        if not last.is_file():
            if ckpt_path == "last":
                raise ConfigError(
                    f"ckpt_path=last but {last} does not exist; run in the folder of the run to resume (hydra.run.dir=<run dir>)"
                )
            return None
        log.info("resuming from %s", last)
        ckpt_path = str(last)
    checkpoint = load_checkpoint(ckpt_path)  # refuses a missing file or one that needs pickle
    if config is not None:
        check_resume_checkpoint(checkpoint, ckpt_path, config)
    return ckpt_path


def train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Fit and test one experiment.

    Args:
        cfg: a composed ``train.yaml`` config.

    Returns:
        ``(metric_dict, object_dict)``: every logged metric as floats, and the built objects
        (``cfg``, ``datamodule``, ``model``, ``trainer``, ``outputs``).
    """
    outputs = RunOutputs(Path(cfg.paths.output_dir))
    remove_stale_temp_files(outputs.root)  # left by a killed run in this folder
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    model = build_module(cfg)
    loggers = build_loggers(cfg.get("logger"))
    evaluation = EvaluationCallback.for_run(cfg, outputs)
    trainer: pl.Trainer = instantiate(
        cfg.trainer, callbacks=[*build_callbacks(cfg), evaluation], logger=loggers or False
    )
    config = plain_config(cfg)
    check_run_folder(outputs.config, config, cfg.get("ckpt_path"))
    resume_from = (
        resolve_ckpt_path(cfg.get("ckpt_path"), outputs.root, config)
        if cfg.get("train", True)
        else None
    )
    for logger in loggers:
        logger.log_hyperparams(config)
    write_text_atomic(outputs.config, OmegaConf.to_yaml(config))
    outputs.write_pip_freeze()
    objects = {
        "cfg": cfg,
        "datamodule": datamodule,
        "model": model,
        "trainer": trainer,
        "outputs": outputs,
    }
    try:
        if cfg.get("train", True):
            trainer.fit(
                model,
                datamodule=datamodule,
                ckpt_path=resume_from,
                weights_only=True,
            )
        metrics = metrics_to_floats(trainer.callback_metrics)
        if trainer.is_global_zero and datamodule.subsets:
            outputs.write_split(datamodule.split_table())
        if cfg.get("test", True):
            best = (
                trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            )
            continue_csv_logs(loggers)
            trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
            metrics.update(metrics_to_floats(trainer.callback_metrics))
            result = evaluation.result
            if result is not None:
                check_test_scored(result.per_image)
                for logger in loggers:
                    _log_evaluation(logger, result, cfg)
        if trainer.is_global_zero:
            write_json_atomic(outputs.metrics, outputs.metrics_document(metrics, cfg, trainer))
            print(outputs.summary_line(trainer))
    finally:
        finish_wandb(loggers)
    return metrics, objects


def check_test_scored(per_image: Any) -> None:
    """Raise if the test set has no labelled pixel: nothing was scored, so no score may stand.

    Args:
        per_image: the evaluation's per-image table (columns ``tp``, ``fp``, ``tn``, ``fn``).

    Raises:
        InputError: every test image is unlabelled (all 255).
    """
    labelled = int(per_image[["tp", "fp", "tn", "fn"]].to_numpy().sum()) if len(per_image) else 0
    if labelled == 0:
        raise InputError(
            f"the test set ({len(per_image)} images) has no labelled pixel (every label is 255, "
            "not sampled), so nothing was scored and no metric is written; check the "
            "registration report (strip_pixels, us_spacing_mm, core_diameter_mm) and the split"
        )


def continue_csv_logs(loggers: list[Any]) -> None:
    """Give each CSV logger the columns its ``metrics.csv`` already has on disk.

    Lightning's CSV writer keeps its column list per process; under ``ddp_spawn`` the test stage
    runs in new processes that never saw the fit stage's columns and would rewrite the file
    with the test columns only.
    """
    for logger in loggers:
        if not isinstance(logger, CSVLogger):
            continue
        writer = logger.experiment
        path = Path(writer.metrics_file_path)
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as handle:
                header = next(csv.reader(handle), [])
            writer.metrics_keys = sorted(set(writer.metrics_keys) | set(header))


def _log_evaluation(logger: Any, result: Any, cfg: DictConfig) -> None:
    if type(logger).__name__ == "WandbLogger":
        log_evaluation_to_wandb(result, logger.experiment, log_images=cfg.evaluation.log_images)


if __name__ == "__main__":
    from bus_seg.cli.train import main

    main()
