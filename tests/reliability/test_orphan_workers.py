"""Registration workers die with their parent: SIGKILL a ``workers=2`` run, no process is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.registration_factory import CaseSpec, FragmentSpec, write_cohort

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]

RUN = """
import sys
from bus_seg.registration import register_cohort
register_cohort(sys.argv[1], sys.argv[2], workers=2, progress=False, use_cache=False)
"""


def descendants(pid: int) -> set[int]:
    """Live (not zombie) processes below ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            children.setdefault(int(ppid), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_die_when_the_parent_is_killed(tmp_path: Path) -> None:
    specs = [
        CaseSpec(
            f"case{i}",
            [FragmentSpec(3000, tilt_deg=3), FragmentSpec(2000, gap_um=300)],
            [(1000, 2500)],
            tract=(30.0, 50.0, 110.0, 100.0),
            mpp=2.0,
            seed=i,
        )
        for i in range(8)
    ]
    manifest = write_cohort(specs, tmp_path / "cohort")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen(
        [sys.executable, "-c", RUN, str(manifest), str(tmp_path / "out")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(workers) < 2:
            time.sleep(0.2)
            workers = descendants(parent.pid)
            assert parent.poll() is None, "the run ended before its workers could be seen"
        assert len(workers) >= 2, workers
        time.sleep(1.0)
        workers |= descendants(parent.pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(pid) for pid in workers):
            time.sleep(0.2)
        left = [pid for pid in workers if alive(pid)]
        assert not left, f"processes still running after their parent was killed: {left}"
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in workers | descendants(parent.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
