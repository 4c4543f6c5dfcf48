"""Safety checks across components: pickle checkpoints, paths leaving the cohort, W&B images."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import DictConfig, open_dict

from bus_seg.cli.predict import predict
from bus_seg.cli.validate import run as run_validate
from bus_seg.config import compose_config
from bus_seg.errors import ConfigError, InputError
from bus_seg.evaluate import evaluate
from bus_seg.io.images import write_png
from bus_seg.io.manifest import read_manifest, write_manifest
from bus_seg.models import build_model
from bus_seg.registration import RegistrationSettings, register_cohort
from bus_seg.train import train
from tests.helpers.registration_factory import CaseSpec, FragmentSpec, write_case

MARKER = "bus_seg_pickle_payload_ran"


def run_payload(marker: str) -> None:
    """What unpickling the payload would run: it leaves a marker file."""
    Path(marker).write_text("unpickled")


class Payload:
    """An object whose unpickling calls :func:`run_payload` (as a malicious checkpoint would)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (run_payload, (self.marker,))


def compose_entry(config_name: str, *overrides: str) -> DictConfig:
    return compose_config(overrides, config_name)


@pytest.fixture
def pickle_checkpoint(tmp_path: Path) -> Path:
    """A checkpoint-shaped file that holds a real state dict plus an object only pickle can load."""
    net = build_model(
        "smp.Unet",
        in_channels=1,
        encoder_name="resnet18",
        encoder_depth=3,
        decoder_channels=[16, 8, 4],
    )
    path = tmp_path / "untrusted.ckpt"
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "extra": Payload(tmp_path / MARKER)}, path)
    return path


def test_pickle_checkpoints_are_refused_everywhere_and_never_unpickled(
    pickle_checkpoint: Path, tmp_path: Path
) -> None:
    image = write_png(tmp_path / "us.png", np.zeros((32, 32), dtype=np.uint8))
    predict_cfg = compose_entry(
        "predict", f"ckpt_path={pickle_checkpoint}", f"input={image}", "progress=false"
    )
    with open_dict(predict_cfg):
        predict_cfg.out_dir = str(tmp_path / "predicted")
    with pytest.raises(InputError, match="refusing to load: the checkpoint needs pickle"):
        predict(predict_cfg)
    eval_cfg = compose_entry("eval", f"ckpt_path={pickle_checkpoint}", "trainer=cpu")
    with open_dict(eval_cfg):
        eval_cfg.paths.output_dir = str(tmp_path / "eval")
    with pytest.raises(
        InputError, match="refusing to load: the checkpoint needs pickle.*safetensors"
    ):
        evaluate(eval_cfg)
    train_cfg = compose_entry(
        "train", f"ckpt_path={pickle_checkpoint}", "trainer=cpu", "data=synthetic", "model=tiny"
    )
    with open_dict(train_cfg):
        train_cfg.paths.output_dir = str(tmp_path / "resumed")
        train_cfg.paths.cache_dir = str(tmp_path / "cache")
    with pytest.raises(InputError, match="refusing to load: the checkpoint needs pickle"):
        train(train_cfg)
    with pytest.raises(
        ConfigError, match="refusing to unpickle .*untrusted.ckpt: convert it to safetensors"
    ):
        build_model(
            "smp.Unet",
            in_channels=1,
            encoder_name="resnet18",
            encoder_depth=3,
            decoder_channels=[16, 8, 4],
            pretrained=str(pickle_checkpoint),
        )
    assert not (tmp_path / MARKER).exists(), "the payload must never run"
    assert not (tmp_path / "predicted").exists() or not any((tmp_path / "predicted").rglob("*.png"))


