"""Cohort preparation: simulate the cohort when no manifest is given, register it, find its labels.

One function, :func:`prepare_cohort`, runs the whole chain (simulator → registration → label
maps folder), each step cached on disk. :class:`~bus_seg.data.registered.RegisteredCohortDataModule`
calls it from ``prepare_data`` (or calls the preparation it was given instead); a task or a script
can call it first and serve the result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from bus_seg.registration import RegistrationSettings, register_cohort
from bus_seg.simulate import ensure_cohort


@dataclass(frozen=True)
class PreparedCohort:
    """A registered cohort, ready to serve.

    Attributes:
        manifest: the registered manifest (the given one, or the cached simulated cohort's).
        registered_dir: the registration's output folder.
        report: the registration report, one row per case (``status`` ``ok`` for registered ones).
    """

    manifest: Path
    registered_dir: Path
    report: pd.DataFrame

    @property
    def labels_dir(self) -> Path:
        """Folder of the label maps, ``<case_id>.png``."""
        return self.registered_dir / "labels"


class CohortPreparation(Protocol):
    """What :func:`prepare_cohort` is, for a DataModule given another preparation."""

    def __call__(
        self,
        manifest: Path | None,
        cache_dir: Path,
        registration: Mapping[str, Any],
        simulate: Mapping[str, Any],
        workers: int = 1,
    ) -> PreparedCohort: ...


def cohort_manifest(
    manifest: Path | None, cache_dir: Path, simulate: Mapping[str, Any], workers: int = 1
) -> Path:
    """The manifest to register: ``manifest``, or the cohort simulated (and cached) from
    ``simulate`` under ``<cache_dir>/cohorts/<settings hash>``."""
    if manifest is not None:
        return manifest
    return ensure_cohort(
        cache_dir / "cohorts" / settings_digest(simulate), simulate, workers=workers
    )


def registered_dir(cache_dir: Path, manifest: Path) -> Path:
    """Output folder of the registration of ``manifest`` (one per manifest location)."""
    return cache_dir / "registered" / settings_digest({"manifest": str(manifest.resolve())})


def prepare_cohort(
    manifest: Path | None,
    cache_dir: Path,
    registration: Mapping[str, Any],
    simulate: Mapping[str, Any],
    workers: int = 1,
) -> PreparedCohort:
    """Simulate (when ``manifest`` is None), register into ``<cache_dir>/registered/<key>``.

    Args:
        manifest: the cohort manifest CSV, or None to simulate one from ``simulate``.
        cache_dir: folder for simulated cohorts and registration outputs.
        registration: registration settings (a ``conf/registration`` option).
        simulate: simulator settings, used when ``manifest`` is None.
        workers: processes used by simulation and registration.
    """
    path = cohort_manifest(manifest, cache_dir, simulate, workers)
    out_dir = registered_dir(cache_dir, path)
    result = register_cohort(
        path, out_dir, RegistrationSettings.from_config(registration), workers=workers
    )
    return PreparedCohort(path, out_dir, result.report)


def settings_digest(settings: Mapping[str, Any]) -> str:
    """A 12-character key of JSON-able settings (cache folder names)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
