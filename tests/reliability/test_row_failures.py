"""A row's failure stays in its row: ids, CSV cells, symlinks, the output folder, dead workers."""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bus_seg.errors import ConfigError, InputError
from bus_seg.io.csv_cells import neutralise_formulas, read_text_table
from bus_seg.io.manifest import CASE_ID_MAX_BYTES, read_manifest, write_manifest
from bus_seg.registration import RegistrationSettings, register_cohort
from bus_seg.registration import pipeline as pipeline_module
from bus_seg.registration.outputs import check_out_dir, output_error_message
from bus_seg.registration.pipeline import process_case
from bus_seg.registration.report import read_report
from tests.helpers.registration_factory import CaseSpec, FragmentSpec, write_case

LONG_ID = "c" * 240
TEXT_IDS = ("NA", "null", "None", "nan", "1_1_6")


def small_case(case_id: str) -> CaseSpec:
    return CaseSpec(
        case_id=case_id,
        fragments=[FragmentSpec(3000, tilt_deg=3), FragmentSpec(2000, gap_um=300)],
        cancer_um=[(1000, 2500)],
        tract=(30.0, 50.0, 110.0, 100.0),
        mpp=5.0,
    )


@pytest.fixture(scope="module")
def good_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("rows")
    return root, write_case(small_case("good"), root / "good")


def rows_like(good: dict, case_id: str, **changes: object) -> dict:
    return {**good, "case_id": case_id, "patient_id": f"p_{case_id}", **changes}


def test_bad_ids_fail_their_rows_and_the_report_is_written(good_case, tmp_path: Path) -> None:
    root, good = good_case
    rows = [good, rows_like(good, LONG_ID), rows_like(good, "=1+1"), rows_like(good, ".hidden")]
    manifest = write_manifest(root / "ids.csv", rows)
    result = register_cohort(manifest, tmp_path / "out", progress=False)
    report = read_report(result.report_path)
    assert list(report["status"]) == ["ok", "failed", "failed", "failed"]
    assert f"bytes long, over {CASE_ID_MAX_BYTES}" in report.loc[1, "error"]
    assert "spreadsheet formula" in report.loc[2, "error"]
    assert "hidden file" in report.loc[3, "error"]


def test_the_failure_handler_cannot_raise(good_case, tmp_path: Path) -> None:
    """Even an id that slipped past the manifest (240 chars: ENAMETOOLONG) gives a failed row."""
    root, good = good_case
    record = read_manifest(write_manifest(root / "one.csv", [good])).records[0]
    record = dataclasses.replace(record, case_id=LONG_ID)
    row = process_case(record, RegistrationSettings(), tmp_path / "out")
    assert row["status"] == "failed"
    assert "too long" in row["error"] and "this is a bug" not in row["error"]


def test_na_like_and_numeric_looking_ids_stay_text(good_case, tmp_path: Path) -> None:
    root, good = good_case
    rows = [rows_like(good, case_id) for case_id in TEXT_IDS]
    manifest = write_manifest(root / "text_ids.csv", rows)
    assert [r.case_id for r in read_manifest(manifest).records] == list(TEXT_IDS)
    result = register_cohort(manifest, tmp_path / "out", progress=False)
    report = read_report(result.report_path)
    assert list(report["case_id"]) == list(TEXT_IDS)
    assert list(report["status"]) == ["ok"] * len(TEXT_IDS)
    for case_id in TEXT_IDS:
        assert (tmp_path / "out" / "labels" / f"{case_id}.png").is_file()


def test_csv_cells_cannot_run_as_formulas(good_case, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"id": ["=cmd|' /C calc'!A0", "+1", "@SUM(A1)", "ok"], "x": [-1.5, 2, 3, 4]}
    )
    safe = neutralise_formulas(frame)
    assert list(safe["id"]) == ["'=cmd|' /C calc'!A0", "'+1", "'@SUM(A1)", "ok"]
    assert list(safe["x"]) == [-1.5, 2, 3, 4]  # numbers untouched
    root, good = good_case
    manifest = write_manifest(root / "formula.csv", [{**good, "patient_id": "=HYPERLINK(1)"}])
    result = register_cohort(manifest, tmp_path / "out", progress=False)
    written = read_text_table(result.report_path, ["patient_id"])
    assert written.loc[0, "patient_id"] == "'=HYPERLINK(1)"


def test_a_symlink_leading_outside_the_cohort_is_refused(good_case, tmp_path: Path) -> None:
    root, good = good_case
    cohort = tmp_path / "cohort"
    shutil.copytree(root / "good", cohort / "good")
    outside = tmp_path / "outside.png"
    shutil.copy(cohort / "good" / "us.png", outside)
    (cohort / "good" / "link.png").symlink_to(outside)
    (cohort / "linked_dir").symlink_to(tmp_path)  # a folder link: everything under it leaves
    rows = [
        {**good, "us_path": "good/link.png"},
        rows_like(good, "via_dir", us_path="linked_dir/outside.png"),
    ]
    manifest = write_manifest(cohort / "manifest.csv", rows)
    errors = read_manifest(manifest).errors
    assert len(errors) == 2
    assert all(
        "symbolic link that leads outside" in e.message and str(outside) in e.message
        for e in errors
    )
    allowed = read_manifest(manifest, allow_outside_paths=True)
    assert len(allowed.records) == 2


def test_the_output_folder_is_checked_up_front(good_case, tmp_path: Path) -> None:
    root, good = good_case
    manifest = write_manifest(root / "out_dir.csv", [good])
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    with pytest.raises(InputError, match="is a file, not a folder"):
        register_cohort(manifest, a_file / "out", progress=False)
    with pytest.raises(InputError, match="MiB free, under"):
        check_out_dir(tmp_path / "out", min_free_bytes=2**62)
    with pytest.raises(ConfigError, match="qc_dpi=100000 .* at most 600"):
        register_cohort(manifest, tmp_path / "out", {"qc_dpi": 100000}, progress=False)
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "x.png")
    assert "disk (or quota) is full" in output_error_message(full, tmp_path)
    read_only = OSError(errno.EROFS, os.strerror(errno.EROFS))
    assert "cannot be written" in output_error_message(read_only, tmp_path)


def test_a_full_disk_fails_cases_clearly_and_the_report_is_written(
    good_case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, good = good_case
    manifest = write_manifest(root / "full.csv", [good, rows_like(good, "second")])

    def full_disk(path: Path, array: object) -> Path:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(pipeline_module, "write_png", full_disk)
    result = register_cohort(manifest, tmp_path / "out", progress=False, use_cache=False)
    report = read_report(result.report_path)
    assert list(report["status"]) == ["failed", "failed"]
    assert all("disk (or quota) is full" in error for error in report["error"])
    assert not any("bug in bus_seg" in error for error in report["error"])
