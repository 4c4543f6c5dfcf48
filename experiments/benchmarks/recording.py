"""What every benchmark in this folder records, and how it writes its results.

Each ``<name>/run.py`` imports this module (it puts this folder on ``sys.path``), creates a
:class:`BenchmarkRecord` before it measures anything and calls :meth:`BenchmarkRecord.write`
at the end: ``results.json`` (every figure, the command, seed, threads, the load average at
start and end, date, commit and machine) and ``results.md`` (the tables), both written
atomically. The machine's cores may be shared with other work: ratios measured side by side in
one run hold up under that load, absolute times do not, hence the recorded load averages.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bus_seg.io.atomic import write_json_atomic, write_text_atomic
from bus_seg.provenance import provenance

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parents[1]


def default_out_dir(script_dir: Path, quick: bool) -> Path:
    """Where results go: beside the script, or a temp folder for ``--quick`` smoke runs (so they
    never replace the recorded figures)."""
    if quick:
        return Path(tempfile.gettempdir()) / "bus_seg_benchmarks" / script_dir.name
    return script_dir


def parse_benchmark_args(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    quick_defaults: dict[str, Any],
    script_dir: Path,
) -> argparse.Namespace:
    """Add ``--out-dir`` and ``--quick`` to ``parser`` and parse ``argv``.

    ``--quick`` replaces the defaults with ``quick_defaults`` (options given explicitly still
    win); ``--out-dir`` defaults to :func:`default_out_dir`.
    """
    parser.add_argument("--out-dir", type=Path, default=None, help="default: beside this script")
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run with small defaults: {quick_defaults}"
    )
    args = parser.parse_args(argv)
    if args.quick:
        parser.set_defaults(**quick_defaults)
        args = parser.parse_args(argv)
    args.out_dir = args.out_dir or default_out_dir(script_dir, args.quick)
    return args


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that reproduces this run, from the repository root."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(REPO_ROOT) if script.is_relative_to(REPO_ROOT) else script
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["python", shown.as_posix(), *args])


def use_threads(threads: int) -> None:
    """Run PyTorch's intra-op work on ``threads`` threads (ONNX Runtime is set per session)."""
    torch.set_num_threads(threads)


def median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64)))


def p90(values: Sequence[float]) -> float:
    """90th percentile (linear interpolation)."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), 90))


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; floats are written as given (format them before)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


class BenchmarkRecord:
    """The provenance of one benchmark run, started before the first measurement.

    Args:
        name: the benchmark (its folder name).
        title: heading of ``results.md``.
        seed: the run's seed.
        threads: PyTorch intra-op threads.
        settings: every option that changes the figures (model, sizes, repeats, ...).
        argv: the script's arguments (default ``sys.argv[1:]``).
    """

    def __init__(
        self,
        name: str,
        title: str,
        seed: int,
        threads: int,
        settings: dict[str, Any],
        argv: Sequence[str] | None = None,
    ) -> None:
        self.name, self.title = name, title
        self.command = command_line(argv)
        self.seed, self.threads, self.settings = seed, threads, settings
        self.load_start = os.getloadavg()
        self.started = time.perf_counter()

    def write(self, out_dir: Path, figures: dict[str, Any], markdown: str) -> Path:
        """Write ``results.json`` and ``results.md`` into ``out_dir``; returns the JSON path.

        Args:
            out_dir: the folder (created when missing).
            figures: the measured figures, targets and verdicts (JSON-serialisable).
            markdown: the body of ``results.md`` (tables and notes) below its header.
        """
        load_end = os.getloadavg()
        info = provenance()
        result = {
            "benchmark": self.name,
            "command": self.command,
            "seed": self.seed,
            "threads": self.threads,
            "settings": self.settings,
            "wall_s": round(time.perf_counter() - self.started, 1),
            "loadavg_start": [round(x, 2) for x in self.load_start],
            "loadavg_end": [round(x, 2) for x in load_end],
            **info,
            "figures": figures,
        }
        machine = info["machine"]
        header = "\n".join(
            [
                f"# {self.title}",
                "",
                f"- command: `{self.command}`",
                f"- date: {info['date']}, commit: {info['commit'] or 'not a git checkout'}, seed: {self.seed}",
                f"- machine: {machine['cpus']} CPUs ({machine['cpu_model']}), GPU: {machine['gpu'] or 'none'}, "
                f"torch {machine['torch']}, Python {machine['python']}; {self.threads} PyTorch threads",
                f"- load average (1/5/15 min) at start {_load(self.load_start)}, at end {_load(load_end)}; "
                f"wall time {result['wall_s']} s",
                "",
            ]
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        json_path = write_json_atomic(out_dir / "results.json", result)
        write_text_atomic(out_dir / "results.md", header + "\n" + markdown.rstrip() + "\n")
        return json_path


def _load(load: Sequence[float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)
