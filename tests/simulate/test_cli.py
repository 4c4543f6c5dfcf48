"""bus-seg-simulate: summary on success, one clean message and exit status 2 on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bus_seg.cli.simulate import run
from tests.helpers.configs import compose_entry


def test_run_prints_a_summary(tmp_path: Path) -> None:
    cfg = compose_entry(
        "simulate", f"out_dir={tmp_path / 'c'}", "num_cases=2", "progress=false", "simulation=easy"
    )
    text = run(cfg)
    assert "cases written: 2" in text and "difficulty: easy" in text and "s per case" in text
    assert (tmp_path / "c" / "manifest.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_bad_option_exits_cleanly(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "bus_seg.cli.simulate",
        f"out_dir={tmp_path / 'c'}",
        "faults.fragments=[0,3]",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert "faults.fragments" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # Hydra wrote nothing either
