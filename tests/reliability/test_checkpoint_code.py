"""Checkpoints carry data, never code: crafted stored configs that pass ``weights_only=True`` are
refused by predict, export, eval and resume, and their payloads never run."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from omegaconf import open_dict

from bus_seg.cli.export import export
from bus_seg.cli.predict import predict
from bus_seg.config import compose_config
from bus_seg.errors import ConfigError, InputError
from bus_seg.evaluate import evaluate
from bus_seg.io.checkpoint import CONFIG_KEY
from bus_seg.io.images import write_png
from bus_seg.train import train
from bus_seg.training.optim import build_optimizer

MODEL = {
    "_target_": "bus_seg.models.build_model",
    "name": "smp.Unet",
    "num_classes": 2,
    "in_channels": 1,
    "pretrained": None,
    "encoder_name": "resnet18",
    "encoder_depth": 3,
    "decoder_channels": [16, 8, 4],
}
DATA = {
    "_target_": "bus_seg.data.SyntheticDataModule",
    "num_images": 8,
    "size": 64,
    "image_size": 64,
    "batch_size": 4,
    "num_workers": 0,
}
LOSS = {
    "_target_": "bus_seg.training.losses.SegmentationLoss",
    "aux_weight": 0.5,
    "criterion": {"_target_": "bus_seg.training.losses.CrossEntropy", "ignore_index": 255},
}
OPTIMIZER = {"_target_": "bus_seg.training.optim.build_optimizer", "_partial_": True, "name": "sgd"}


class PicklePayload:
    """Unpickling it writes a marker file (what ``torch.load(weights_only=False)`` would run)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path(self.marker).write_text, ("ran",))


def crafted_configs(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Stored configs whose building would write a file or run a pickle."""
    written = str(tmp_path / "written_by_open")
    pickled = tmp_path / "payload.pkl"
    pickled.write_bytes(pickle.dumps(PicklePayload(str(tmp_path / "pickle_ran"))))
    base = {"model": MODEL, "data": DATA, "loss": LOSS, "optimizer": OPTIMIZER, "seed": 1}
    return {
        "open in model": {
            **base,
            "model": {"_target_": "builtins.open", "file": written, "mode": "w"},
        },
        "torch.load in loss": {
            **base,
            "loss": {
                **LOSS,
                "criterion": {"_target_": "torch.load", "f": str(pickled), "weights_only": False},
            },
        },
        "open in data": {
            **base,
            "data": {"_target_": "builtins.open", "file": written, "mode": "w"},
        },
        "interpolation": {**base, "model": {**MODEL, "name": "${oc.env:HOME}"}},
        "special key": {**base, "model": {**MODEL, "_args_": [written]}},
    }


def checkpoint_with(config: dict[str, Any], path: Path) -> Path:
    torch.save({"state_dict": {}, CONFIG_KEY: config}, path)
    return path


def assert_nothing_ran(tmp_path: Path) -> None:
    assert not (tmp_path / "written_by_open").exists(), "a stored target ran builtins.open"
    assert not (tmp_path / "pickle_ran").exists(), "a stored target unpickled a payload"


def test_crafted_checkpoints_are_refused_by_predict_export_and_eval(tmp_path: Path) -> None:
    image = write_png(tmp_path / "us.png", np.zeros((32, 32), dtype=np.uint8))
    for case, config in crafted_configs(tmp_path).items():
        ckpt = checkpoint_with(config, tmp_path / f"{case.replace(' ', '_')}.ckpt")
        predict_cfg = compose_config(
            [f"ckpt_path={ckpt}", f"input={image}", "progress=false"], "predict"
        )
        with open_dict(predict_cfg):
            predict_cfg.out_dir = str(tmp_path / "predicted")
        with pytest.raises(InputError, match="refusing the checkpoint's stored config"):
            predict(predict_cfg)
        export_cfg = compose_config([f"ckpt_path={ckpt}"], "export")
        with open_dict(export_cfg):
            export_cfg.out_dir = str(tmp_path / "exported")
        with pytest.raises(InputError, match="refusing the checkpoint's stored config"):
            export(export_cfg)
        eval_cfg = compose_config([f"ckpt_path={ckpt}", "trainer=cpu", "logger=csv"], "eval")
        with open_dict(eval_cfg):
            eval_cfg.paths.output_dir = str(tmp_path / "eval")
            eval_cfg.paths.cache_dir = str(tmp_path / "cache")
        with pytest.raises(InputError, match="refusing the checkpoint's stored config") as refused:
            evaluate(eval_cfg)
        assert str(ckpt) in str(refused.value), case
        assert_nothing_ran(tmp_path)


def test_resume_from_a_crafted_checkpoint_builds_nothing_from_its_config(tmp_path: Path) -> None:
    config = crafted_configs(tmp_path)["open in model"]
    ckpt = checkpoint_with(config, tmp_path / "crafted.ckpt")
    cfg = compose_config(
        [
            f"ckpt_path={ckpt}",
            "trainer=cpu",
            "logger=csv",
            "data=synthetic",
            "model=tiny",
            "test=false",
        ],
        output_dir=tmp_path / "run",
    )
    with open_dict(cfg):
        cfg.paths.cache_dir = str(tmp_path / "cache")
    # Resume builds from the run's own config; the crafted file is no Lightning checkpoint.
    with pytest.raises(Exception):  # noqa: B017 - Lightning's own error; what matters is below
        train(cfg)
    assert_nothing_ran(tmp_path)


def test_legitimate_stored_config_passes(tmp_path: Path) -> None:
    ckpt = checkpoint_with(
        {"model": MODEL, "data": DATA, "trainer": {"_target_": "x.y"}}, tmp_path / "ok.ckpt"
    )
    export_cfg = compose_config([f"ckpt_path={ckpt}"], "export")
    with open_dict(export_cfg):
        export_cfg.out_dir = str(tmp_path / "exported")
    # The config is trusted (sections not built, like trainer, are dropped); the empty state dict
    # then fails to fit the model, with bus_seg's own message.
    with pytest.raises(ConfigError, match="weights do not fit"):
        export(export_cfg)


@pytest.mark.parametrize(
    "name", ["subprocess.Popen", "torch.optim.lr_scheduler.LambdaLR", "os.system"]
)
def test_optimizer_names_outside_torch_optim_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="optimizer.name"):
        build_optimizer(torch.nn.Linear(2, 2), name=name)
