"""W&B with multiruns (offline): one finished run per job, grouped by experiment, a crashed job
that does not stop the others, and a resumed training run that continues its W&B run id."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bus_seg.cli.multirun_summary import SUMMARY_FILE
from bus_seg.train import train
from bus_seg.training.run_outputs import RunOutputs

TINY_RUN = [
    "data=synthetic",
    "data.num_images=8",
    "data.size=32",
    "data.image_size=32",
    "data.batch_size=4",
    "test=false",
]
BLOCK = 32768  # W&B's run file is a LevelDB-style log: 32 KiB blocks of framed records
HEADER = 7  # ":W&B", magic, version; each record has crc32, length and type as well


def _records(path: Path) -> Iterator[bytes]:
    raw, pos, parts = path.read_bytes(), HEADER, b""
    while pos + HEADER <= len(raw):
        if BLOCK - pos % BLOCK < HEADER:  # block trailer padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", raw[pos : pos + HEADER])
        data, pos = raw[pos + HEADER : pos + HEADER + length], pos + HEADER + length
        if kind in (1, 2):  # full, first
            parts = data
        elif kind in (3, 4):  # middle, last
            parts += data
        if kind in (1, 4):
            yield parts


def offline_runs(folder: Path) -> list[dict[str, Any]]:
    """``{id, name, group, tags, exit_code, artifacts, logged}`` of every offline W&B run under
    ``folder``, oldest first; ``artifacts`` holds ``(name, type, aliases, metadata)``, ``logged``
    every history key."""
    from wandb.proto import wandb_internal_pb2

    runs = []
    for path in sorted(folder.rglob("offline-run-*/run-*.wandb")):
        run: dict[str, Any] = {"dir": path.parent.name, "artifacts": [], "logged": set()}
        for data in _records(path):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(data)
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run.update(
                    id=record.run.run_id,
                    group=record.run.run_group,
                    name=record.run.display_name,
                    tags=list(record.run.tags),
                )
            elif kind == "exit":
                run["exit_code"] = record.exit.exit_code
            elif kind == "history":
                run["logged"] |= {
                    item.key or "/".join(item.nested_key) for item in record.history.item
                }
            elif kind == "artifact":
                art = record.artifact
                run["artifacts"].append(
                    (art.name, art.type, list(art.aliases), json.loads(art.metadata or "{}"))
                )
        runs.append(run)
    return runs


def test_multirun_makes_one_wandb_run_per_job_and_survives_a_crashed_job(tmp_path: Path) -> None:
    """``bus-seg-train -m logger=wandb optimizer.lr=0.01,inf`` (WANDB_MODE=offline, about
    20 s): job 1 diverges in its first step and fails (after its W&B run started); job 0 still
    trains. Each job has its own W&B run in the experiment's group, named after its overrides,
    finished as succeeded or failed, and the multirun summary lists both jobs."""
    sweep = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "bus_seg.cli.train",
        "-m",
        "logger=wandb",
        "optimizer.lr=0.01,inf",
        "+experiment_name=wandb_probe",
        "trainer.fast_dev_run=true",
        *TINY_RUN,
        f"hydra.sweep.dir={sweep}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    ]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]

    table = pd.read_csv(sweep / SUMMARY_FILE)
    assert table["status"].tolist() == ["ok", "failed"]
    assert table["value"][0] >= 0 and table["error"][1].startswith(
        "TrainingDivergedError: training stopped at"
    )
    assert "#1 failed" in done.stdout, "the summary is printed at the end"
    assert (sweep / "0" / "metrics.json").is_file(), "the other job ran to the end"
    assert "training stopped at" in (sweep / "1" / "train.log").read_text(), (
        "the error is in the job's log"
    )

    runs = [offline_runs(sweep / job) for job in ("0", "1")]
    assert [len(job_runs) for job_runs in runs] == [1, 1], "one W&B run per job"
    names = [job_runs[0]["name"] for job_runs in runs]
    assert names[0].startswith("wandb_probe optimizer.lr=0.01 ") and "data.size=32" in names[0]
    assert names[1].startswith("wandb_probe optimizer.lr=inf ")
    (ok,), (crashed,) = runs
    assert ok["id"] != crashed["id"]
    assert (ok["exit_code"], crashed["exit_code"]) == (0, 1)
    for job, run in zip(("0", "1"), (ok, crashed), strict=True):
        assert run["group"] == "wandb_probe"
        assert run["id"] == RunOutputs(sweep / job).wandb_run_id_file.read_text().strip()


def test_resumed_run_continues_the_same_wandb_run(
    compose_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    one_batch = [
        "logger=wandb",
        "trainer.limit_train_batches=1",
        "trainer.limit_val_batches=1",
        *TINY_RUN,
    ]
    cfg = compose_config(*one_batch, "trainer.max_epochs=1")
    train(cfg)
    output_dir = Path(cfg.paths.output_dir)
    run_id = RunOutputs(output_dir).wandb_run_id_file.read_text().strip()

    resumed = compose_config(*one_batch, "trainer.max_epochs=2", "ckpt_path=last")
    assert resumed.paths.output_dir == cfg.paths.output_dir
    _, objects = train(resumed)
    assert objects["trainer"].current_epoch == 2

    runs = offline_runs(output_dir / "wandb")
    assert [run["id"] for run in runs] == [run_id, run_id], "the restart logs into the same W&B run"
    assert all(run["group"] == "train" and run["exit_code"] == 0 for run in runs)


def test_wandb_run_is_named_tagged_and_holds_checkpoints_and_report(
    compose_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose_config(
        "logger=wandb",
        "logger.wandb.log_model=true",
        "+experiment_name=probe",
        "tags=[probe,cpu]",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=1",
        "trainer.limit_val_batches=1",
        *[o for o in TINY_RUN if o != "test=false"],
    )
    train(cfg)
    (run,) = offline_runs(Path(cfg.paths.output_dir) / "wandb")
    assert (run["name"], run["group"], run["tags"]) == ("probe", "probe", ["probe", "cpu"])
    checkpoints = {tuple(a[2]): a[3] for a in run["artifacts"] if a[1] == "model"}
    assert any("best" in aliases for aliases in checkpoints), checkpoints
    assert any("last" in aliases for aliases in checkpoints), checkpoints
    for aliases, metadata in checkpoints.items():
        # the best checkpoint names its selection metric; last.ckpt (written in code for
        # resume, training/resume.py) is not selected by any
        assert bool(metadata["monitor"]) == ("best" in aliases), (aliases, metadata["monitor"])
        assert metadata["global_step"] == 1
        assert {"val/dice", "val/loss"} <= set(metadata["metrics"])
    media = {key.rsplit("/", 1)[0] for key in run["logged"] if key.endswith("/_type")}
    assert {"test/report", "test/figures/confusion", "test/confusion", "test/per_image"} <= media
    assert "test/overlays" not in media, "images only with evaluation.log_images"
