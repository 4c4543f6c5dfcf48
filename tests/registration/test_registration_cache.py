"""The per-case cache: reuse, invalidation by inputs and label settings only, crash safety."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from bus_seg.registration import pipeline, register_cohort
from tests.helpers.registration_cases import small_spec
from tests.helpers.registration_factory import write_cohort


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cache_cohort")
    specs = [
        small_spec("c1"),
        small_spec("c2", tract=(190.0, 20.0, 100.0, 120.0), proximal_end="right"),
        small_spec("c3", cancer_um=[(200, 900), (3500, 4800)]),
    ]
    return write_cohort(specs, root)


@pytest.fixture(scope="module")
def registered(cohort: Path, tmp_path_factory: pytest.TempPathFactory):
    """The cohort registered once (in two processes) and the outcome."""
    out = tmp_path_factory.mktemp("cache_out") / "out"
    return out, register_cohort(cohort, out, workers=2, progress=False)


@pytest.fixture
def out(registered, tmp_path: Path) -> Path:
    """A private copy of the registered output folder."""
    copy = tmp_path / "out"
    shutil.copytree(registered[0], copy)
    return copy


def test_second_run_is_cached_and_identical(cohort: Path, registered, out: Path) -> None:
    first = registered[1]
    assert first.failed == [] and not first.report["cached"].any()
    labels, qc = snapshot(out / "labels"), snapshot(out / "qc")
    start = time.perf_counter()
    second = register_cohort(cohort, out, progress=False)
    assert time.perf_counter() - start < 2.0
    assert second.report["cached"].all()
    assert (second.report["seconds"] < 0.2).all()
    assert snapshot(out / "labels") == labels and snapshot(out / "qc") == qc
    volatile = ["cached", "seconds"]
    assert second.report.drop(columns=volatile).equals(first.report.drop(columns=volatile))
    assert (out / "report.csv").read_text().count("\n") == 4


def test_qc_settings_redraw_pictures_without_reregistering(cohort: Path, out: Path) -> None:
    labels, qc = snapshot(out / "labels"), snapshot(out / "qc")
    redrawn = register_cohort(cohort, out, {"qc_dpi": 60}, progress=False)
    assert redrawn.report["cached"].all()
    assert snapshot(out / "labels") == labels
    assert all(snapshot(out / "qc")[name][1] != qc[name][1] for name in qc)
    without_qc = register_cohort(cohort, out, {"qc": False}, progress=False)
    assert without_qc.report["cached"].all() and without_qc.report["qc_path"].isna().all()


def test_label_settings_and_inputs_invalidate(cohort: Path, tmp_path: Path) -> None:
    shutil.copytree(cohort.parent, tmp_path / "cohort")
    cohort = tmp_path / "cohort" / cohort.name
    out = tmp_path / "out"
    register_cohort(cohort, out, progress=False)
    rethresholded = register_cohort(cohort, out, {"profile_threshold": 0.4}, progress=False)
    assert not rethresholded.report["cached"].any()
    annotation = cohort.parent / "c2" / "annotation.geojson"
    document = json.loads(annotation.read_text())
    document["features"] = []
    annotation.write_text(json.dumps(document))
    changed = register_cohort(cohort, out, {"profile_threshold": 0.4}, progress=False)
    assert dict(zip(changed.report["case_id"], changed.report["cached"], strict=True)) == {
        "c1": True,
        "c2": False,
        "c3": True,
    }
    fresh = register_cohort(
        cohort, out, {"profile_threshold": 0.4}, progress=False, use_cache=False
    )
    assert not fresh.report["cached"].any()


def test_an_interrupted_write_leaves_no_corrupt_entry(
    cohort: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = snapshot(out / "labels")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after the label map, before the commit

    monkeypatch.setattr(pipeline, "write_entry", crash)
    with pytest.raises(KeyboardInterrupt):
        register_cohort(cohort, out, {"profile_threshold": 0.45}, progress=False)
    monkeypatch.undo()
    assert not (out / ".cache" / "c1.json").exists()  # the stale entry went before the rewrite
    assert not list(out.rglob("*.tmp*"))  # no temp file survives
    (out / ".cache" / "c2.json").write_text('{"version": 1, "key": ')  # a torn entry
    resumed = register_cohort(cohort, out, progress=False)
    assert dict(zip(resumed.report["case_id"], resumed.report["cached"], strict=True)) == {
        "c1": False,
        "c2": False,
        "c3": True,
    }
    assert snapshot(out / "labels").keys() == good.keys()
    assert all(snapshot(out / "labels")[k][0] == good[k][0] for k in good)


def test_a_tampered_label_map_is_registered_again(cohort: Path, out: Path) -> None:
    original = (out / "labels" / "c3.png").read_bytes()
    (out / "labels" / "c3.png").write_bytes(b"garbage")
    again = register_cohort(cohort, out, progress=False)
    assert not again.report.set_index("case_id").loc["c3", "cached"]
    assert (out / "labels" / "c3.png").read_bytes() == original
