"""Every config option and every experiment composes, and what can run here instantiates."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins import TorchSyncBatchNorm
from pytorch_lightning.strategies import DDPStrategy

from bus_seg.config import compose_config as compose_packaged
from bus_seg.paths import config_dir
from bus_seg.training.callbacks import (
    AggregatorStatesInCheckpoint,
    RandomStateInCheckpoint,
    TrainLoaderPositionInCheckpoint,
)
from bus_seg.training.resume import LastCheckpoint

CONF = config_dir()


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


HARDWARE_TRAINERS = {"gpu", "ddp", "mps"}  # their device is not here
RESUME_KINDS = [
    LastCheckpoint,
    LastCheckpoint,
    RandomStateInCheckpoint,
    TrainLoaderPositionInCheckpoint,
    AggregatorStatesInCheckpoint,
]


def test_config_dir_ships_with_the_package() -> None:
    assert (CONF / "train.yaml").is_file() and (CONF / "eval.yaml").is_file()


@pytest.mark.parametrize("name", options("model"))
def test_model_options_instantiate(compose_config, name: str) -> None:
    cfg = compose_config(f"model={name}", "data=synthetic")
    net = instantiate(cfg.model)
    out = net(torch.zeros(1, cfg.model.in_channels, 64, 64))
    assert out["out"].shape == (1, cfg.model.num_classes, 64, 64)


@pytest.mark.parametrize("loss", options("loss"))
def test_loss_options(compose_config, loss: str) -> None:
    cfg = compose_config(f"loss={loss}", "data=synthetic")
    net = torch.nn.Conv2d(1, 2, 1)
    criterion = instantiate(cfg.loss)
    image = torch.randn(2, 1, 8, 8)
    target = torch.randint(0, 2, (2, 8, 8))
    target[:, :4] = 255  # strip-like: half the pixels unlabelled
    value = criterion({"out": net(image)}, target, image)["loss"]
    value.backward()
    assert torch.isfinite(value) and net.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("optimizer", options("optimizer"))
@pytest.mark.parametrize("scheduler", options("scheduler"))
def test_optimizer_scheduler_options(compose_config, optimizer: str, scheduler: str) -> None:
    cfg = compose_config(f"optimizer={optimizer}", f"scheduler={scheduler}", "data=synthetic")
    net = torch.nn.Conv2d(1, 2, 1)
    net(torch.randn(2, 1, 8, 8)).sum().backward()
    before = net.weight.detach().clone()
    opt = instantiate(cfg.optimizer)(net)
    opt.step()
    if cfg.scheduler:  # scheduler=none: no schedule
        instantiate(cfg.scheduler)(opt, total_steps=10).step()
    assert not torch.equal(before, net.weight)


@pytest.mark.parametrize("trainer", options("trainer"))
def test_trainer_options(compose_config, trainer: str) -> None:
    cfg = compose_config(f"trainer={trainer}", "data=synthetic")
    # A hardware trainer is built with every setting but its device here: on the CPU.
    device = {"accelerator": "cpu"} if trainer in HARDWARE_TRAINERS else {}
    built = instantiate(cfg.trainer, logger=False, enable_checkpointing=False, **device)
    assert isinstance(built, pl.Trainer)
    assert built.max_epochs == cfg.trainer.max_epochs
    assert built.num_devices == cfg.trainer.devices
    assert built.precision == cfg.trainer.precision
    strategy = cfg.trainer.get("strategy")
    assert isinstance(built.strategy, DDPStrategy) == (strategy in ("ddp", "ddp_spawn"))
    if strategy == "ddp_spawn":
        assert built.strategy._start_method == "spawn"
    synced = isinstance(getattr(built.strategy, "_layer_sync", None), TorchSyncBatchNorm)
    assert synced == bool(cfg.trainer.get("sync_batchnorm"))


@pytest.mark.parametrize("callbacks", options("callbacks"))
def test_callback_options(compose_config, callbacks: str) -> None:
    from bus_seg.training.builders import build_callbacks
    from bus_seg.training.callbacks import ConfigInCheckpoint

    cfg = compose_config(f"callbacks={callbacks}", "data=synthetic")
    built = build_callbacks(cfg)
    declared = [c for c in (cfg.callbacks or {}).values() if c is not None and "_target_" in c]
    for conf in declared:
        kind = get_class(conf._target_)
        assert [c for c in built if type(c) is kind], f"{conf._target_} is not built"
    assert sum(isinstance(c, ConfigInCheckpoint) for c in built) == 1
    assert len(built) == 1 + len(declared) + len(RESUME_KINDS)
    assert [type(c) for c in built[-len(RESUME_KINDS) :]] == RESUME_KINDS
    # Lightning accepts the list (one instance of each stateful callback); the group's best-model
    # checkpoint stays the one a run tests, and the last.ckpt writers run after it
    trainer = pl.Trainer(callbacks=built, logger=False, accelerator="cpu", devices=1)
    ours = [c for c in built if isinstance(c, LastCheckpoint)]
    assert trainer.checkpoint_callbacks[-2:] == ours
    if "model_checkpoint" in (cfg.callbacks or {}):
        assert type(trainer.checkpoint_callback) is ModelCheckpoint
        assert trainer.checkpoint_callback.monitor == cfg.callbacks.model_checkpoint.monitor


@pytest.mark.parametrize("logger", options("logger"))
def test_logger_options(
    compose_config, logger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bus_seg.training.builders import build_loggers

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    cfg = compose_config(f"logger={logger}", "data=synthetic")
    built = build_loggers(cfg.logger)
    declared = [c._target_ for c in cfg.logger.values() if c is not None and "_target_" in c]
    assert declared and [type(b) for b in built] == [get_class(t) for t in declared]


@pytest.mark.parametrize("data", options("data"))
def test_data_options_compose(compose_config, data: str) -> None:
    cfg = compose_config(f"data={data}")
    assert cfg.data._target_.startswith("bus_seg.data.")
    assert cfg.data.image_size % 32 == 0


def test_synthetic_data_instantiates_and_serves(compose_config) -> None:
    cfg = compose_config("data=synthetic")
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["image"].shape[1:] == (1, cfg.data.image_size, cfg.data.image_size)
    assert set(batch["label"].unique().tolist()) <= {0, 1, 255}


@pytest.mark.parametrize("debug", options("debug"))
def test_debug_options_compose(compose_config, debug: str) -> None:
    cfg = compose_config(f"debug={debug}", "data=synthetic")
    assert cfg.trainer.accelerator == "cpu"


def _flatten(values: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _experiment(name: str) -> tuple[dict[str, str], dict]:
    """``(group choices, values)`` an experiment sets, those of the experiments it extends first."""
    delta = yaml.safe_load((CONF / "experiment" / f"{name}.yaml").read_text(encoding="utf-8"))
    choices: dict[str, str] = {}
    values: dict = {}
    for entry in delta.pop("defaults", []):
        if isinstance(entry, str):
            if entry != "_self_":
                base_choices, base_values = _experiment(entry)
                choices.update(base_choices)
                values = OmegaConf.to_container(OmegaConf.merge(values, base_values))
        else:
            ((key, option),) = entry.items()
            choices[key.removeprefix("override /")] = option
    return choices, OmegaConf.to_container(OmegaConf.merge(values, delta))


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiments_compose(experiment: str, tmp_path: Path) -> None:
    """An experiment's choices and values land in the composed config (as a user composes it, no
    test overrides), and its loss, optimizer, schedule and trainer build (a hardware trainer with
    every setting but its device)."""
    cfg = compose_packaged([f"experiment={experiment}"], output_dir=tmp_path)
    choices, values = _experiment(experiment)
    for group, option in choices.items():
        alone = OmegaConf.to_container(compose_packaged([f"{group}={option}"])[group])
        expected = OmegaConf.to_container(OmegaConf.merge(alone, values.get(group, {})))
        assert OmegaConf.to_container(cfg[group]) == expected, group
    for key, value in _flatten(values).items():
        assert OmegaConf.select(cfg, key) == value, key
    net = torch.nn.Conv2d(1, 2, 1)
    image, target = torch.randn(2, 1, 8, 8), torch.randint(0, 2, (2, 8, 8))
    assert torch.isfinite(instantiate(cfg.loss)({"out": net(image)}, target, image)["loss"])
    optimizer = instantiate(cfg.optimizer)(net)
    instantiate(cfg.scheduler)(optimizer, total_steps=10)
    device = {"accelerator": "cpu"} if cfg.trainer.accelerator != "cpu" else {}
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False, **device)
    assert trainer.max_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize("entry", ["train", "eval"])
def test_entry_configs_compose(compose_config, entry: str) -> None:
    cfg = compose_config("data=synthetic", config_name=entry)
    assert cfg.seed == 42
