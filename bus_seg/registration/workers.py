"""Worker processes that die with their parent: no orphan keeps running after a killed run.

:func:`die_with_parent` is the initializer of registration's process pool. On Linux it asks the
kernel to send SIGKILL to the worker when its parent dies (``prctl(PR_SET_PDEATHSIG)``); on every
system a daemon thread also checks once a second whether the parent is gone (``os.getppid()``
changes when a process is orphaned) and then ends the worker.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
WATCHDOG_SECONDS = 1.0


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when ``parent_pid`` (the process that started it) ends."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still works
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True, name="die-with-parent").start()


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_SECONDS)
    os._exit(1)
