"""Cohort preparation (simulate → register → label maps) as one function, injectable into the
registered-cohort DataModule."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus_seg.data.cohort import PreparedCohort, prepare_cohort
from bus_seg.data.registered import RegisteredCohortDataModule

TINY = {"num_cases": 2, "seed": 11}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> PreparedCohort:
    cache = tmp_path_factory.mktemp("cache")
    return prepare_cohort(None, cache, {}, TINY)


def test_prepare_cohort_simulates_registers_and_finds_the_labels(prepared: PreparedCohort) -> None:
    cache = prepared.manifest.parents[2]
    assert prepared.manifest.is_file() and prepared.manifest.parent.parent == cache / "cohorts"
    assert prepared.registered_dir.parent == cache / "registered"
    assert len(prepared.report) == 2
    ok = prepared.report.loc[prepared.report["status"] == "ok", "case_id"]
    assert len(ok) >= 1
    assert all((prepared.labels_dir / f"{case}.png").is_file() for case in ok)
    again = prepare_cohort(None, cache, {}, TINY)  # cached: the same cohort and folders
    assert (again.manifest, again.registered_dir) == (prepared.manifest, prepared.registered_dir)


def test_datamodule_runs_the_injected_preparation_once(prepared: PreparedCohort) -> None:
    calls = []

    def prepare(manifest, cache_dir, registration, simulate, workers=1) -> PreparedCohort:
        calls.append((manifest, cache_dir, dict(registration), dict(simulate), workers))
        return prepared

    datamodule = RegisteredCohortDataModule(
        simulate=TINY, cache_dir="unused", workers=1, prepare=prepare
    )
    assert datamodule.registration_report is None
    datamodule.prepare_data()
    datamodule.prepare_data()
    assert calls == [(None, Path("unused"), {}, TINY, 1)]
    assert datamodule.registration_report is prepared.report
    assert datamodule.cohort_manifest() == prepared.manifest
    samples = datamodule.load_samples()
    assert samples and {s.label_paths[0].parent for s in samples} == {prepared.labels_dir}
