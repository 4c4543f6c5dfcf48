"""A trained run's metrics.json: whole-lesion headline, native-resolution test figures, where each
figure comes from, provenance; the same key schema as its evaluation's metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bus_seg.train import train

# 96² synthetic images served at 64²: native and network-size scores differ.
FAST = [
    "data=synthetic",
    "data.num_images=12",
    "data.size=96",
    "data.image_size=64",
    "data.batch_size=4",
    "trainer.max_epochs=1",
    "evaluation.max_overlays=1",
]


def test_run_metrics_file(compose_config) -> None:
    cfg = compose_config(*FAST)
    metrics, _ = train(cfg)
    out = Path(cfg.paths.output_dir)
    document = json.loads((out / "metrics.json").read_text())
    evaluation = json.loads((out / "test" / "metrics.json").read_text())
    assert document["schema"] == evaluation["schema"] == "bus_seg.metrics/2"
    headline = ["test/dice", "test/lesion_dice", "test/lesion_precision", "test/lesion_fp_area_mm2"]
    for key in headline:
        assert document["metrics"][key] == pytest.approx(evaluation["metrics"][key], rel=1e-6)
        assert metrics[key] == pytest.approx(document["metrics"][key])
    assert "test/net_dice" in document["metrics"]  # the network-size figure, clearly named
    best = document["best_checkpoint"]
    assert best and document["tested_checkpoint"] == best
    assert best in document["metric_sources"]["test/*"]
    assert "native resolution" in document["metric_sources"]["test/*"]
    assert "last validation epoch" in document["metric_sources"]["val/*"]
    provenance = document["provenance"]
    assert {"bus_seg_version", "commit", "dirty", "versions", "command"} <= set(provenance)
    assert provenance["versions"]["torch"] and provenance["versions"]["pytorch_lightning"]
    assert document["split_seed"] == 42
    assert "torch==" in (out / "pip_freeze.txt").read_text()
    table = pd.read_csv(out / "test" / "per_image.csv")
    # scored at 96² (native): more labelled pixels than the 64² network input holds
    assert table["n_labelled"].sum() > 0
    assert "at native resolution" in (out / "test" / "report.md").read_text()
