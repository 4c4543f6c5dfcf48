"""Issue 11 acceptance on real multiruns: a 3-seed multirun has one test set and bus-seg-compare
takes its glob; the README's k-fold command works as written on a 2-fold multirun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

TINY = [
    "data=synthetic",
    "data.num_images=12",
    "data.size=48",
    "data.image_size=32",
    "data.batch_size=4",
    "trainer.max_epochs=1",
    "evaluation.max_overlays=0",
]


def _run(tmp_path: Path, module: str, *arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_seed_multirun_compares_and_kfold_multirun_aggregates(tmp_path: Path) -> None:
    """Five short training jobs (about a minute on 2 cores)."""
    cache = f"paths.cache_dir={tmp_path / 'cache'}"
    seeds = tmp_path / "multiruns" / "seeds"
    _run(
        tmp_path, "bus_seg.cli.train", "-m", *TINY, "seed=1,2,3", f"hydra.sweep.dir={seeds}", cache
    )
    assert (seeds / "multirun.yaml").is_file()
    tests = [
        pd.read_csv(seeds / job / "split.csv").query("subset == 'test'")["image_id"].tolist()
        for job in ("0", "1", "2")
    ]
    assert tests[0] and tests[0] == tests[1] == tests[2], "one test set for every training seed"
    out = tmp_path / "comparison"
    _run(
        tmp_path,
        "bus_seg.cli.compare",
        str(seeds / "*"),
        "n_boot=200",
        f"out_dir={out}",
        f"hydra.run.dir={tmp_path / 'hydra_compare'}",
    )
    document = json.loads((out / "comparison.json").read_text())
    assert len(document["runs"]) == 3
    assert "lesion_dice" in {row["metric"] for row in document["tests"]}

    folds = tmp_path / "multiruns" / "folds"
    _run(
        tmp_path,
        "bus_seg.cli.train",
        "-m",
        *TINY,
        "data.num_folds=2",
        "data.fold=0,1",
        f"hydra.sweep.dir={folds}",
        cache,
    )
    kfold = tmp_path / "kfold"
    _run(
        tmp_path,
        "bus_seg.cli.kfold",
        str(folds / "*"),  # the README's command: the glob also matches multirun.yaml
        f"out_dir={kfold}",
        f"hydra.run.dir={tmp_path / 'hydra_kfold'}",
    )
    summary = json.loads((kfold / "kfold.json").read_text())
    assert len(summary["folds"]) == 2
    for name in ("test/dice", "test/lesion_dice", "test/lesion_precision"):
        row = summary["metrics"][name]
        assert row["n_folds"] == 2 and 0.0 <= row["ci_low"] <= row["ci_high"] <= 1.0
