"""Registration's pool workers keep OpenCV to one thread (the pool runs one worker per core)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import cv2

from bus_seg.registration.workers import init_worker


def test_pool_workers_use_one_opencv_thread() -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        1, mp_context=context, initializer=init_worker, initargs=(os.getpid(),)
    ) as pool:
        assert pool.submit(cv2.getNumThreads).result() == 1
