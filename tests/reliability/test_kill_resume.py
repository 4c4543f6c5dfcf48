"""A training run killed with SIGKILL mid-epoch resumes and ends with the uninterrupted run's metrics.

The killed run is a real ``bus-seg-train`` process (a test-only callback, ``tests.helpers.killer.KillAtStep``,
SIGKILLs it: no cleanup, like a crash or an OOM kill). It resumes from ``checkpoints/last.ckpt``
(a step checkpoint in the middle of an epoch) with ``ckpt_path=last``, or automatically when a run
starts again in the same output folder. CPU, ``trainer.deterministic=true``, the same seed.

The fast tests resume in-process (one subprocess in all); the slow test kills one run twice and
resumes it through the command line each time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose
from omegaconf import DictConfig, open_dict

from bus_seg.train import train
from bus_seg.training.callbacks import TrainLoaderPositionInCheckpoint
from tests.helpers.configs import packaged_configs

REPO = Path(__file__).resolve().parents[2]
TRAIN = Path(sys.executable).with_name("bus-seg-train")
# 16 images: 11 train images in 5 batches of 2 per epoch (drop_last), 3 epochs = 15 steps; a step
# checkpoint every 3 steps, so a kill at step 8 resumes from step 6 = epoch 1 after its first batch.
RUN = [
    "trainer=cpu",
    "logger=csv",
    "data=synthetic",
    "data.num_images=16",
    "data.size=32",
    "data.image_size=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "trainer.max_epochs=3",
    "callbacks.step_checkpoint.every_n_train_steps=3",
    "callbacks.progress_bar=null",
    "callbacks.model_summary=null",
    "evaluation.max_overlays=0",
]
BATCHES_PER_EPOCH = 5
KILL_STEP = 8


def run_cli(run_dir: Path, cache_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    """``bus-seg-train`` in ``run_dir`` (its Hydra output folder), one CPU thread."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    )
    command = [
        str(TRAIN),
        *RUN,
        f"hydra.run.dir={run_dir}",
        f"paths.cache_dir={cache_dir}",
        *overrides,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def kill_overrides(step: int) -> list[str]:
    return [
        "+callbacks.kill._target_=tests.helpers.killer.KillAtStep",
        f"+callbacks.kill.step={step}",
    ]


def compose_run(run_dir: Path, cache_dir: Path, *overrides: str) -> DictConfig:
    """The same config as :func:`run_cli`, composed in-process."""
    with packaged_configs():
        cfg = compose(config_name="train", overrides=[*RUN, *overrides], return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.paths.cache_dir = str(cache_dir)
    return cfg


def final_metrics(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "metrics.json").read_text())["metrics"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> dict[str, float]:
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    train(compose_run(run_dir, cache_dir))
    return final_metrics(run_dir)


@pytest.fixture(scope="module")
def killed_snapshot(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> tuple[Path, Path]:
    """``(run_dir, snapshot)``: a ``bus-seg-train`` process SIGKILLed at step 8 (mid-epoch 1) in
    ``run_dir``, and a copy of that folder as the kill left it."""
    run_dir = tmp_path_factory.mktemp("killed") / "run"
    result = run_cli(run_dir, cache_dir, *kill_overrides(KILL_STEP))
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    snapshot = tmp_path_factory.mktemp("snapshot") / "run"
    shutil.copytree(run_dir, snapshot)
    return run_dir, snapshot


@pytest.fixture
def killed_run(killed_snapshot: tuple[Path, Path]) -> Path:
    """The killed run's folder as the kill left it, at its own path (checkpoint callbacks reload
    their best score only when the folder has not moved)."""
    run_dir, snapshot = killed_snapshot
    shutil.rmtree(run_dir)
    shutil.copytree(snapshot, run_dir)
    return run_dir


def test_the_kill_leaves_a_mid_epoch_checkpoint(killed_run: Path) -> None:
    assert not (killed_run / "metrics.json").exists(), "the killed process must not have finished"
    checkpoint = torch.load(
        killed_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True
    )
    assert checkpoint["global_step"] == 6
    assert checkpoint[TrainLoaderPositionInCheckpoint.KEY] == {
        "epoch": 1,
        "batches": 6 - BATCHES_PER_EPOCH,
    }


def test_resume_with_ckpt_path_last_matches_the_uninterrupted_run(
    killed_run: Path, cache_dir: Path, uninterrupted: dict[str, float]
) -> None:
    _, objects = train(compose_run(killed_run, cache_dir, "ckpt_path=last"))
    assert objects["trainer"].global_step == 3 * BATCHES_PER_EPOCH
    assert final_metrics(killed_run) == uninterrupted


def test_a_restart_in_the_same_folder_resumes_automatically(
    killed_run: Path, cache_dir: Path, uninterrupted: dict[str, float]
) -> None:
    train(compose_run(killed_run, cache_dir))  # ckpt_path=null: last.ckpt of the folder is used
    assert final_metrics(killed_run) == uninterrupted
    logs = sorted((killed_run / "csv").glob("version_*/metrics.csv"))
    assert len(logs) == 2, "the resumed run logs beside the killed one"


def test_resume_needs_nothing_from_the_callbacks_group(
    killed_run: Path, cache_dir: Path, uninterrupted: dict[str, float]
) -> None:
    """The resume callbacks are added in code: with an empty callbacks group (no best-model
    selection, so the test figures are the last epoch's model's; no LR monitor) every training
    and validation figure, best-so-far values included, equals the uninterrupted run's."""
    cfg = compose_run(killed_run, cache_dir, "ckpt_path=last")
    with open_dict(cfg):
        cfg.callbacks = None
    _, objects = train(cfg)
    assert objects["trainer"].global_step == 3 * BATCHES_PER_EPOCH

    def fitted(metrics: dict[str, float]) -> dict[str, float]:  # not lr-… (the LR monitor's)
        return {k: v for k, v in metrics.items() if k.startswith(("train/", "val/"))}

    assert fitted(final_metrics(killed_run)) == fitted(uninterrupted)
    assert any(k.startswith("val/") and k.endswith("_best") for k in fitted(uninterrupted))


@pytest.mark.slow
def test_killed_twice_and_resumed_by_the_cli_matches_the_uninterrupted_cli_run(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    reference = run_cli(tmp_path / "reference", cache)
    assert reference.returncode == 0, reference.stderr[-3000:]
    run_dir = tmp_path / "run"
    first = run_cli(run_dir, cache, *kill_overrides(4))  # epoch 0, after the step-3 checkpoint
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    second = run_cli(run_dir, cache, "ckpt_path=last", *kill_overrides(KILL_STEP))
    assert second.returncode == -signal.SIGKILL, second.stderr[-3000:]
    third = run_cli(run_dir, cache)  # automatic resume from the folder's last.ckpt
    assert third.returncode == 0, third.stderr[-3000:]
    assert final_metrics(run_dir) == final_metrics(tmp_path / "reference")
