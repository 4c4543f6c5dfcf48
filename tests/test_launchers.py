"""Hydra launchers as config options: joblib runs local jobs in parallel; the SLURM launcher
composes and turns its settings into the sbatch script it would submit (no cluster here)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose
from hydra._internal.callbacks import Callbacks
from hydra.core.global_hydra import GlobalHydra
from hydra.core.plugins import Plugins
from hydra.types import HydraContext
from omegaconf import DictConfig, OmegaConf

from bus_seg.cli.multirun_summary import SUMMARY_FILE
from tests.helpers.configs import packaged_configs

# bus_seg's launcher configs are merged onto the plugins' configs of the same name on purpose
pytestmark = pytest.mark.filterwarnings(r"ignore:\s*'hydra/launcher/:UserWarning")

ROOT = Path(__file__).resolve().parents[1]
TINY_RUN = [
    "data=synthetic",
    "data.num_images=8",
    "data.size=32",
    "data.image_size=32",
    "data.batch_size=4",
    "trainer.fast_dev_run=true",
    "test=false",
]


@pytest.fixture
def hydra_config_loader() -> Iterator[None]:
    with packaged_configs():
        yield


def _compose(*overrides: str) -> DictConfig:
    return compose("train", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.usefixtures("hydra_config_loader")
def test_joblib_launcher_composes_with_bus_seg_defaults() -> None:
    launcher = _compose("hydra/launcher=joblib").hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    assert (launcher.n_jobs, launcher.backend) == (2, "loky")
    assert launcher.pre_dispatch == "2*n_jobs", "the plugin's other options stay available"


@pytest.mark.usefixtures("hydra_config_loader")
def test_submitit_slurm_launcher_composes_for_one_gpu() -> None:
    launcher = _compose("hydra/launcher=submitit_slurm", "hydra.sweep.dir=/sweep").hydra.launcher
    assert (
        launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    )
    resources = {k: launcher[k] for k in ("partition", "gpus_per_node", "tasks_per_node", "nodes")}
    assert resources == {"partition": None, "gpus_per_node": 1, "tasks_per_node": 1, "nodes": 1}
    assert launcher.timeout_min > 0 and launcher.cpus_per_task > 0 and launcher.mem_gb > 0
    assert launcher.submitit_folder == "/sweep/.submitit/%j"


def _return_seed(cfg: DictConfig) -> int:
    return cfg.seed


@pytest.mark.usefixtures("hydra_config_loader")
def test_submitit_slurm_launcher_submits_the_configured_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real launcher and submitit build and submit the sbatch script of a 2-job array;
    stand-ins for ``srun``/``sbatch`` capture it instead of a cluster."""
    import submitit.slurm.slurm

    bin_dir, script = tmp_path / "bin", tmp_path / "submitted.sh"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(
        f'#!/bin/sh\ncat "$1" > {script}\necho "Submitted batch job 4242"\n'
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(submitit.slurm.slurm.SlurmJob, "results", lambda job: [f"job {job.job_id}"])

    cfg = _compose(
        "hydra/launcher=submitit_slurm",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "hydra.job.name=train",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.timeout_min=90",
    )
    context = HydraContext(
        config_loader=GlobalHydra.instance().config_loader(), callbacks=Callbacks(cfg)
    )
    launcher = Plugins.instance().instantiate_launcher(
        hydra_context=context, task_function=_return_seed, config=cfg
    )
    returns = launcher.launch([["seed=1"], ["seed=2"]], initial_job_idx=0)

    assert returns == ["job 4242_0", "job 4242_1"]
    sbatch = set(script.read_text().splitlines())
    expected = {
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --nodes=1",
        "#SBATCH --time=90",
        f"#SBATCH --cpus-per-task={cfg.hydra.launcher.cpus_per_task}",
        f"#SBATCH --mem={cfg.hydra.launcher.mem_gb}GB",
        "#SBATCH --job-name=train",
        "#SBATCH --array=0-1%2",
    }
    assert expected <= sbatch, sorted(expected - sbatch)


def test_joblib_multirun_runs_two_jobs_in_parallel(tmp_path: Path) -> None:
    """``bus-seg-train -m hydra/launcher=joblib``: two jobs in two worker processes (about 30 s)."""
    sweep = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "bus_seg.cli.train",
        "-m",
        "hydra/launcher=joblib",
        "seed=1,2",
        *TINY_RUN,
        f"hydra.sweep.dir={sweep}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Joblib.Parallel" in done.stdout + done.stderr, "the joblib launcher ran the jobs"
    for job in ("0", "1"):
        metrics = OmegaConf.load(sweep / job / "metrics.json")
        assert metrics.metrics["val/dice_best"] >= 0
    summary = (sweep / SUMMARY_FILE).read_text().splitlines()
    assert [line.split(",")[:2] for line in summary[1:]] == [["0", "ok"], ["1", "ok"]]
