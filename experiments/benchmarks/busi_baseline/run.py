"""CPU baseline on real data: train on BUSI malignant (../shared/data/busi), record test figures.

Usage (from the repository root):
    .venv/bin/python experiments/benchmarks/busi_baseline/run.py [extra Hydra overrides]

Writes results.json and results.md beside this file: test Dice, pixel accuracy and recall, pooled
and per image, with the command, seed, commit, machine and wall time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bus_seg.io.atomic import write_json_atomic, write_text_atomic
from bus_seg.provenance import provenance

HERE = Path(__file__).resolve().parent
RUN_DIR = Path("logs/benchmarks/busi_baseline")
METRICS = ("dice", "pixel_acc", "recall")


def main(overrides: list[str]) -> None:
    command = [
        sys.executable,
        "-m",
        "bus_seg.train",
        "experiment=busi_malignant",
        f"hydra.run.dir={RUN_DIR}",
        *overrides,
    ]
    # a fresh run: a checkpoint left by an interrupted benchmark would be resumed automatically
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall_s = time.perf_counter() - start
    run = json.loads((RUN_DIR / "metrics.json").read_text())
    evaluation = json.loads((RUN_DIR / "test" / "metrics.json").read_text())["metrics"]
    figures = {
        "pooled": {m: evaluation[f"test/{m}"] for m in METRICS},
        "per_image_mean": {m: evaluation[f"test/per_image/{m}/mean"] for m in METRICS},
        "per_image_n": {m: evaluation[f"test/per_image/{m}/n"] for m in METRICS},
    }
    result = {
        "command": " ".join(["python", *command[1:]]),
        "seed": run["seed"],
        "epochs": run["epochs_completed"],
        "wall_s": round(wall_s, 1),
        "test": figures,
        **provenance(),
    }
    write_json_atomic(HERE / "results.json", result)
    rows = "\n".join(
        f"| {m} | {figures['pooled'][m]:.4f} | {figures['per_image_mean'][m]:.4f} (n={figures['per_image_n'][m]}) |"
        for m in METRICS
    )
    write_text_atomic(
        HERE / "results.md",
        f"# BUSI malignant CPU baseline\n\n`{result['command']}` — seed {result['seed']}, "
        f"{result['epochs']} epochs, {result['wall_s']} s wall on {result['machine']['cpus']} CPUs "
        f"({result['machine']['cpu_model']}), commit {result['commit']}, {result['date']}.\n\n"
        f"| test metric | pooled over pixels | mean over images |\n|---|---|---|\n{rows}\n",
    )
    print((HERE / "results.md").read_text())


if __name__ == "__main__":
    main(sys.argv[1:])
