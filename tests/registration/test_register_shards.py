"""A cohort registered in shards (a Hydra multirun) and merged equals a single run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose
from hydra._internal.callbacks import Callbacks
from hydra.core.global_hydra import GlobalHydra
from hydra.core.plugins import Plugins
from hydra.types import HydraContext
from omegaconf import DictConfig

from bus_seg.cli.register import register_from_config
from bus_seg.errors import ConfigError
from bus_seg.io.manifest import write_manifest
from bus_seg.registration.shards import check_shard, shard_of
from tests.helpers.configs import compose_entry, packaged_configs
from tests.helpers.registration_cases import small_spec
from tests.helpers.registration_factory import write_case

pytestmark = pytest.mark.filterwarnings(r"ignore:\s*'hydra/launcher/:UserWarning")
REGISTER = [sys.executable, "-c", "from bus_seg.cli.register import main; main()"]
CASES = [f"case{k:02d}" for k in range(8)]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shard_cohort")
    rows = [write_case(small_spec(case_id), root / case_id) for case_id in CASES]
    return write_manifest(root / "manifest.csv", rows)


def register(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*REGISTER, *args, "progress=false", "registration.qc=false"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def test_shards_partition_the_cases_stably() -> None:
    for n in (1, 2, 4, 7):
        shards = [shard_of(case_id, n) for case_id in CASES]
        assert all(0 <= s < n for s in shards)
        assert shards == [shard_of(case_id, n) for case_id in CASES], "deterministic"
    assert len({shard_of(c, 4) for c in CASES}) > 1, "the cases spread over the shards"
    for bad in [(4, 4), (-1, 2), (0, 0), (True, 2)]:
        with pytest.raises(ConfigError, match="num_shards"):
            check_shard(*bad)


@pytest.mark.slow  # about 25 s: five registrations of 8 cases in fresh processes
def test_joblib_sharded_registration_merges_into_a_single_runs_outputs(
    cohort: Path, tmp_path: Path
) -> None:
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    register(f"manifest={cohort}", f"out_dir={single}", cwd=tmp_path)
    done = register(
        "-m",
        "hydra/launcher=joblib",
        "shard=0,1,2,3",
        "num_shards=4",
        f"manifest={cohort}",
        f"out_dir={sharded}",
        cwd=tmp_path,
    )
    assert "Joblib.Parallel" in done.stdout + done.stderr
    shard_reports = [pd.read_csv(sharded / "shards" / f"report-{i}-of-4.csv") for i in range(4)]
    assert sorted(sum((list(r["case_id"]) for r in shard_reports), [])) == CASES
    assert not (sharded / "report.csv").exists(), "shards never write the merged report"

    register(f"manifest={cohort}", f"out_dir={sharded}", cwd=tmp_path)  # the merge
    report = pd.read_csv(sharded / "report.csv")
    assert sorted(report["case_id"]) == CASES and report["case_id"].is_unique
    assert (report["status"] == "ok").all() and report["cached"].all(), "nothing registered again"
    for case_id in CASES:
        name = f"labels/{case_id}.png"
        assert (sharded / name).read_bytes() == (single / name).read_bytes()
    columns = ["case_id", "status", "tissue_length_um", "cancer_fraction"]
    expected = pd.read_csv(single / "report.csv")[columns].sort_values("case_id", ignore_index=True)
    pd.testing.assert_frame_equal(
        report[columns].sort_values("case_id", ignore_index=True), expected
    )

    # a lost node: its cases' outputs are gone; the merge registers only those again
    lost = [c for c in CASES if shard_of(c, 4) == 0]
    for case_id in lost:
        (sharded / "labels" / f"{case_id}.png").unlink()
        (sharded / ".cache" / f"{case_id}.json").unlink()
    register(f"manifest={cohort}", f"out_dir={sharded}", cwd=tmp_path)
    report = pd.read_csv(sharded / "report.csv").set_index("case_id")
    assert sorted(report.index[~report["cached"].astype(bool)]) == sorted(lost)
    for case_id in CASES:
        name = f"labels/{case_id}.png"
        assert (sharded / name).read_bytes() == (single / name).read_bytes()


def test_num_shards_without_shard_says_how_to_run_a_multirun(cohort: Path, tmp_path: Path) -> None:
    cfg = compose_entry("register", f"manifest={cohort}", f"out_dir={tmp_path}", "num_shards=3")
    with pytest.raises(ConfigError, match="shard=0,1,...,2"):
        register_from_config(cfg)


def _shard_of_job(cfg: DictConfig) -> str:
    return f"{cfg.shard}/{cfg.num_shards}"


def test_submitit_slurm_launcher_submits_one_job_per_shard(
    cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real SLURM launcher builds and submits a job array, one task per shard; stand-in
    ``sbatch``/``srun`` capture the script instead of a cluster (as for training)."""
    import submitit.slurm.slurm

    if shutil.which("sbatch"):
        pytest.skip("a real sbatch is on PATH")
    bin_dir, script = tmp_path / "bin", tmp_path / "submitted.sh"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(
        f'#!/bin/sh\ncat "$1" > {script}\necho "Submitted batch job 77"\n'
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(submitit.slurm.slurm.SlurmJob, "results", lambda job: [f"job {job.job_id}"])
    out_dir = tmp_path / "registered"
    with packaged_configs():
        cfg = compose(
            "register",
            [
                "hydra/launcher=submitit_slurm",
                f"manifest={cohort}",
                f"out_dir={out_dir}",
                "hydra.job.name=register",
                "hydra.launcher.gpus_per_node=0",
            ],
            return_hydra_config=True,
        )
        context = HydraContext(
            config_loader=GlobalHydra.instance().config_loader(), callbacks=Callbacks(cfg)
        )
        launcher = Plugins.instance().instantiate_launcher(
            hydra_context=context, task_function=_shard_of_job, config=cfg
        )
        returns = launcher.launch(
            [[f"shard={i}", "num_shards=3"] for i in range(3)], initial_job_idx=0
        )
    assert returns == ["job 77_0", "job 77_1", "job 77_2"]
    sbatch = script.read_text()
    assert "#SBATCH --array=0-2%" in sbatch and "#SBATCH --job-name=register" in sbatch
    assert str(out_dir / "shards" / "multirun") in sbatch, "the sweep lives in out_dir/shards"
