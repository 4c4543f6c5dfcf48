"""Startup time of every console script: ``--help``, plus ``bus-seg-train --cfg job`` and a typo.

Each command runs as a fresh process, ``--repeats`` times, in turn (so machine load hits all
alike). Recorded per command: the median and maximum wall time, and the median CPU time of the
child process (user + system, from ``resource.getrusage(RUSAGE_CHILDREN)``). CPU time counts the
work of starting up whatever else runs on the machine; wall time is what a user waits for and
swings with the load, hence the load averages in the record. Target: every median wall time
≤ 3 s.

    python experiments/benchmarks/cli_startup/run.py             # 5 repeats
    python experiments/benchmarks/cli_startup/run.py --quick     # smoke run (1 repeat, 2 scripts)
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib.metadata import distribution
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recording import (  # noqa: E402
    BenchmarkRecord,
    markdown_table,
    median,
    parse_benchmark_args,
    verdict,
)

TARGET_S = 3.0
EXTRA = {
    "bus-seg-train --cfg job": ["bus-seg-train", "--cfg", "job"],
    "bus-seg-train trainer.max_epoch=1 (typo)": ["bus-seg-train", "trainer.max_epoch=1"],
}


def console_scripts() -> list[str]:
    """The console scripts of the installed bus_seg (``[project.scripts]`` of pyproject.toml)."""
    points = distribution("bus_seg").entry_points
    return sorted(point.name for point in points if point.group == "console_scripts")


def timed(command: list[str]) -> tuple[float, float, int]:
    """``(wall s, child CPU s, exit status)`` of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scripts", nargs="*", default=None, help="default: all console scripts")
    script_dir = Path(__file__).resolve().parent
    args = parse_benchmark_args(
        parser, argv, {"repeats": 1, "scripts": ["bus-seg-train", "bus-seg-validate"]}, script_dir
    )
    bin_dir = Path(sys.executable).parent
    commands = {f"{name} --help": [name, "--help"] for name in args.scripts or console_scripts()}
    if not args.quick:
        commands.update(EXTRA)
    record = BenchmarkRecord(
        "cli_startup",
        "Console scripts: startup time",
        seed=0,
        threads=1,
        settings={"repeats": args.repeats, "commands": [" ".join(c) for c in commands.values()]},
        argv=argv,
    )
    samples: dict[str, list[tuple[float, float, int]]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():
            samples[name].append(timed([str(bin_dir / command[0]), *command[1:]]))
    figures, rows = {}, []
    for name, runs in samples.items():
        walls, cpus, codes = zip(*runs, strict=True)
        figures[name] = {
            "median_wall_s": round(median(walls), 3),
            "max_wall_s": round(max(walls), 3),
            "median_cpu_s": round(median(cpus), 3),
            "exit_status": sorted(set(codes)),
            "target_met": median(walls) <= TARGET_S,
        }
        rows.append(
            [
                f"`{name}`",
                f"{median(walls):.2f}",
                f"{max(walls):.2f}",
                f"{median(cpus):.2f}",
                ",".join(map(str, sorted(set(codes)))),
                verdict(median(walls) <= TARGET_S),
            ]
        )
    table = markdown_table(
        ["command", "median wall (s)", "max wall (s)", "median CPU (s)", "exit", "≤ 3 s"], rows
    )
    path = record.write(args.out_dir, figures, f"{args.repeats} runs of each command.\n\n{table}")
    print(table)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
