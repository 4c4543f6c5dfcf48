"""Simulate a whole cohort into a folder, in the cohort format, with ground truth.

The cohort is built in a hidden sibling folder and moved into place when complete, so a crash
never leaves a manifest that points at missing files. ``simulation.json`` records the settings,
their hash (for :func:`ensure_cohort`'s cache), the skipped images with their reasons, and facts
about every case.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from bus_seg import __version__
from bus_seg.errors import ConfigError, InputError
from bus_seg.io.atomic import write_json_atomic
from bus_seg.io.manifest import write_manifest
from bus_seg.simulate.case import CaseOutcome, simulate_case
from bus_seg.simulate.settings import SIMULATOR_VERSION, SimulationSettings
from bus_seg.simulate.sources import CaseJob, plan_cases

MANIFEST_NAME = "manifest.csv"
RECORD_NAME = "simulation.json"
_SPLIT_STREAM = 4


def simulate_cohort(
    out_dir: str | Path,
    settings: SimulationSettings | Mapping[str, Any] | None = None,
    *,
    progress: bool = True,
    workers: int = 1,
) -> Path:
    """Simulate a cohort (ultrasound images, core WSIs, annotations, reference labels).

    Args:
        out_dir: the cohort folder; it must not exist, be empty, or hold a simulated cohort
            (which is replaced).
        settings: :class:`SimulationSettings` or a mapping for
            :meth:`SimulationSettings.from_config`; None for the defaults.
        progress: show a progress bar.
        workers: processes simulating cases in parallel (results do not depend on it).

    Returns:
        The path of the cohort's ``manifest.csv``.

    Raises:
        ConfigError: bad settings, or ``out_dir`` holds something else.
        InputError: the mask folder cannot be read, or no image gave a case.
    """
    settings = SimulationSettings.from_config(settings)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers={workers!r} must be a whole number ≥ 1")
    jobs = plan_cases(settings)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        outcomes = list(_run(jobs, settings, staging, progress, workers))
        written = [o for o in outcomes if o.row is not None]
        if not written:
            reasons = sorted({o.skip_reason for o in outcomes if o.skip_reason})
            raise InputError(
                f"no case could be simulated from {len(jobs)} image(s); reasons: "
                + "; ".join(reasons)
                + " (check source.path/classes, tract.segment_length_mm, tract.cancer_fraction)"
            )
        rows = [o.row for o in written]
        if settings.split is not None:
            _assign_splits(rows, settings)
        write_manifest(staging / MANIFEST_NAME, rows)
        write_json_atomic(staging / RECORD_NAME, _record(settings, outcomes))
        _move_into_place(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir / MANIFEST_NAME


def ensure_cohort(
    out_dir: str | Path,
    settings: SimulationSettings | Mapping[str, Any] | None = None,
    *,
    progress: bool = True,
    workers: int = 1,
) -> Path:
    """Reuse the cohort in ``out_dir`` if it was simulated with the same settings, else make it.

    Returns:
        The path of the cohort's ``manifest.csv``.
    """
    settings = SimulationSettings.from_config(settings)
    out_dir = Path(out_dir)
    record = read_record(out_dir)
    if (
        record is not None
        and record.get("settings_hash") == settings.settings_hash()
        and (out_dir / MANIFEST_NAME).is_file()
    ):
        return out_dir / MANIFEST_NAME
    return simulate_cohort(out_dir, settings, progress=progress, workers=workers)


def read_record(out_dir: str | Path) -> dict[str, Any] | None:
    """The ``simulation.json`` of a cohort folder, or None if there is none (or it is broken)."""
    path = Path(out_dir) / RECORD_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"out_dir {str(out_dir)!r} is a file; give a folder for the cohort")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / RECORD_NAME).is_file():
        raise ConfigError(
            f"out_dir {str(out_dir)!r} is not empty and holds no simulated cohort "
            f"({RECORD_NAME}); give a new or empty folder so nothing of yours is replaced"
        )


def _run(
    jobs: list[CaseJob], settings: SimulationSettings, staging: Path, progress: bool, workers: int
) -> Iterator[CaseOutcome]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="simulating cases", unit="case", disable=not progress)
    try:
        if workers == 1 or len(jobs) < 2:
            for job in jobs:
                yield simulate_case(job, settings, staging)
                bar.update()
            return
        context = get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
            futures = [pool.submit(simulate_case, job, settings, staging) for job in jobs]
            for future in futures:
                yield future.result()
                bar.update()
    finally:
        bar.close()


def _assign_splits(rows: list[dict[str, Any]], settings: SimulationSettings) -> None:
    """Fill the split column by patient, in the proportions of ``settings.split``."""
    patients = sorted({row["patient_id"] for row in rows})
    rng = np.random.default_rng(np.random.SeedSequence(settings.seed, spawn_key=(_SPLIT_STREAM,)))
    order = [patients[i] for i in rng.permutation(len(patients))]
    names = list(settings.split)
    weights = np.array([settings.split[name] for name in names], dtype=np.float64)
    bounds = np.rint(np.cumsum(weights / weights.sum()) * len(order)).astype(int)
    subset = {}
    start = 0
    for name, stop in zip(names, bounds, strict=True):
        for patient in order[start:stop]:
            subset[patient] = name
        start = stop
    for row in rows:
        row["split"] = subset[row["patient_id"]]


def _record(settings: SimulationSettings, outcomes: list[CaseOutcome]) -> dict[str, Any]:
    return {
        "format_version": 1,
        "simulator_version": SIMULATOR_VERSION,
        "bus_seg_version": __version__,
        "settings": settings.to_dict(),
        "settings_hash": settings.settings_hash(),
        "seed": settings.seed,
        "us_spacing_mm": settings.phantom.spacing_mm
        if settings.source.kind == "phantom"
        else settings.source.assumed_spacing_mm,
        "spacing_assumed": settings.source.kind == "mask_folder",
        "cases": {o.case_id: o.info for o in outcomes if o.row is not None},
        "skipped": [
            {
                "case_id": o.case_id,
                "source_image": o.info.get("source_image"),
                "reason": o.skip_reason,
            }
            for o in outcomes
            if o.row is None
        ],
    }


def _move_into_place(staging: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` (absent, empty, or an older cohort) by the finished ``staging``."""
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    retired = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    shutil.rmtree(retired, ignore_errors=True)
    os.replace(out_dir, retired)
    try:
        os.replace(staging, out_dir)
    except OSError:
        os.replace(retired, out_dir)
        raise
    shutil.rmtree(retired, ignore_errors=True)
