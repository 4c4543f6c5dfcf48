"""Callbacks of bus_seg runs."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from torchmetrics.aggregation import BaseAggregator

from bus_seg.data.sampling import ResumableDataLoader
from bus_seg.io.checkpoint import CONFIG_KEY


def plain_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved run config as plain containers, without Hydra's own ``hydra`` node."""
    return {
        key: OmegaConf.to_container(cfg[key], resolve=True)
        if OmegaConf.is_config(cfg[key])
        else cfg[key]
        for key in cfg
        if key != "hydra"
    }


class ConfigInCheckpoint(pl.Callback):
    """Store the run's resolved config (plain containers) in every checkpoint.

    ``bus-seg-eval`` and ``bus-seg-predict`` rebuild the model and data from it, and the checkpoint
    still loads with ``torch.load(weights_only=True)``.
    """

    def __init__(self, cfg: DictConfig) -> None:
        self.config = plain_config(cfg)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
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
            "numpy": [
                name,
                torch.from_numpy(keys.astype(np.int64)),
                position,
                has_gauss,
                cached_gaussian,
            ],
            "python": random.getstate(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        torch.set_rng_state(state["torch"])
        name, keys, position, has_gauss, cached_gaussian = state["numpy"]
        np.random.set_state(
            (name, keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian)
        )
        random.setstate(state["python"])
        if (
            "cuda" in state
            and torch.cuda.is_available()
            and len(state["cuda"]) == torch.cuda.device_count()
        ):
            torch.cuda.set_rng_state_all(state["cuda"])


class TrainLoaderPositionInCheckpoint(pl.Callback):
    """Save the training loader's position in the epoch and put it back when training resumes.

    Lightning saves the state of a stateful training loader
    (:class:`~bus_seg.data.sampling.ResumableDataLoader`) but restores it only when it builds the
    loader after loading the checkpoint. A per-step LR scheduler asks for
    ``trainer.estimated_stepping_batches`` while the optimizers are configured, which builds the
    loader before, so the saved position would be dropped and the resumed epoch would start
    again at its first batch. This callback keeps the position under its own checkpoint key and
    hands it to the loader when training starts (before the first batch is drawn).
    """

    KEY = "bus_seg_train_loader"

    def __init__(self) -> None:
        self._pending: dict[str, int] | None = None

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        loader = _resumable_train_loader(trainer)
        if loader is not None:
            checkpoint[self.KEY] = loader.state_dict()

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self._pending = checkpoint.get(self.KEY)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        state, self._pending = self._pending, None
        loader = _resumable_train_loader(trainer)
        if state is not None and loader is not None:
            loader.load_state_dict(state)


def _resumable_train_loader(trainer: pl.Trainer) -> ResumableDataLoader | None:
    loader = trainer.train_dataloader
    return loader if isinstance(loader, ResumableDataLoader) else None


class AggregatorStatesInCheckpoint(pl.Callback):
    """Save the states of the module's torchmetrics aggregators and restore them on resume.

    Aggregators such as ``MaxMetric`` (``val/dice_best``) carry a value across epochs, but
    torchmetrics keeps metric states out of the module's ``state_dict``; without this, a resumed
    run would forget the best score of the epochs before the interruption. The states are
    tensors (or lists of tensors), so checkpoints still load with ``weights_only=True``.
    """

    KEY = "bus_seg_aggregator_states"

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[self.KEY] = {
            name: dict(metric.metric_state) for name, metric in _aggregators(pl_module)
        }

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        saved = checkpoint.get(self.KEY, {})
        for name, metric in _aggregators(pl_module):
            for state, value in saved.get(name, {}).items():
                if isinstance(value, torch.Tensor):
                    setattr(metric, state, value.to(metric.device))
                else:
                    setattr(metric, state, [item.to(metric.device) for item in value])


def _aggregators(module: torch.nn.Module) -> list[tuple[str, BaseAggregator]]:
    return [(name, sub) for name, sub in module.named_modules() if isinstance(sub, BaseAggregator)]
