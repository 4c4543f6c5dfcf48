"""What every Hydra entry point shares: the packaged config path, a command-line check before
Hydra runs, and clean error exits.

Entry points import only Hydra and this package's light modules at the top; torch, Lightning and
the library's heavy modules are imported inside the task function, after Hydra has composed the
config, so ``--help``, ``--cfg job`` and configuration errors answer at once.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from bus_seg.cli.command_line import check_overrides
from bus_seg.cli.console import console_to_log, quiet_third_party
from bus_seg.cli.multirun_summary import in_multirun, job_failed
from bus_seg.config import prepare_hydra
from bus_seg.errors import BusSegError, ConfigError

CONFIG_PATH = "pkg://bus_seg.conf"
HYDRA_VERSION_BASE = "1.3"

log = logging.getLogger("bus_seg")

prepare_hydra()


def exits_cleanly(task: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a :class:`BusSegError` into one clear message on stderr and exit status 2.

    The task runs with third-party noise filtered out and its console copied into the job's log
    file (:mod:`bus_seg.cli.console`).

    Any other exception propagates (with its traceback): it is a bug, not bad input. In a
    multirun (``-m``) no exception leaves the job: it is logged in the job's log, recorded for
    the multirun summary, and the job returns NaN (a
    :class:`~bus_seg.cli.multirun_summary.FailedJobValue`), so the other jobs and the sweeper
    go on.
    """

    @functools.wraps(task)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        quiet_third_party()
        with console_to_log():
            try:
                try:
                    return task(*args, **kwargs)
                except MissingMandatoryValue as missing:
                    raise ConfigError(missing_value_message(missing.full_key)) from None
            except Exception as err:
                if in_multirun():
                    return job_failed(err)
                if isinstance(err, BusSegError):
                    print(f"bus_seg error: {err}", file=sys.stderr)
                    sys.exit(2)
                raise

    return wrapper


def missing_value_message(key: str, example: str | None = None) -> str:
    """One line naming a mandatory option (``???`` in the config) and how to give it."""
    example = example or f"{key}=<value>"
    return f"{key} is not set and has no default; give it on the command line: {example}"


def require_values(cfg: DictConfig, examples: dict[str, str]) -> None:
    """Raise a :class:`ConfigError` for the first mandatory key of ``examples`` that is missing.

    Args:
        cfg: the composed config.
        examples: key → an example command line that sets it.
    """
    for key, example in examples.items():
        if OmegaConf.is_missing(cfg, key):
            raise ConfigError(missing_value_message(key, example))


def run_app(hydra_main: Callable[[], Any], config_name: str, program: str) -> None:
    """Check the command line's overrides against ``config_name``, then run the Hydra app.

    An unknown key or group option prints one line with the closest ones and exits with
    status 2 (``HYDRA_FULL_ERROR=1`` leaves everything to Hydra).
    """
    if not os.environ.get("HYDRA_FULL_ERROR"):
        try:
            check_overrides(config_name, sys.argv[1:], program)
        except ConfigError as err:
            print(f"bus_seg error: {err}", file=sys.stderr)
            sys.exit(2)
    try:
        hydra_main()
    except BrokenPipeError:
        # The reader went away (`bus-seg-train --help | head`): stop quietly, as `cat` does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
