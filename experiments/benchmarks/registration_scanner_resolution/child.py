"""One case of the scanner-resolution benchmark, registered in this fresh process.

    python child.py <manifest> <case_id> <1: tissue_regions, 0: whole level> <labels.npy>

Prints one JSON line: wall and CPU seconds inside ``register_case``, this process's peak
resident memory, and the agreement with the reference label map. Imports only what
registration needs (not torch), so the peak is registration's. The peak is ``VmHWM`` of
``/proc/self/status``: on Linux ``ru_maxrss`` keeps the parent's peak across fork and exec.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np

from bus_seg.io.manifest import read_manifest
from bus_seg.registration.case import register_case
from bus_seg.registration.settings import RegistrationSettings


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


def main(manifest: str, case_id: str, regions: bool, labels_out: str) -> None:
    (record,) = [r for r in read_manifest(manifest).records if r.case_id == case_id]
    settings = RegistrationSettings(qc=False, tissue_regions=regions)
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
        "tissue_grid_px": int(case.tissue.mask.size),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4])
