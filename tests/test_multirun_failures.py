"""A multirun job that fails returns NaN with its reason and the multirun summary lists it; a
single run still fails with a clean message and a non-zero exit status. The end-to-end crashed
job (a real 2-job multirun) is in test_wandb_multirun.py, which also checks its W&B run."""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from bus_seg.cli.app import exits_cleanly
from bus_seg.cli.multirun_summary import SUMMARY_FILE, FailedJobValue, MultirunSummary
from bus_seg.errors import ConfigError


@exits_cleanly
def _fails_with(err: Exception) -> float:
    raise err


def job_config(cfg: DictConfig, sweep_dir: Path, num: int) -> DictConfig:
    """``cfg`` as the Hydra config of job ``num`` of a multirun in ``sweep_dir``."""
    job = copy.deepcopy(cfg)
    with open_dict(job):
        job.hydra.mode = RunMode.MULTIRUN
        job.hydra.sweep.dir = str(sweep_dir)
        job.hydra.runtime.output_dir = str(sweep_dir / str(num))
        job.hydra.job.num = num
        job.hydra.overrides.task = [f"seed={num}"]
    return job


@pytest.fixture
def in_multirun_job(compose_config, tmp_path: Path) -> Iterator[None]:
    """Code under test runs as job 0 of a multirun."""
    HydraConfig.instance().set_config(
        job_config(compose_config("data=synthetic"), tmp_path / "sweep", 0)
    )
    yield
    HydraConfig.instance().cfg = None


def test_single_run_bad_input_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _fails_with(ConfigError("trainer.max_epochs=-1 must be at least 1"))
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "bus_seg error: trainer.max_epochs=-1 must be at least 1\n"
    with pytest.raises(ValueError, match="a bug"):
        _fails_with(ValueError("a bug"))


@pytest.mark.usefixtures("in_multirun_job")
def test_multirun_job_returns_nan_with_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    value = _fails_with(ValueError("a bug\nsecond line"))
    assert isinstance(value, FailedJobValue) and math.isnan(value)
    assert value.error == "ValueError: a bug"
    assert "Traceback" in caplog.text, "a bug keeps its traceback in the job's log"
    restored = pickle.loads(pickle.dumps(value))  # joblib and submitit send it back pickled
    assert restored.error == value.error and math.isnan(restored)
    assert _fails_with(ConfigError("bad option")).error == "ConfigError: bad option"


def test_summary_lists_ok_failed_and_unfinished_jobs(compose_config, tmp_path: Path) -> None:
    cfg, sweep = compose_config("data=synthetic"), tmp_path / "sweep"
    summary = MultirunSummary()
    outcomes = {0: 0.75, 1: FailedJobValue("ConfigError: bad option"), 2: None}
    for num, value in outcomes.items():
        job = job_config(cfg, sweep, num)
        summary.on_job_start(job, task_function=_fails_with)
        if value is not None:  # job 2 never reports back (its process was killed)
            job_return = JobReturn()
            job_return.return_value, job_return.status = value, JobStatus.COMPLETED
            summary.on_job_end(job, job_return)
    summary.on_multirun_end(job_config(cfg, sweep, 0))
    table = pd.read_csv(sweep / SUMMARY_FILE)
    assert table["status"].tolist() == ["ok", "failed", "unfinished"]
    assert table["value"].tolist()[0] == 0.75
    assert table["error"].tolist()[1] == "ConfigError: bad option"
