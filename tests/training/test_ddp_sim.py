"""DDP-correct test stage: a 2-process CPU run scores every test image once, like one process.

The distributed sampler pads an odd test set by repeating an image on the second rank; the
per-image table and the pooled metrics must still equal those of a single-process run on the
same weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from bus_seg.evaluation.callback import EvaluationCallback
from bus_seg.training.builders import build_module
from bus_seg.training.run_outputs import metrics_to_floats

# 9 images of 5 patients; this seed puts 3 images in the test subset (odd: the sampler pads).
DATA = [
    "data=synthetic",
    "data.num_images=9",
    "data.size=64",
    "data.image_size=64",
    "data.batch_size=2",
    "data.split_fractions=[0.4,0.2,0.4]",
]


def _test_once(cfg, model, out_dir: Path, trainer_option: str) -> dict[str, float]:
    trainer: pl.Trainer = instantiate(
        cfg.trainer,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[EvaluationCallback(out_dir, run_name=trainer_option, max_overlays=0)],
    )
    trainer.test(model, datamodule=instantiate(cfg.data), verbose=False)
    return {
        k: v
        for k, v in metrics_to_floats(trainer.callback_metrics).items()
        if k.startswith("test/")
    }


def _compare(compose_config, tmp_path: Path) -> None:
    single_cfg = compose_config(*DATA)
    datamodule = instantiate(single_cfg.data)
    datamodule.setup("test")
    n_test = len(datamodule.datasets["test"])
    assert n_test % 2 == 1, (
        "the test subset must be odd so that the distributed sampler repeats an image"
    )

    pl.seed_everything(0)
    model = build_module(single_cfg)
    single = _test_once(single_cfg, model, tmp_path / "single", "cpu")
    ddp_cfg = compose_config(*DATA, "trainer=ddp_sim")
    ddp = _test_once(ddp_cfg, model, tmp_path / "ddp", "ddp_sim")

    single_table = pd.read_csv(tmp_path / "single" / "per_image.csv")
    ddp_table = pd.read_csv(tmp_path / "ddp" / "per_image.csv")
    assert len(ddp_table) == n_test and ddp_table["image_id"].is_unique
    pd.testing.assert_frame_equal(single_table, ddp_table)
    assert set(ddp) == set(single) and "test/dice" in ddp
    assert ddp == pytest.approx(single, abs=1e-6)
    pooled_single = json.loads((tmp_path / "single" / "metrics.json").read_text())["metrics"]
    pooled_ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())["metrics"]
    assert pooled_ddp["test/counts/n_labelled"] == pooled_single["test/counts/n_labelled"]
    assert pooled_ddp["test/dice"] == pytest.approx(pooled_single["test/dice"])
    assert pooled_ddp["test/lesion_dice"] == pytest.approx(pooled_single["test/lesion_dice"])


def test_ddp_sim_test_stage_matches_single_process(compose_config, tmp_path: Path) -> None:
    """The ``trainer=ddp_sim`` option as configured: 2 spawned gloo workers (about 15 s)."""
    _compare(compose_config, tmp_path)


@pytest.mark.slow
def test_ddp_sim_trains_a_batchnorm_model(compose_config) -> None:
    """``trainer=ddp_sim`` fits and tests the default model, which has BatchNorm layers: each CPU
    process normalises with its own batch, as SyncBatchNorm is GPU-only (20-60 s: two spawns)."""
    from bus_seg.train import train

    cfg = compose_config(
        *DATA, "trainer=ddp_sim", "trainer.fast_dev_run=true", "evaluation.max_overlays=0"
    )
    assert any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in build_module(cfg).modules()
    )
    metrics, objects = train(cfg)
    assert objects["trainer"].world_size == 2
    assert {"val/dice_best", "test/dice"} <= set(metrics)
    assert (Path(cfg.paths.output_dir) / "test" / "per_image.csv").is_file()


@pytest.mark.slow
def test_ddp_sim_fit_then_test_keeps_one_csv_log(compose_config) -> None:
    from bus_seg.train import train

    cfg = compose_config(
        *DATA, "trainer=ddp_sim", "trainer.max_epochs=1", "evaluation.max_overlays=0"
    )
    train(cfg)
    log = pd.read_csv(Path(cfg.paths.output_dir) / "csv" / "version_0" / "metrics.csv")
    assert {"val/dice", "test/dice"} <= set(log.columns)
