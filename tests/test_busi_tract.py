"""The BUSI-derived registered cohort, the paper experiments, and training on any cohort manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bus_seg.evaluation.per_image import per_image_table
from bus_seg.simulate import simulate_cohort
from bus_seg.train import train
from bus_seg.training.eval_sample import EvalSample

FAST = ["data.image_size=64", "data.batch_size=4", "data.workers=1", "trainer.fast_dev_run=true"]


@pytest.mark.parametrize(
    ("experiment", "model"),
    [("paper_fcn101", "fcn_resnet101"), ("paper_deeplabv3", "deeplabv3_resnet101")],
)
def test_paper_experiments_compose_the_torchvision_recipe(
    compose_config, experiment, model
) -> None:
    cfg = compose_config(f"experiment={experiment}")
    assert "paper_replication" in cfg.tags, "one W&B tag finds both models"
    assert (cfg.model.name, cfg.model.aux_loss) == (model, True)
    assert cfg.loss.aux_weight == 0.5 and cfg.loss.criterion.ignore_index == 255
    assert "CrossEntropy" in cfg.loss.criterion._target_
    optimizer = cfg.optimizer
    assert (optimizer.name, optimizer.lr, optimizer.momentum, optimizer.weight_decay) == (
        "sgd",
        0.01,
        0.9,
        1.0e-4,
    )
    assert cfg.scheduler._target_.endswith("PolyWithWarmup") and cfg.scheduler.power == 0.9
    assert list(cfg.data.split_fractions) == [0.7, 0.2, 0.1]
    assert cfg.data._target_.endswith("RegisteredCohortDataModule") and cfg.data.manifest is None
    source = cfg.data.simulate.source
    assert source.kind == "mask_folder" and list(source.classes) == ["malignant"]
    assert source.path.endswith("busi")
    assert (cfg.data.image_size, cfg.data.batch_size, cfg.trainer.max_epochs) == (512, 8, 30)
    assert cfg.callbacks.model_checkpoint.monitor is None, "the last epoch's model is tested"


def test_busi_tract_data_defaults_to_a_cpu_image_size(compose_config) -> None:
    cfg = compose_config("experiment=busi_tract")
    assert cfg.data.image_size == 128 and cfg.trainer.accelerator == "cpu"
    assert cfg.data.simulate.seed == 11


@pytest.mark.shared_data
def test_busi_tract_cohort_simulates_registers_and_trains(
    compose_config, shared_data: Path
) -> None:
    cfg = compose_config(
        "experiment=busi_tract",
        f"paths.data_dir={shared_data}",
        "data.simulate.source.limit=5",
        *FAST,
    )
    metrics, objects = train(cfg)
    report = objects["datamodule"].registration_report
    assert len(report) == 5 and set(report["status"]) == {"ok"}
    assert report["case_id"].str.startswith("malignant").all()
    out = Path(cfg.paths.output_dir)
    table = pd.read_csv(out / "test" / "per_image.csv")
    assert "test/dice" in metrics and len(table) >= 1
    # BUSI images are not square: the padded border of the lesion mask is not scored
    assert (table["n_lesion"] > 0).all() and table["lesion_dice"].notna().all()


def test_lesion_mask_padding_is_not_scored() -> None:
    target = np.full((4, 6), 255, np.uint8)
    target[1, 1:4] = [1, 1, 0]
    lesion = np.zeros((4, 6), np.uint8)
    lesion[1:3, 1:3] = 1
    lesion[:, 5] = 255  # padding to a square
    pred = np.zeros((4, 6), np.uint8)
    pred[1:3, 1:3] = 1
    pred[:, 5] = 1  # predicted cancer in the padding counts for nothing
    sample = EvalSample("a", "p", np.zeros((4, 6), np.uint8), target, pred, lesion_mask=lesion)
    row = per_image_table([sample]).iloc[0]
    assert row.lesion_dice == 1.0 and row.lesion_precision == 1.0 and row.n_lesion == 4


def test_bus_seg_train_on_a_cohort_manifest(tmp_path: Path) -> None:
    settings = {"num_cases": 4, "seed": 5, "images_per_patient": [1, 1], "wsi": {"mpp": 8.0}}
    manifest = simulate_cohort(tmp_path / "cohort", settings, progress=False)
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "bus_seg.train",
        "data=registered_cohort",
        f"data.manifest={manifest}",
        *FAST,
        "logger=csv",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={run_dir}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads((run_dir / "metrics.json").read_text())
    assert "test/dice" in document["metrics"]
    assert {"per_image.csv", "report.md"} <= {path.name for path in (run_dir / "test").iterdir()}
    assert "[bus_seg] done." in done.stdout
