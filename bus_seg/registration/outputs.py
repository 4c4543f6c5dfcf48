"""The registration output folder: checked before any case runs, and clear messages when it fails.

A cohort run writes ``labels/``, ``qc/``, ``.cache/`` and ``report.csv`` into ``out_dir``. A
folder that is a file, read-only, or on a nearly full disk would otherwise fail every case with
an ``OSError``; :func:`check_out_dir` says so once, up front, and :func:`output_error_message`
turns an ``OSError`` met while writing into a message about the folder, not the case.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from bus_seg.errors import ConfigError, InputError

MIN_FREE_BYTES = 64 * 2**20
"""Free space needed to start: a first case's label map, QC picture and cache entry, with room."""
MAX_QC_DPI = 600
"""Highest ``registration.qc_dpi``: a QC picture is 13 × 5.2 inches, 7800 × 3120 px at 600 dpi."""


def check_out_dir(out_dir: Path, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Create ``out_dir`` if needed and check that a first case can be written into it.

    Raises:
        InputError: ``out_dir`` (or a parent) is a file, cannot be created or written, or its
            disk has less than ``min_free_bytes`` free.
    """
    for parent in (out_dir, *out_dir.parents):
        if parent.exists() and not parent.is_dir():
            raise InputError(
                f"the output folder cannot be created: {parent} is a file, not a folder; choose "
                "another out_dir",
                out_dir,
            )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir, prefix=".bus_seg-write-check."):
            pass
    except OSError as err:
        raise InputError(output_error_message(err, out_dir), out_dir) from None
    free = shutil.disk_usage(out_dir).free
    if free < min_free_bytes:
        raise InputError(
            f"the output folder's disk has {free / 2**20:.1f} MiB free, under the "
            f"{min_free_bytes / 2**20:.0f} MiB a first case needs; free some space or choose "
            "another out_dir",
            out_dir,
        )


def check_qc_dpi(qc_dpi: int) -> None:
    """Refuse a QC resolution whose pictures would not fit in memory.

    Raises:
        ConfigError: ``qc_dpi`` is over :data:`MAX_QC_DPI`.
    """
    if qc_dpi > MAX_QC_DPI:
        raise ConfigError(
            f"registration.qc_dpi={qc_dpi} would make QC pictures of {13 * qc_dpi}×"
            f"{round(5.2 * qc_dpi)} px; use at most {MAX_QC_DPI} (the default is 100)"
        )


def output_error_message(err: OSError, out_dir: Path) -> str:
    """A message about the output folder for an ``OSError`` met while writing into it."""
    reason = os.strerror(err.errno) if err.errno else str(err)
    if err.errno == errno.ENOSPC or err.errno == errno.EDQUOT:
        fix = "the disk (or quota) is full: free some space, or choose another out_dir"
    elif err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        fix = "the output folder cannot be written: fix its permissions, or choose another out_dir"
    elif err.errno == errno.ENAMETOOLONG:
        fix = "a file name is too long: shorten the case_id (or the out_dir path)"
    else:
        fix = "check the output folder (disk, permissions), or choose another out_dir"
    where = f" ({err.filename})" if err.filename else ""
    return f"cannot write into the output folder {out_dir}{where}: {reason}; {fix}"
