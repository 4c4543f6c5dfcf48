"""Registration's worker processes: one thread each, and no orphan after a killed run.

:func:`init_worker` is the initializer of registration's process pool. The pool runs a worker
per core, so OpenCV keeps to one thread in each. With :func:`die_with_parent`, on Linux the
kernel sends SIGKILL to the worker when its parent dies (``prctl(PR_SET_PDEATHSIG)``); on every
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

import cv2

PR_SET_PDEATHSIG = 1
WATCHDOG_SECONDS = 1.0


def init_worker(parent_pid: int) -> None:
    """Initialise a pool worker: one OpenCV thread, and it ends when ``parent_pid`` ends."""
    cv2.setNumThreads(1)
    die_with_parent(parent_pid)


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
