"""The console of a run: quiet third-party noise, and a copy of everything in the run's log file.

- :func:`quiet_third_party` drops what the user cannot act on: Lightning's advertising tips
  (litlogger, litmodels), its note that our own ModelSummary callback replaces the default one,
  the FLOPs column and "Total Flops" line of a summary that has no example input (always 0), and
  the deprecation warning Lightning's pytree helper raises under recent PyTorch. Warnings are
  routed through logging, so they reach the log file too.
- :func:`console_to_log` copies everything printed to stdout and stderr (bus_seg's own lines,
  the final state of each progress bar, error messages) into the log file that Hydra's
  ``job_logging`` writes (``<run>/<task_name>.log``), beside the log records it already holds.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

DROPPED_MESSAGES = (
    re.compile(r"^💡 Tip: "),
    re.compile(r"^Trainer already configured with model summary callbacks"),
)
IGNORED_WARNINGS = (r".*isinstance\(treespec, LeafSpec\)` is deprecated",)
# Filters act on the logger a record is made on: Lightning's rank-zero messages and its summary.
FILTERED_LOGGERS = (
    "pytorch_lightning.utilities.rank_zero",
    "lightning_fabric.utilities.rank_zero",
    "pytorch_lightning.callbacks.model_summary",
)


class DropMessages(logging.Filter):
    """Drops records whose message matches one of :data:`DROPPED_MESSAGES`, and removes the
    FLOPs figures from a model summary whose total is 0."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(pattern.search(message) for pattern in DROPPED_MESSAGES):
            return False
        if re.search(r"^\s*0\s+Total Flops\s*$", message, re.M):
            record.msg, record.args = without_flops(message), None
        return True


def without_flops(summary: str) -> str:
    """A Lightning model summary without its FLOPs column and its ``Total Flops`` line."""
    lines = [line for line in summary.splitlines() if not line.rstrip().endswith("Total Flops")]
    header = next((i for i, line in enumerate(lines) if line.rstrip().endswith("| FLOPs")), None)
    if header is None:
        return "\n".join(lines)
    width = len(lines[header].rsplit(" | ", 1)[0].rstrip())
    for i, line in enumerate(lines):
        if " | " in line:
            lines[i] = line.rsplit(" | ", 1)[0].rstrip()
        elif set(line.strip()) == {"-"}:
            lines[i] = "-" * width
    return "\n".join(lines)


def quiet_third_party() -> None:
    """Install the filters of this module (idempotent)."""
    for name in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=name)
    logging.captureWarnings(True)
    for name in FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropMessages) for f in logger.filters):
            logger.addFilter(DropMessages())


class Tee:
    """A text stream that writes to ``stream`` and, line by line, to ``copy``; of a line redrawn
    with carriage returns (a progress bar) only its final state is copied."""

    def __init__(self, stream: TextIO, copy: TextIO) -> None:
        self.stream, self.copy, self.pending = stream, copy, ""

    def write(self, text: str) -> int:
        written = self.stream.write(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self._copy_line(line)
        return written

    def _copy_line(self, line: str) -> None:
        # Nested progress bars (Lightning's validation bar) redraw with cursor movements: their
        # lines are transient on the console and left out of the copy.
        final = line.rsplit("\r", 1)[-1].rstrip()
        if final and "\x1b[" not in final:
            self.copy.write(final + "\n")

    def flush(self) -> None:
        self.stream.flush()
        self.copy.flush()

    def close_line(self) -> None:
        """Copy an unfinished last line (a progress bar left without a newline)."""
        self._copy_line(self.pending)
        self.pending = ""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def log_file() -> Path | None:
    """The file of the root logger's first file handler (Hydra's job log), if any."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            return Path(handler.baseFilename)
    return None


@contextmanager
def console_to_log() -> Iterator[None]:
    """Copy stdout and stderr into the job's log file while the block runs."""
    path = log_file()
    if path is None or isinstance(sys.stdout, Tee):
        yield
        return
    with path.open("a", encoding="utf-8") as copy:
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = Tee(out, copy), Tee(err, copy)
        try:
            yield
        finally:
            for tee in (sys.stdout, sys.stderr):
                if isinstance(tee, Tee):
                    tee.close_line()
                    tee.flush()
            sys.stdout, sys.stderr = out, err