@pytest.fixture
def cohort_with_outside_paths(tmp_path: Path) -> Path:
    """A cohort of three cases: inside, one whose files lie beside the cohort folder (``..``), and
    one given by absolute paths."""
    root = tmp_path / "cohort"
    spec = CaseSpec(
        "inside",
        [FragmentSpec(3000), FragmentSpec(2000, gap_um=300)],
        [(1000, 2500)],
        tract=(30.0, 50.0, 110.0, 100.0),
        mpp=5.0,
    )
    rows = [write_case(spec, root / "inside")]
    beside = write_case(dataclasses.replace(spec, case_id="beside"), tmp_path / "beside")
    rows.append(
        {**beside, **{k: f"../{v}" for k, v in beside.items() if k.endswith("_path") and v}}
    )
    absolute = write_case(
        dataclasses.replace(spec, case_id="absolute"), tmp_path / "elsewhere" / "absolute"
    )
    rows.append(
        {
            **absolute,
            **{
                k: str(tmp_path / "elsewhere" / v)
                for k, v in absolute.items()
                if k.endswith("_path") and v
            },
        }
    )
    for row, patient in zip(rows, ("p1", "p2", "p3"), strict=True):
        row["patient_id"] = patient
    manifest = write_manifest(root / "manifest.csv", rows)
    assert read_manifest(manifest, allow_outside_paths=True).errors == []
    return manifest


def test_paths_leaving_the_cohort_are_refused_unless_allowed(
    cohort_with_outside_paths: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    manifest = cohort_with_outside_paths
    assert run_validate(compose_entry("validate", f"manifest={manifest}")) == 1
    printed = capsys.readouterr().out
    assert (
        "case 'beside', column 'us_path': path '../beside/us.png' leaves the manifest's folder"
        in printed
    )
    assert (
        "case 'absolute', column 'us_path': absolute path" in printed
        and "is not allowed" in printed
    )
    assert printed.count("allow_outside_paths=true") >= 2
    refused = register_cohort(
        manifest, tmp_path / "default", RegistrationSettings(), progress=False
    )
    status = dict(zip(refused.report["case_id"], refused.report["status"], strict=True))
    assert status == {"inside": "ok", "beside": "failed", "absolute": "failed"}
    assert sorted(p.stem for p in (tmp_path / "default" / "labels").glob("*.png")) == ["inside"]

    assert (
        run_validate(compose_entry("validate", f"manifest={manifest}", "allow_outside_paths=true"))
        == 0
    )
    allowed = register_cohort(
        manifest,
        tmp_path / "allowed",
        RegistrationSettings(allow_outside_paths=True),
        progress=False,
    )
    assert (allowed.report["status"] == "ok").all()


def wandb_media(run_dir: Path) -> list[str]:
    media = [p for p in (run_dir / "wandb").glob("offline-run-*/files/media/**/*") if p.is_file()]
    return sorted(
        p.relative_to(p.parents[2]).as_posix().split("_")[0] for p in media if p.suffix == ".png"
    )


@pytest.mark.parametrize("log_images", [False, True])
def test_wandb_logs_patient_images_only_when_asked(
    compose_config, monkeypatch: pytest.MonkeyPatch, log_images: bool
) -> None:
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose_config(
        "data=synthetic",
        "data.num_images=12",
        "data.size=32",
        "data.image_size=32",
        "trainer.max_epochs=1",
        "logger=wandb",
        f"evaluation.log_images={str(log_images).lower()}",
    )
    monkeypatch.setenv("WANDB_DIR", cfg.paths.output_dir)
    train(cfg)
    assert wandb.run is None, "the run is finished"
    images = wandb_media(Path(cfg.paths.output_dir))
    if log_images:
        assert "images/test/overlays" in images and any(name.startswith("mask/") for name in images)
    else:
        # the only pictures are the confusion-matrix heatmap (the logged table's and the
        # evaluation's figure): no ultrasound image, no label mask
        assert images == ["images/test/confusion", "test/figures/confusion"]


def test_wandb_is_off_unless_asked_for() -> None:
    for entry in ("train", "eval"):
        loggers = compose_entry(entry).logger
        assert set(loggers) == {"csv"}, f"{entry}: only the CSV logger by default"
    assert "wandb" in compose_entry("train", "logger=wandb").logger
