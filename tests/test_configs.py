"""Every config option and every experiment composes, and what can run here instantiates."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from bus_seg.paths import config_dir

CONF = config_dir()


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


HARDWARE_TRAINERS = {"gpu", "ddp", "mps"}  # compose here; need their hardware to instantiate


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
    sched = instantiate(cfg.scheduler)(opt, total_steps=10)
    opt.step()
    sched.step()
    assert not torch.equal(before, net.weight)


@pytest.mark.parametrize("trainer", options("trainer"))
def test_trainer_options(compose_config, trainer: str) -> None:
    cfg = compose_config(f"trainer={trainer}", "data=synthetic")
    assert cfg.trainer._target_ == "pytorch_lightning.Trainer"
    if trainer not in HARDWARE_TRAINERS:
        instantiate(cfg.trainer, logger=False, enable_checkpointing=False)


@pytest.mark.parametrize("callbacks", options("callbacks"))
def test_callback_options(compose_config, callbacks: str) -> None:
    from bus_seg.training.builders import build_callbacks

    cfg = compose_config(f"callbacks={callbacks}", "data=synthetic")
    assert build_callbacks(cfg)


@pytest.mark.parametrize("logger", options("logger"))
def test_logger_options(
    compose_config, logger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bus_seg.training.builders import build_loggers

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    cfg = compose_config(f"logger={logger}", "data=synthetic")
    assert build_loggers(cfg.logger)


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


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiments_compose(compose_config, experiment: str) -> None:
    cfg = compose_config(f"experiment={experiment}")
    assert cfg.experiment_name == experiment


@pytest.mark.parametrize("entry", ["train", "eval"])
def test_entry_configs_compose(compose_config, entry: str) -> None:
    cfg = compose_config("data=synthetic", config_name=entry)
    assert cfg.seed == 42
