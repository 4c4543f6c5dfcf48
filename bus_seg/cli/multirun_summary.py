"""Multirun bookkeeping: a failed job's NaN result, per-job status files, and the sweep summary.

In a multirun (``-m``) every job writes ``job_status.json`` into its output folder when it starts
and when it ends; at the end of the multirun :class:`MultirunSummary` gathers them into
``<sweep dir>/multirun_summary.csv`` and prints one line per job. A job that raised shows as
``failed`` with the error's one-line message; a job that never reported back (its process was
killed) shows as ``unfinished``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from bus_seg.errors import BusSegError
from bus_seg.io.atomic import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

STATUS_FILE = "job_status.json"
SUMMARY_FILE = "multirun_summary.csv"
COLUMNS = ("job", "status", "value", "error", "overrides", "output_dir")


class FailedJobValue(float):
    """The result of a multirun job that raised: NaN to sweepers, with the reason in ``error``
    (the error's one-line message, ``ExceptionName: message``)."""

    error: str

    def __new__(cls, error: str) -> FailedJobValue:
        value = super().__new__(cls, math.nan)
        value.error = error
        return value

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return FailedJobValue, (self.error,)

    def __repr__(self) -> str:
        return f"FailedJobValue({self.error!r})"


def in_multirun() -> bool:
    """Whether the current Hydra job is one job of a multirun (``-m``)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def one_line(err: BaseException) -> str:
    """``ExceptionName: first line of the message``."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def job_failed(err: Exception) -> FailedJobValue:
    """Log why a multirun job failed (in its log file) and return its NaN result.

    A :class:`~bus_seg.errors.BusSegError` (bad input) gets one line; anything else, a bug, gets
    its traceback.
    """
    if isinstance(err, BusSegError):
        log.error("job failed: %s", err)
    else:
        log.exception("job failed")
    return FailedJobValue(one_line(err))


def job_outcome(job_return: JobReturn) -> tuple[str, float | None, str]:
    """``(status, value, error)`` of a finished job: ``ok`` or ``failed``."""
    try:
        value = job_return.return_value  # re-raises the job's exception when it failed
    except Exception as err:
        return "failed", None, one_line(err)
    if isinstance(value, FailedJobValue):
        return "failed", None, value.error
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    return "ok", None if number is None or not math.isfinite(number) else float(number), ""


def read_statuses(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every job's status under ``sweep_dir``, by job number; ``running`` becomes ``unfinished``."""
    rows = []
    for path in sweep_dir.rglob(STATUS_FILE):
        row = json.loads(path.read_text(encoding="utf-8"))
        if row["status"] == "running":
            row["status"] = "unfinished"
            row["error"] = "the job never reported back (killed, out of memory, time limit?)"
        rows.append(row)
    return sorted(rows, key=lambda r: int(r["job"]))


def summary_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV text with :data:`COLUMNS`."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def summary_text(rows: list[dict[str, Any]], path: Path) -> str:
    """A headline with counts and where the CSV is, then one line per job with the overrides
    that differ between jobs (the CSV has them all)."""
    statuses = [r["status"] for r in rows]
    counts = ", ".join(
        f"{statuses.count(s)} {s}" for s in ("ok", "failed", "unfinished") if s in statuses
    )
    lines = [f"[bus_seg] multirun: {len(rows)} jobs ({counts or 'none ran'}); summary: {path}"]
    overrides = [row["overrides"].split() for row in rows]
    shared = set.intersection(*map(set, overrides)) if len(rows) > 1 else set()
    for row, job_overrides in zip(rows, overrides, strict=True):
        varying = " ".join(o for o in job_overrides if o not in shared) or "(same overrides)"
        detail = row["error"] if row["status"] != "ok" else f"value={row['value']}"
        lines.append(f"  #{row['job']} {row['status']:<10} {varying} | {detail}")
    return "\n".join(lines)


class MultirunSummary(Callback):
    """Hydra callback (``hydra.callbacks``) that records each multirun job and summarises them.

    Does nothing in single runs. Job status files are written where the job runs (a joblib
    worker, a SLURM node), so the summary works with every launcher whose sweep folder is shared.
    """

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode == RunMode.MULTIRUN:
            self._write_status(config, status="running", value=None, error="")

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode == RunMode.MULTIRUN:
            status, value, error = job_outcome(job_return)
            self._write_status(config, status=status, value=value, error=error)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        rows = read_statuses(sweep_dir) if sweep_dir.is_dir() else []
        path = write_text_atomic(sweep_dir / SUMMARY_FILE, summary_csv(rows))
        print(summary_text(rows, path), flush=True)

    @staticmethod
    def _write_status(config: DictConfig, *, status: str, value: float | None, error: str) -> None:
        output_dir = Path(str(config.hydra.runtime.output_dir))
        row = {
            "job": int(config.hydra.job.num),
            "status": status,
            "value": value,
            "error": error,
            "overrides": " ".join(config.hydra.overrides.task),
            "output_dir": str(output_dir),
        }
        write_json_atomic(output_dir / STATUS_FILE, row)
