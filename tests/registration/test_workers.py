"""Registration's pool workers keep OpenCV to one thread (the pool runs one worker per core)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import cv2
import pytest

from bus_seg.registration.workers import init_worker


def test_pool_workers_use_one_opencv_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # without init_worker a spawned worker would start with 4 threads, whatever the machine
    monkeypatch.setenv("OPENCV_FOR_THREADS_NUM", "4")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        assert pool.submit(cv2.getNumThreads).result() == 4
    with ProcessPoolExecutor(
        1, mp_context=context, initializer=init_worker, initargs=(os.getpid(),)
    ) as pool:
        assert pool.submit(cv2.getNumThreads).result() == 1
