"""The files a run writes into its output folder, and the line that says where they are."""

from __future__ import annotations

import fnmatch
import secrets
import string
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from bus_seg.io.atomic import atomic_path, write_text_atomic
from bus_seg.io.csv_cells import neutralise_formulas
from bus_seg.metrics_file import json_number, metrics_document
from bus_seg.provenance import pip_freeze


@dataclass(frozen=True)
class RunOutputs:
    """Paths inside a run's output folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def split(self) -> Path:
        return self.root / "split.csv"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def evaluation(self) -> Path:
        return self.root / "test"

    @property
    def wandb_run_id_file(self) -> Path:
        return self.root / "wandb_run_id.txt"

    def wandb_run_id(self, *, write: bool = True) -> str:
        """The W&B run id of this folder: the stored one, or a new one stored for later restarts.

        A run restarted in the same folder (``ckpt_path=last``, automatic resume, a requeued
        cluster job) thus continues the same W&B run.

        Args:
            write: store a new id (False on ranks other than 0, which never log to W&B).
        """
        path = self.wandb_run_id_file
        if path.is_file() and (stored := path.read_text(encoding="utf-8").strip()):
            return stored
        run_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
        if write:
            write_text_atomic(path, run_id + "\n")
        return run_id

    def write_split(self, table: pd.DataFrame) -> None:
        with atomic_path(self.split) as tmp:
            neutralise_formulas(table).to_csv(tmp, index=False)

    @staticmethod
    def config_summary(cfg: DictConfig) -> dict[str, Any]:
        """The few settings a report reader needs to tell runs apart."""
        return {
            "model": cfg.model.get("name"),
            "data": cfg.data.get("_target_", "").rsplit(".", 1)[-1],
            "image_size": cfg.data.get("image_size"),
            "loss": cfg.loss.get("_target_", "").rsplit(".", 1)[-1] if cfg.get("loss") else None,
            "regularisers": ", ".join(cfg.loss.get("regularisers") or {})
            if cfg.get("loss")
            else None,
            # training labels: the strip, or weak region knowledge added (not histology)
            "labels": cfg.data.get("labels"),
            "weak_labels": cfg.data.get("weak_labels"),
            "optimizer": cfg.optimizer.get("name"),
            "lr": cfg.optimizer.get("lr"),
            "max_epochs": cfg.trainer.get("max_epochs"),
            "seed": cfg.seed,
            "registration": cfg.get("registration", {}).get("placement")
            if cfg.get("registration")
            else None,
        }

    def metrics_document(
        self, metrics: dict[str, float], cfg: DictConfig, trainer: pl.Trainer
    ) -> dict[str, Any]:
        """Contents of ``metrics.json`` (:mod:`bus_seg.metrics_file` layout): metrics, which
        checkpoint and epoch each comes from, where things are, and what made them."""
        checkpoint = trainer.checkpoint_callback
        best = getattr(checkpoint, "best_model_path", "") or None
        tested = trainer.ckpt_path or cfg.get("ckpt_path") or None
        weights = f"checkpoint {tested}" if tested else "weights at the end of training"
        sources = {
            "train/*": "last training epoch",
            "val/*": f"last validation epoch (after {trainer.current_epoch} epochs)",
            "val/*_best": "best value over the validation epochs",
            "test/*": f"{weights}, scored at each image's native resolution",
            "test/net_*": f"{weights}, scored at the network input size",
        }
        sources = {
            pattern: text
            for pattern, text in sources.items()
            if any(fnmatch.fnmatch(name, pattern) for name in metrics)
        }
        return metrics_document(
            metrics,
            sources,
            run_name=run_name(cfg),
            best_checkpoint=best,
            best_checkpoint_score=json_number(getattr(checkpoint, "best_model_score", None)),
            monitor=getattr(checkpoint, "monitor", None),
            tested_checkpoint=tested,
            last_checkpoint=str(self.checkpoints / "last.ckpt")
            if (self.checkpoints / "last.ckpt").is_file()
            else None,
            evaluation_dir=str(self.evaluation) if self.evaluation.is_dir() else None,
            epochs_completed=trainer.current_epoch,
            seed=cfg.seed,
            split_seed=cfg.get("data", {}).get("split_seed", cfg.get("data", {}).get("seed")),
            weak_labels=cfg.get("data", {}).get("weak_labels", "none"),
            task_name=cfg.task_name,
        )

    def write_pip_freeze(self) -> Path:
        """``pip_freeze.txt``: every installed distribution and version (read without pip)."""
        return write_text_atomic(self.root / "pip_freeze.txt", pip_freeze())

    def summary_line(self, trainer: pl.Trainer) -> str:
        """A final line saying where metrics, the per-image table, checkpoints and figures are."""
        parts = [f"metrics: {self.metrics}"]
        if (self.evaluation / "per_image.csv").is_file():
            parts.append(f"per-image table: {self.evaluation / 'per_image.csv'}")
            parts.append(
                f"report and figures: {self.evaluation}/ (report.md, confusion.png, overlays/)"
            )
        if self.checkpoints.is_dir():
            parts.append(f"checkpoints: {self.checkpoints}")
        return "[bus_seg] done. " + " | ".join(parts)


def run_name(cfg: DictConfig) -> str:
    """A readable run name for reports and comparisons: experiment and model."""
    parts = [cfg.get("experiment_name"), cfg.model.get("name")]
    return " / ".join(str(p) for p in parts if p) or str(cfg.task_name)


def metrics_to_floats(metrics: dict[str, Any]) -> dict[str, float]:
    """Trainer callback metrics as plain floats."""
    return {k: float(v.item() if isinstance(v, torch.Tensor) else v) for k, v in metrics.items()}


def finish_wandb(loggers: list[Any]) -> None:
    """Finish the W&B run of this job so multirun jobs stay separate runs.

    Called from a ``finally`` block while an exception propagates, it marks the run failed
    (exit code 1); otherwise finished.
    """
    if any(type(logger).__name__ == "WandbLogger" for logger in loggers):
        import wandb

        wandb.finish(exit_code=1 if sys.exc_info()[0] is not None else 0)
