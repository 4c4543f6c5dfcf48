"""What every Hydra entry point shares: the packaged config path and clean error exits."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

from bus_seg.cli.multirun_summary import in_multirun, job_failed
from bus_seg.config import prepare_hydra
from bus_seg.errors import BusSegError

CONFIG_PATH = "pkg://bus_seg.conf"
HYDRA_VERSION_BASE = "1.3"

log = logging.getLogger("bus_seg")

prepare_hydra()


def exits_cleanly(task: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a :class:`BusSegError` into one clear message on stderr and exit status 2.

    Any other exception propagates (with its traceback): it is a bug, not bad input. In a
    multirun (``-m``) no exception leaves the job: it is logged in the job's log, recorded for
    the multirun summary, and the job returns NaN (a
    :class:`~bus_seg.cli.multirun_summary.FailedJobValue`), so the other jobs and the sweeper
    go on.
    """

    @functools.wraps(task)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return task(*args, **kwargs)
        except Exception as err:
            if in_multirun():
                return job_failed(err)
            if isinstance(err, BusSegError):
                print(f"bus_seg error: {err}", file=sys.stderr)
                sys.exit(2)
            raise

    return wrapper
