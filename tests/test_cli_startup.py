"""The command-line tools answer before any heavy import: help, config printing and config errors
(an unknown key or option with the closest ones, a missing mandatory value, a GPU trainer
without a GPU) come as one line and exit status 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bus_seg.cli.command_line import check_overrides, closest, command_overrides
from bus_seg.errors import ConfigError

CONSOLE_SCRIPTS = {
    "train": "train",
    "eval": "eval",
    "export": "export",
    "predict": "predict",
    "register": "register",
    "simulate": "simulate",
    "validate": "validate",
    "compare": "compare",
    "kfold": "kfold",
}
HEAVY = ("torch", "pytorch_lightning", "segmentation_models_pytorch", "pandas", "matplotlib")


def cli(module: str, *arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", f"from bus_seg.cli.{module} import main; main()", *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.parametrize("module", sorted(CONSOLE_SCRIPTS))
def test_entry_points_import_nothing_heavy(module: str) -> None:
    code = (
        f"import sys, bus_seg.cli.{module}; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    result = cli("train", "trainer.max_epoch=1", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "bus_seg error: trainer.max_epoch is not a key of the train config; "
        "did you mean trainer.max_epochs?"
    ]
    assert not (tmp_path / "logs").exists()


def test_unknown_option_and_key_without_neighbour() -> None:
    with pytest.raises(
        ConfigError, match=r"model=unett is not an option of model; did you mean model=unet\?"
    ):
        check_overrides("train", ["model=unett"], "bus-seg-train")
    with pytest.raises(
        ConfigError,
        match=r"see the keys with `bus-seg-train --cfg job`; to add a new key, write \+zzz.qqq=...",
    ):
        check_overrides("train", ["zzz.qqq=1"], "bus-seg-train")
    with pytest.raises(ConfigError, match="did you mean data.batch_size"):
        check_overrides("train", ["-m", "model=unet,fpn", "data.batchsize=2"], "bus-seg-train")
    check_overrides("train", ["trainer.max_epochs=1", "+extra.key=1"], "bus-seg-train")


def test_command_overrides_skip_flags_and_sweeps() -> None:
    assert command_overrides(["--cfg", "job", "a=1"]) == ["a=1"]
    assert command_overrides(["--help"]) is None
    assert command_overrides(["-m", "model=unet,fpn", "seed=1"]) == ["seed=1"]
    assert closest("max_epoch", ["max_epochs", "min_epochs", "seed"]) == ["max_epochs"]
    assert closest("qqq", ["max_epochs"]) == []


def test_cfg_job_prints_the_config(tmp_path: Path) -> None:
    result = cli("train", "--cfg", "job", "trainer.max_epochs=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "max_epochs: 3" in result.stdout


def test_missing_mandatory_value_is_one_line(tmp_path: Path) -> None:
    result = cli("eval", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "bus_seg error: ckpt_path is not set and has no default; give it on the command line: "
        "bus-seg-eval ckpt_path=logs/train/runs/<date>/checkpoints/last.ckpt"
    ]


def test_gpu_trainer_without_gpu_is_one_line(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = cli("train", "trainer=gpu", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "bus_seg error: trainer.accelerator=gpu needs a CUDA GPU and torch sees none; use "
        "trainer=cpu (or trainer=ddp_sim to try DDP on CPU processes)"
    ]


@pytest.mark.parametrize("module", sorted(CONSOLE_SCRIPTS))
def test_help_answers(module: str, tmp_path: Path) -> None:
    result = cli(module, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Powered by Hydra" in result.stdout or "== Config ==" in result.stdout


def test_startup_benchmark_records_every_command(tmp_path: Path) -> None:
    """The benchmark runs end to end (``--quick``) and records wall and CPU time with provenance."""
    import json

    script = Path(__file__).resolve().parents[1] / "experiments/benchmarks/cli_startup/run.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert {"commit", "loadavg_start", "loadavg_end", "machine"} <= set(result)
    for figures in result["figures"].values():
        assert figures["median_wall_s"] > 0 and figures["median_cpu_s"] > 0
        assert figures["exit_status"] == [0]
