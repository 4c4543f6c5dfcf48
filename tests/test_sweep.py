"""``hparams_search=optuna_dice``: an Optuna sweep runs end to end, and its seed fixes the trials."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose
from hydra._internal.callbacks import Callbacks
from hydra.core.global_hydra import GlobalHydra
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext
from omegaconf import OmegaConf

from bus_seg.cli.multirun_summary import SUMMARY_FILE
from tests.helpers.configs import packaged_configs

# the search space of optuna_dice with a CPU-sized model (a command-line key wins over its space)
SWEEP = [
    "hparams_search=optuna_dice",
    "model=tiny",
    "data=synthetic",
    "data.num_images=8",
    "data.size=32",
    "data.image_size=32",
    "data.batch_size=4",
    "trainer.fast_dev_run=true",
    "test=false",
]


class RecordingLauncher:
    """Stands in for a launcher: records each job's overrides and returns a fixed value."""

    def __init__(self) -> None:
        self.jobs: list[list[str]] = []

    def launch(self, batch: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
        self.jobs.extend(list(job) for job in batch)
        returns = []
        for _ in batch:
            job_return = JobReturn()
            job_return.return_value, job_return.status = 0.5, JobStatus.COMPLETED
            returns.append(job_return)
        return returns


def suggested_params(
    seed: int, n_trials: int, sweep_dir: Path, extra: Sequence[str] = ()
) -> list[dict[str, str]]:
    """The parameters the sweeper suggests (its overrides less the fixed ones), in-process with
    a recording launcher."""
    with packaged_configs():
        overrides = [
            *SWEEP,
            f"seed={seed}",
            f"hydra.sweeper.n_trials={n_trials}",
            f"hydra.sweep.dir={sweep_dir}",
        ]
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
        context = HydraContext(
            config_loader=GlobalHydra.instance().config_loader(), callbacks=Callbacks()
        )
        sweeper = Plugins.instance().instantiate_sweeper(
            config=cfg, hydra_context=context, task_function=lambda cfg: None
        )
        sweeper.launcher = RecordingLauncher()
        arguments = [*SWEEP, f"seed={seed}", *extra]
        sweeper.sweep(arguments=arguments)
        return [
            dict(o.split("=", 1) for o in job if o not in arguments)
            for job in sweeper.launcher.jobs
        ]


def test_the_seed_fixes_the_suggested_trials(tmp_path: Path) -> None:
    first = suggested_params(7, 4, tmp_path / "a")
    assert len(first) == 4 and len({tuple(params.items()) for params in first}) == 4
    assert first == suggested_params(7, 4, tmp_path / "b")
    assert first != suggested_params(8, 4, tmp_path / "c")
    assert set(first[0]) == {
        "optimizer.lr",
        "loss",
    }, "model=tiny on the command line fixes the model; the rest of the space is searched"


@pytest.mark.parametrize(
    "sweep",
    [
        "registration.projection=choice(profile,area)",
        "registration.profile_threshold=interval(0.3,0.7)",
        "data=choice(synthetic,simulated)",
        "data.split_seed=range(1,4)",
    ],
)
def test_sweeping_the_labels_is_refused(tmp_path: Path, sweep: str) -> None:
    """A trial must not be scored against labels (or a split) of its own making."""
    from hydra.errors import HydraException

    key = sweep.split("=", 1)[0]
    with pytest.raises(HydraException, match=f"changes {key}, which define the labels"):
        suggested_params(7, 2, tmp_path, extra=[sweep])


def test_optuna_sweep_runs_three_trials(tmp_path: Path) -> None:
    """``bus-seg-train -m hparams_search=optuna_dice hydra.sweeper.n_trials=3`` (about 20 s)."""
    sweep = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "bus_seg.cli.train",
        "-m",
        *SWEEP,
        "hydra.sweeper.n_trials=3",
        f"hydra.sweep.dir={sweep}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]

    trials = pd.read_csv(sweep / "trials.csv")
    assert len(trials) == 3 and (trials["state"] == "COMPLETE").all()
    assert trials["value"].map(math.isfinite).all()
    results = OmegaConf.load(sweep / "optimization_results.yaml")
    assert results.n_complete == 3 and results.best_value == pytest.approx(trials["value"].max())
    assert set(results.best_params) == {
        c.removeprefix("params_") for c in trials if c.startswith("params_")
    }
    summary = pd.read_csv(sweep / SUMMARY_FILE)
    assert summary["status"].tolist() == ["ok"] * 3

    # the sweep's seed (seed=42) gave these trials: the same seed in-process suggests the same ones
    suggested = suggested_params(42, 3, tmp_path / "again")
    for params, (_, trial) in zip(suggested, trials.iterrows(), strict=True):
        assert params["loss"] == trial["params_loss"]
        assert float(params["optimizer.lr"]) == pytest.approx(trial["params_optimizer.lr"])
