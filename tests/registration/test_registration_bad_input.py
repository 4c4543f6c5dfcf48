"""Bad input: clear messages naming the row/column or file, no partial output, the run goes on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bus_seg.errors import RegistrationError
from bus_seg.io.images import read_label_map, write_png
from bus_seg.io.manifest import write_manifest
from bus_seg.registration import register_cohort
from tests.helpers.registration_cases import small_spec
from tests.helpers.registration_factory import write_case


def copy_case(root: Path, good: dict, case_id: str, **changes) -> dict:
    """A manifest row that reuses the good case's files (copied) with ``changes``."""
    shutil.copytree(root / "good", root / case_id)
    row = {
        k: (v.replace("good/", f"{case_id}/") if isinstance(v, str) else v) for k, v in good.items()
    }
    row.update({"case_id": case_id, "patient_id": f"p_{case_id}", **changes})
    return row


@pytest.fixture(scope="module")
def bad_cohort(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("bad_cohort")
    good = write_case(small_spec("good"), root / "good")
    rows = [good]
    rows.append(copy_case(root, good, "missing_us", us_path="missing_us/nowhere.png"))
    rows.append(copy_case(root, good, "corrupt_us"))
    (root / "corrupt_us" / "us.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    rows.append(copy_case(root, good, "corrupt_wsi"))
    wsi = root / "corrupt_wsi" / "slide.ome.tif"
    wsi.write_bytes(wsi.read_bytes()[:3000])
    no_mpp = copy_case(root, good, "no_mpp", wsi_path="no_mpp/slide.png", wsi_mpp=None)
    write_png(root / "no_mpp" / "slide.png", np.full((100, 200, 3), 240, np.uint8))
    rows.append(no_mpp)
    rows.append(copy_case(root, good, "tract_outside", tract_x1=500.0))
    rows.append(copy_case(root, good, "short_tract", tract_x1=40.0, tract_y1=52.0))
    rows.append(copy_case(root, good, "invalid_geojson"))
    (root / "invalid_geojson" / "annotation.geojson").write_text("{ not json")
    rows.append(copy_case(root, good, "empty_geojson"))
    (root / "empty_geojson" / "annotation.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": []})
    )
    rows.append(copy_case(root, good, "annotation_outside"))
    far = [[1e6, 1e6], [1e6 + 50, 1e6], [1e6 + 50, 1e6 + 50], [1e6, 1e6]]
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [far]},
        "properties": {"classification": {"name": "Tumor"}},
    }
    (root / "annotation_outside" / "annotation.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]})
    )
    rows.append(copy_case(root, good, "no_tissue", wsi_path="no_tissue/blank.png", wsi_mpp=5.0))
    write_png(root / "no_tissue" / "blank.png", np.full((400, 900, 3), 243, np.uint8))
    # an MPP ten times too large: the 3000 px slide would span 120 mm (refused before decoding)
    rows.append(copy_case(root, good, "mpp_unit", wsi_path="mpp_unit/blank.png", wsi_mpp=40.0))
    write_png(root / "mpp_unit" / "blank.png", np.full((400, 3000, 3), 243, np.uint8))
    rows.append(copy_case(root, good, "dup"))
    rows.append({**rows[-1], "patient_id": "p_dup2"})
    rows.append(copy_case(root, good, "split_a", patient_id="shared", split="train"))
    rows.append(copy_case(root, good, "split_b", patient_id="shared", split="test"))
    manifest = write_manifest(root / "manifest.csv", rows)
    out_dir = root / "out"
    result = register_cohort(manifest, out_dir, progress=False)
    return root, manifest, out_dir, result


EXPECTED_FAILURES = {
    "missing_us": "nowhere.png",
    "corrupt_us": "corrupt_us/us.png",
    "corrupt_wsi": "slide.ome.tif",
    "no_mpp": "wsi_mpp",
    "tract_outside": "column 'tract_x0'",
    "short_tract": "shorter than the core diameter",
    "invalid_geojson": "not valid JSON",
    "annotation_outside": "outside the WSI",
    "no_tissue": "blank.png: no tissue",
    "mpp_unit": "120×16 mm at 40 µm/px: larger than any glass slide",
    "dup": "case_id 'dup' is also used",
    "split_a": "different fixed splits",
    "split_b": "different fixed splits",
}


def test_every_manifest_row_is_in_the_report(bad_cohort) -> None:
    _, manifest, _, result = bad_cohort
    report = result.report
    assert len(report) == len(manifest.read_text().splitlines()) - 1
    assert list(report["row"]) == list(range(1, len(report) + 1))
    ok = set(report.loc[report["status"] == "ok", "case_id"])
    assert ok == {"good", "empty_geojson"}
    assert "failed" in result.summary() and f"registered 2/{len(report)}" in result.summary()


@pytest.mark.parametrize("case_id", sorted(EXPECTED_FAILURES))
def test_failed_cases_have_a_clear_message_and_no_output(bad_cohort, case_id: str) -> None:
    _, _, out_dir, result = bad_cohort
    rows = result.report[result.report["case_id"] == case_id]
    assert len(rows) >= 1
    for _, row in rows.iterrows():
        assert row["status"] == "failed"
        assert EXPECTED_FAILURES[case_id] in row["error"], row["error"]
        assert "Traceback" not in row["error"]
    assert not (out_dir / "labels" / f"{case_id}.png").exists()
    assert not (out_dir / "qc" / f"{case_id}.png").exists()
    assert not (out_dir / ".cache" / f"{case_id}.json").exists()
    assert case_id in result.failed


def test_row_errors_name_the_row(bad_cohort) -> None:
    report = bad_cohort[3].report.set_index("case_id")
    assert "row 6" in report.loc["tract_outside", "error"]


def test_an_empty_annotation_gives_an_all_non_cancer_strip_with_a_warning(bad_cohort) -> None:
    _, _, out_dir, result = bad_cohort
    labels = read_label_map(out_dir / "labels" / "empty_geojson.png")
    assert set(np.unique(labels)) == {0, 255}
    row = result.report.set_index("case_id").loc["empty_geojson"]
    assert row["n_warnings"] >= 1 and "no features" in row["warnings"]


def test_strict_mode_fails_the_run_after_writing_the_report(bad_cohort, tmp_path: Path) -> None:
    _, manifest, _, _ = bad_cohort
    with pytest.raises(RegistrationError, match="failed to register"):
        register_cohort(manifest, tmp_path / "strict", progress=False, strict=True)
    assert (tmp_path / "strict" / "report.csv").is_file()


def test_a_case_that_turns_bad_loses_its_old_outputs(tmp_path: Path) -> None:
    row = write_case(small_spec("turns_bad"), tmp_path / "turns_bad")
    manifest = write_manifest(tmp_path / "manifest.csv", [row])
    out_dir = tmp_path / "out"
    assert register_cohort(manifest, out_dir, progress=False).failed == []
    assert (out_dir / "labels" / "turns_bad.png").is_file()
    (tmp_path / "turns_bad" / "annotation.geojson").write_text("[broken")
    result = register_cohort(manifest, out_dir, progress=False)
    assert result.failed == ["turns_bad"]
    assert not (out_dir / "labels" / "turns_bad.png").exists()
    assert not (out_dir / "qc" / "turns_bad.png").exists()
