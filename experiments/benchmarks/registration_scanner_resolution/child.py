"""One case of the scanner-resolution benchmark, registered in this fresh process.

    python child.py <manifest> <case_id> <new|whole|before> <labels.npy> <threads>

``new`` reads coarse-to-fine (``tissue_regions=true``), ``whole`` decodes the whole pyramid
level (``tissue_regions=false``), ``before`` is the registration of the ``bus_seg`` found first
on ``PYTHONPATH`` (the parent puts the pre-issue package there) with its default settings.
``threads`` bounds OpenCV's threads (as a registration pool worker does; the ``before`` code
does not use OpenCV, so it is not imported there).

Prints one JSON line: wall and CPU seconds inside ``register_case``, this process's peak
resident memory, the agreement with the reference label map, and the folder of the
``bus_seg`` that ran. Imports only what registration needs (not torch), so the peak is
registration's. The peak is ``VmHWM`` of ``/proc/self/status``: on Linux ``ru_maxrss`` keeps
the parent's peak across fork and exec.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

import bus_seg
from bus_seg.io.manifest import read_manifest
from bus_seg.registration.case import register_case
from bus_seg.registration.settings import RegistrationSettings

SETTINGS = {"new": {"tissue_regions": True}, "whole": {"tissue_regions": False}, "before": {}}


def peak_rss_mb() -> float:
    """This process's peak resident memory (MB): VmHWM where /proc has it, else ru_maxrss."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(manifest: str, case_id: str, path: str, labels_out: str, threads: str) -> None:
    if path != "before":
        import cv2

        cv2.setNumThreads(int(threads))
    (record,) = [r for r in read_manifest(manifest).records if r.case_id == case_id]
    settings = RegistrationSettings(qc=False, **SETTINGS[path])
    wall, cpu = time.perf_counter(), time.process_time()
    case = register_case(record, settings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    np.save(labels_out, case.labels)
    figures = {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "dice": case.fields["dice_vs_reference"],
        "boundary_error_mm": case.fields["boundary_error_mm_vs_reference"],
        "package": str(Path(bus_seg.__file__).resolve().parent),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main(*sys.argv[1:6])
