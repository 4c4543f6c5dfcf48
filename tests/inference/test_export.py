"""ONNX and TorchScript export: logits parity with eager PyTorch, metadata, dynamic batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bus_seg.cli.export import export
from bus_seg.config import compose_config
from bus_seg.errors import ConfigError
from bus_seg.inference import OnnxRunner, Predictor, export_checkpoint, load_trained_net
from bus_seg.inference.export import export_onnx, parity_batch

PARITY_TOLERANCE = 1e-4


def test_onnx_export_matches_eager_logits(tiny_checkpoint: Path, tmp_path: Path) -> None:
    result = export_checkpoint(tiny_checkpoint, "onnx", tmp_path / "tiny.onnx", parity_batch_size=3)
    assert result.path.is_file() and result.parity_inputs == (3, 1, 64, 64)
    assert result.max_abs_diff < PARITY_TOLERANCE
    runner = OnnxRunner(result.path)
    _, preprocessing, _ = load_trained_net(tiny_checkpoint)
    assert runner.preprocessing() == preprocessing
    assert runner(parity_batch(preprocessing, batch_size=5)).shape == (5, 2, 64, 64), (
        "dynamic batch axis"
    )


def test_onnx_predictor_agrees_with_eager(tiny_checkpoint: Path, tmp_path: Path) -> None:
    net, preprocessing, _ = load_trained_net(tiny_checkpoint)
    path = export_onnx(net, tmp_path / "m.onnx", preprocessing)
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((40, 70), (90, 60))]
    eager = Predictor.from_checkpoint(tiny_checkpoint, device="cpu").predict(images)
    onnx = Predictor.from_onnx(path).predict(images)
    for a, b in zip(eager, onnx, strict=True):
        assert np.abs(a.probability - b.probability).max() < PARITY_TOLERANCE


def test_torchscript_export_matches_eager_logits(tiny_checkpoint: Path, tmp_path: Path) -> None:
    result = export_checkpoint(tiny_checkpoint, "torchscript", tmp_path / "tiny.pt")
    assert result.path.is_file() and result.max_abs_diff < PARITY_TOLERANCE


def test_export_entry_point_writes_the_parity_report(tiny_checkpoint: Path, tmp_path: Path) -> None:
    overrides = [f"ckpt_path={tiny_checkpoint}", f"out_path={tmp_path / 'e.onnx'}"]
    cfg = compose_config(overrides, config_name="export", output_dir=tmp_path / "hydra")
    export(cfg)
    report = json.loads((tmp_path / "e.onnx.parity.json").read_text())
    assert report["format"] == "onnx" and report["max_abs_diff"] < PARITY_TOLERANCE


def test_bad_export_options_are_clear(tiny_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="format="):
        export_checkpoint(tiny_checkpoint, "tflite")
    with pytest.raises(ConfigError, match="opset"):
        export_checkpoint(tiny_checkpoint, "onnx", tmp_path / "x.onnx", opset=11)
