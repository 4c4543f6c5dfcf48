"""A process SIGKILLed in the middle of an atomic write leaves the old file whole; the next run
writes the new one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bus_seg.io.atomic import write_json_atomic

WRITER = """
import os, signal, sys
from bus_seg.io.atomic import atomic_path
target, kill = sys.argv[1], sys.argv[2] == "kill"
with atomic_path(target) as tmp:
    with open(tmp, "w") as handle:
        handle.write('{"version": "new", "padding": "')
        handle.write("x" * 1_000_000)
        handle.flush()
        if kill:
            os.kill(os.getpid(), signal.SIGKILL)
        handle.write('"}')
"""


def write_in_a_process(target: Path, kill: bool) -> int:
    return subprocess.run(
        [sys.executable, "-c", WRITER, str(target), "kill" if kill else "finish"], timeout=120
    ).returncode


@pytest.mark.parametrize("existed", [True, False])
def test_a_kill_mid_write_leaves_the_old_file_or_none(tmp_path: Path, existed: bool) -> None:
    target = tmp_path / "metrics.json"
    if existed:
        write_json_atomic(target, {"version": "old"})
    assert write_in_a_process(target, kill=True) == -signal.SIGKILL
    if existed:
        assert json.loads(target.read_text()) == {"version": "old"}
    else:
        assert not target.exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert all(name.startswith(".metrics.") and name.endswith(".tmp.json") for name in leftovers)
    assert write_in_a_process(target, kill=False) == 0
    assert json.loads(target.read_text())["version"] == "new"
