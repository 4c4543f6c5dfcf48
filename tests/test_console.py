"""Quiet by default: no third-party tips, FLOPs of nothing or known deprecation warnings on the
console, and everything the console shows also in the run's log file."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

from bus_seg.cli.console import DropMessages, Tee, without_flops

SUMMARY = """
  | Name | Type            | Params | Mode  | FLOPs
----------------------------------------------------
0 | net  | SegmentationNet | 884 K  | train | 0
----------------------------------------------------
884 K     Trainable params
0         Total Flops"""


def test_tips_are_dropped_and_flops_removed() -> None:
    record = logging.LogRecord("x", logging.INFO, "", 0, "💡 Tip: try litlogger", None, None)
    assert not DropMessages().filter(record)
    summary = logging.LogRecord("x", logging.INFO, "", 0, SUMMARY, None, None)
    assert DropMessages().filter(summary)
    text = summary.getMessage()
    assert "FLOPs" not in text and "Total Flops" not in text
    assert "0 | net  | SegmentationNet | 884 K  | train" in text
    assert without_flops("no summary") == "no summary"


def test_tee_copies_final_progress_states_only() -> None:
    console, copy = io.StringIO(), io.StringIO()
    tee = Tee(console, copy)
    tee.write("bar  10%\rbar 100%\nline\n\x1b[Anested\n")
    tee.write("unfinished")
    tee.close_line()
    assert console.getvalue().startswith("bar  10%\rbar 100%\n")
    assert copy.getvalue() == "bar 100%\nline\nunfinished\n"


def test_run_console_is_quiet_and_logged(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bus_seg.cli.train import main; main()",
            "data=synthetic",
            "data.num_images=8",
            "data.size=32",
            "data.image_size=32",
            "debug=fdr",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    console = done.stdout + done.stderr
    for noise in (
        "Tip:",
        "litlogger",
        "litmodels",
        "Total Flops",
        "LeafSpec",
        "already configured",
    ):
        assert noise not in console, noise
    log = (tmp_path / "run" / "debug.log").read_text(encoding="utf-8")
    assert "[bus_seg] done." in console and "[bus_seg] done." in log
    assert "Seed set to 42" in log
