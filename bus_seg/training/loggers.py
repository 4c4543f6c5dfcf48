"""Experiment trackers with what bus_seg adds to Lightning's: checkpoint artifacts that carry the
metrics they were saved with, and the test evaluation (report, figures, tables) as media or
artifacts once it is written.

Lightning calls ``finalize`` at the end of ``fit`` and of ``test``; by the end of ``test`` the
evaluation folder (``<run>/test``) holds the report and figures, which are then uploaded once.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import MLFlowLogger as _MLFlowLogger
from pytorch_lightning.loggers import WandbLogger as _WandbLogger
from pytorch_lightning.loggers.utilities import _scan_checkpoints
from pytorch_lightning.utilities import rank_zero_only

from bus_seg.io.checkpoint import load_checkpoint

REPORT_FILES = ("report.html", "report.md")
# Figures of pooled counts only: pictures of patients' images go up only with
# evaluation.log_images (bus_seg.evaluation.wandb_logging).
FIGURES = ("confusion*.png",)
IMAGE_TAG = re.compile(r"<img\b[^>]*>", re.I)


class MetricHistory:
    """The logged metrics by global step, to tell which values a checkpoint was saved with."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, dict[str, float]]] = []

    def add(self, metrics: dict[str, Any], step: int | None) -> None:
        values = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
        self.steps.append((-1 if step is None else int(step), values))

    def at(self, step: int) -> dict[str, float]:
        """The latest value of every metric logged at or before ``step``."""
        latest: dict[str, float] = {}
        for logged_step, values in sorted(self.steps, key=lambda item: item[0]):
            if logged_step <= step:
                latest.update(values)
        return latest


def checkpoint_metadata(
    path: str, score: Any, callback: ModelCheckpoint, history: MetricHistory
) -> dict[str, Any]:
    """Artifact metadata of a checkpoint: its epoch and step, the monitored score, and every
    metric as it was when the checkpoint was written."""
    stored = load_checkpoint(path, mmap=True)
    step = int(stored.get("global_step", 0))
    return {
        "score": score.item() if isinstance(score, torch.Tensor) else score,
        "monitor": callback.monitor,
        "epoch": int(stored.get("epoch", 0)),
        "global_step": step,
        "original_filename": Path(path).name,
        "metrics": history.at(step),
    }


def new_evaluation_files(evaluation_dir: Path | None, since: float) -> list[Path]:
    """The report and figures of ``evaluation_dir`` written after ``since`` (epoch seconds)."""
    if evaluation_dir is None or not evaluation_dir.is_dir():
        return []
    files = [evaluation_dir / name for name in REPORT_FILES]
    files += [p for pattern in FIGURES for p in sorted(evaluation_dir.glob(pattern))]
    return [p for p in files if p.is_file() and p.stat().st_mtime >= since]


class WandbLogger(_WandbLogger):
    """Lightning's W&B logger; checkpoint artifacts carry their metrics, and the test report and
    figures go up as media once written.

    Args:
        evaluation_dir: the run's evaluation folder (``<run>/test``).
        **kwargs: :class:`pytorch_lightning.loggers.WandbLogger` arguments.
    """

    def __init__(self, evaluation_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.evaluation_dir = Path(evaluation_dir) if evaluation_dir else None
        self.history = MetricHistory()
        self.started = time.time()
        self.uploaded: set[Path] = set()

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        self.history.add(metrics, step)
        super().log_metrics(metrics, step)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        super().finalize(status)
        if status == "success" and self._experiment is not None:
            self.log_evaluation_media()

    def log_evaluation_media(self) -> None:
        """The report (HTML) and figures of the evaluation folder, each once."""
        import wandb

        payload: dict[str, Any] = {}
        for path in new_evaluation_files(self.evaluation_dir, self.started):
            if path in self.uploaded:
                continue
            self.uploaded.add(path)
            if path.name == "report.html":
                # pictures are referenced by relative paths that do not travel with the HTML
                html = IMAGE_TAG.sub("", path.read_text(encoding="utf-8"))
                payload["test/report"] = wandb.Html(html)
            elif path.suffix == ".png":
                payload[f"test/figures/{path.stem}"] = wandb.Image(str(path), caption=path.name)
        if payload:
            self.experiment.log(payload)

    def _scan_and_log_checkpoints(self, checkpoint_callback: ModelCheckpoint) -> None:
        import wandb

        for modified, path, score, _ in _scan_checkpoints(
            checkpoint_callback, self._logged_model_time
        ):
            if not self._checkpoint_name:
                self._checkpoint_name = f"model-{self.experiment.id}"
            artifact = wandb.Artifact(
                name=self._checkpoint_name,
                type="model",
                metadata=checkpoint_metadata(path, score, checkpoint_callback, self.history),
            )
            artifact.add_file(path, name="model.ckpt", policy=self.add_file_policy)
            best = path == checkpoint_callback.best_model_path
            last = Path(path).name.startswith(checkpoint_callback.CHECKPOINT_NAME_LAST)
            aliases = ["latest", *(["best"] if best else []), *(["last"] if last else [])]
            self.experiment.log_artifact(artifact, aliases=aliases)
            self._logged_model_time[path] = modified


class MLFlowLogger(_MLFlowLogger):
    """Lightning's MLflow logger; the test evaluation folder (report, tables, figures) goes up as
    artifacts under ``evaluation/`` once written.

    Args:
        evaluation_dir: the run's evaluation folder (``<run>/test``).
        **kwargs: :class:`pytorch_lightning.loggers.MLFlowLogger` arguments.
    """

    def __init__(self, evaluation_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.evaluation_dir = Path(evaluation_dir) if evaluation_dir else None
        self.started = time.time()

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        evaluated = self.evaluation_dir is not None and any(
            p.stat().st_mtime >= self.started for p in self.evaluation_dir.glob("per_image.csv")
        )
        if evaluated and status == "success" and self._initialized:
            self.experiment.log_artifacts(self.run_id, str(self.evaluation_dir), "evaluation")
        super().finalize(status)
