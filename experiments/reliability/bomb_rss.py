"""Peak memory of refusing each "decompression bomb" (a small file claiming a huge image).

Usage (from the repository root):
    .venv/bin/python experiments/reliability/bomb_rss.py

Each bomb is made in a temporary folder (see ``tests/helpers/bombs.py``) and read in a fresh
child process by the reader that registration and validation use; the child's peak resident
memory (``VmHWM``) is printed with the error it gave. The DICOM bomb holds
all its claimed pixel bytes (deflated), so it truly inflates to 1.6 GB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script: the repository root, for tests.helpers
from tests.helpers.bombs import write_dicom_bomb, write_tiff_bomb  # noqa: E402

LIMIT_MB = 500.0
READERS = {
    "wsi_level": "from bus_seg.io.wsi import open_wsi\nopen_wsi(PATH, mpp=0.5).read_level(0)",
    "ultrasound": "from bus_seg.io.ultrasound import read_ultrasound\nread_ultrasound(PATH, 0.1)",
    "label_image": (
        "from bus_seg.io.annotations import read_annotation\n"
        "read_annotation(PATH, (30000, 30000), ['Tumor'])"
    ),
    "label_map": "from bus_seg.io.images import read_label_map\nread_label_map(PATH)",
}


@dataclass(frozen=True)
class Measurement:
    """One bomb read in a child process."""

    name: str
    file_bytes: int
    peak_rss_mb: float
    refused: bool
    message: str


def make_bombs(folder: Path) -> list[tuple[str, Path, str]]:
    """``(name, file, reader)`` of every bomb of issue 12."""
    return [
        (
            "tiled TIFF slide 30000² RGB",
            write_tiff_bomb(folder / "slide.tif", 30000, 30000),
            "wsi_level",
        ),
        (
            "ultrasound TIFF 60000² gray",
            write_tiff_bomb(folder / "us.tif", 60000, 60000, 1),
            "ultrasound",
        ),
        (
            "deflated DICOM 40000² (1.6 GB inflated)",
            write_dicom_bomb(folder / "us.dcm", 40000, 40000, real_pixels=True),
            "ultrasound",
        ),
        (
            "label TIFF 30000² (annotation)",
            write_tiff_bomb(folder / "labels.tif", 30000, 30000, 1),
            "label_image",
        ),
        (
            "label map TIFF 50000²",
            write_tiff_bomb(folder / "label_map.tif", 50000, 50000, 1),
            "label_map",
        ),
    ]


def measure(name: str, path: Path, reader: str) -> Measurement:
    """Read ``path`` with ``reader`` in a fresh child process; its peak RSS and outcome.

    The peak is the child's ``VmHWM`` (Linux), which starts afresh at ``exec``; ``ru_maxrss``
    would also count the parent's memory copied by ``fork``.
    """
    code = (
        "from pathlib import Path\nfrom bus_seg.errors import InputError\n"
        f"PATH = Path({str(path)!r})\ntry:\n"
        + "".join(f"    {line}\n" for line in READERS[reader].splitlines())
        + "    print('DECODED')\nexcept InputError as err:\n    print('REFUSED', err)\n"
        + "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("BUS_SEG_MAX_PIXELS", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=600
    )
    lines = done.stdout.strip().splitlines()
    peak_kb = (
        float(lines[-1].split()[1]) if lines and lines[-1].startswith("VmHWM") else float("nan")
    )
    message = "\n".join(lines[:-1]) or done.stderr[-2000:]
    return Measurement(
        name, path.stat().st_size, peak_kb / 1024, message.startswith("REFUSED"), message
    )


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure(*bomb) for bomb in make_bombs(Path(tmp))]
    print("| bomb | file size | peak RSS of the reading process | refused |")
    print("|---|---:|---:|---|")
    for r in results:
        print(
            f"| {r.name} | {r.file_bytes / 1e3:.0f} kB | {r.peak_rss_mb:.0f} MB | {'yes' if r.refused else 'NO'} |"
        )
    for r in results:
        print(f"{r.name}: {r.message[:300]}")
    return 0 if all(r.refused and r.peak_rss_mb < LIMIT_MB for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
