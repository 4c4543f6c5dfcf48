"""The smaller gaps of issue 12, each with its clear message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from bus_seg.data import validation as validate_module
from bus_seg.data.validation import validate_cohort
from bus_seg.errors import InputError
from bus_seg.io.annotations import read_annotation
from bus_seg.io.atomic import atomic_path, remove_stale_temp_files
from bus_seg.io.checkpoint import load_checkpoint
from bus_seg.io.manifest import write_manifest
from bus_seg.io.ultrasound import read_ultrasound
from bus_seg.io.wsi import open_wsi
from bus_seg.registration import register_cohort
from bus_seg.registration.report import read_report
from bus_seg.train import train
from tests.helpers.bombs import write_dicom_bomb
from tests.helpers.registration_factory import CaseSpec, FragmentSpec, write_case

TUMOR = {"classification": {"name": "Tumor"}}
SQUARE = [[10, 10], [60, 10], [60, 60], [10, 60], [10, 10]]


@pytest.fixture(scope="module")
def good_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("gaps")
    spec = CaseSpec(
        "good",
        [FragmentSpec(3000, tilt_deg=3), FragmentSpec(2000, gap_um=300)],
        [(1000, 2500)],
        tract=(30.0, 50.0, 110.0, 100.0),
        mpp=5.0,
        wsi_format="tiff",
    )
    return root, write_case(spec, root / "good")


def feature(geometry: dict) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": TUMOR}


def write_geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_anisotropic_wsi_pixels_are_warned_about(tmp_path: Path) -> None:
    rgb = np.full((64, 96, 3), 200, np.uint8)
    ome = tmp_path / "slide.ome.tif"
    tifffile.imwrite(ome, rgb, metadata={"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.6})
    with open_wsi(ome) as wsi:
        assert any("anisotropic pixels" in w and "y/x = 1.200" in w for w in wsi.warnings)
    tagged = tmp_path / "slide.tif"
    tifffile.imwrite(tagged, rgb, resolution=(20000, 10000), resolutionunit="CENTIMETER")
    with open_wsi(tagged) as wsi:
        assert any("anisotropic pixels (TIFF XResolution ≠ YResolution" in w for w in wsi.warnings)
    square = tmp_path / "square.tif"
    tifffile.imwrite(square, rgb, resolution=(20000, 20000), resolutionunit="CENTIMETER")
    with open_wsi(square) as wsi:
        assert not any("anisotropic" in w for w in wsi.warnings)


def test_deeply_nested_geojson_is_a_row_error(good_case, tmp_path: Path) -> None:
    deep = tmp_path / "deep.geojson"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(InputError, match="nested too deeply"):
        read_annotation(deep, (100, 100), ["Tumor"])
    root, good = good_case
    write_geojson(root / "nested.geojson", [])
    (root / "nested.geojson").write_text(deep.read_text())
    manifest = write_manifest(
        root / "deep.csv", [good, {**good, "case_id": "deep", "annotation_path": "nested.geojson"}]
    )
    problems = validate_cohort(manifest)
    deep_problems = [p for p in problems if "case 'deep'" in p.where]
    assert [p.severity for p in deep_problems] == ["error"]
    assert "nested too deeply" in deep_problems[0].message
    assert not [p for p in problems if "case 'good'" in p.where and p.severity == "error"]


def test_nan_vertices_are_refused_not_repaired(tmp_path: Path) -> None:
    path = tmp_path / "nan.geojson"
    ring = [[10, 10], [float("nan"), 10], [60, 60], [10, 60], [10, 10]]
    write_geojson(path, [feature({"type": "Polygon", "coordinates": [ring]})])
    assert "NaN" in path.read_text()
    with pytest.raises(InputError, match="feature 0: the Polygon has vertices that are not finite"):
        read_annotation(path, (100, 100), ["Tumor"])


def test_a_polygon_inside_a_geometry_collection_is_kept(tmp_path: Path) -> None:
    collection = {
        "type": "GeometryCollection",
        "geometries": [
            {"type": "Point", "coordinates": [5, 5]},
            {"type": "Polygon", "coordinates": [SQUARE]},
        ],
    }
    path = write_geojson(tmp_path / "collection.geojson", [feature(collection)])
    annotation = read_annotation(path, (100, 100), ["Tumor"])
    assert annotation.has_cancer and annotation.cancer.area == pytest.approx(2500)


def test_truncated_and_foreign_checkpoints_get_clear_messages(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(100)}}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_checkpoint(path)
    path.write_bytes(b"")
    with pytest.raises(InputError, match="truncated or corrupt .*0 bytes"):
        load_checkpoint(path)


def test_hidden_temp_files_of_killed_writers_are_removed(good_case, tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "out"
    (out / "labels").mkdir(parents=True)
    stale = out / "labels" / f".good.{dead.pid}.abcd1234.tmp.png"
    live = out / "labels" / f".other.{os.getpid()}.abcd1234.tmp.png"
    stale.write_bytes(b"half")
    live.write_bytes(b"being written")
    with atomic_path(out / "labels" / "x.png") as tmp:
        assert f".{os.getpid()}." in tmp.name  # temp names carry the writer's pid
        tmp.write_bytes(b"x")
    root, good = good_case
    register_cohort(write_manifest(root / "tmp.csv", [good]), out, progress=False)
    assert not stale.exists() and live.exists()
    assert remove_stale_temp_files(out) == []


def test_validate_and_register_agree_on_a_tract_end_at_the_image_edge(
    good_case, tmp_path: Path
) -> None:
    root, good = good_case
    manifest = write_manifest(root / "edge.csv", [{**good, "tract_x0": -0.5}])
    assert not [p for p in validate_cohort(manifest) if p.severity == "error"]
    result = register_cohort(manifest, tmp_path / "out", progress=False)
    assert list(result.report["status"]) == ["ok"]


def test_validate_decodes_the_slide_tiles(good_case) -> None:
    root, good = good_case
    broken = root / "broken.tif"
    data = np.full((400, 600, 3), 200, np.uint8)
    tifffile.imwrite(broken, data, tile=(128, 128), compression="zlib", photometric="rgb")
    with tifffile.TiffFile(broken) as tif:
        offset = tif.pages.first.dataoffsets[3]
    with broken.open("r+b") as handle:
        handle.seek(offset)
        handle.write(b"\xff" * 16)
    manifest = write_manifest(
        root / "tiles.csv", [{**good, "case_id": "tiles", "wsi_path": "broken.tif", "wsi_mpp": 5.0}]
    )
    errors = [p for p in validate_cohort(manifest) if p.severity == "error"]
    assert any("column 'wsi_path'" in p.where and "cannot decode" in p.message for p in errors)


def test_folders_and_devices_are_not_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="ultrasound image is a folder, not a file"):
        read_ultrasound(tmp_path, 0.1)
    if Path("/dev/null").exists():
        with pytest.raises(InputError, match="WSI file is not a regular file"):
            open_wsi("/dev/null", 0.5)


def test_a_patient_name_in_a_dicom_file_name_stays_out_of_the_report(
    good_case, tmp_path: Path
) -> None:
    root, good = good_case
    write_dicom_bomb(root / "DOE^JANE_19600101.dcm", 40000, 40000)  # fails: over the budget
    manifest = write_manifest(
        root / "named.csv", [{**good, "case_id": "named", "us_path": "DOE^JANE_19600101.dcm"}]
    )
    result = register_cohort(manifest, tmp_path / "out", progress=False)
    text = result.report_path.read_text()
    assert "DOE" not in text and "JANE" not in text
    assert "<us_path of case named>" in read_report(result.report_path).loc[0, "error"]


def test_validating_many_rows_opens_each_file_once(
    good_case, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, good = good_case
    calls = {"ultrasound": 0, "wsi": 0}
    real_us, real_wsi = validate_module.read_ultrasound, validate_module.open_wsi

    def counting_us(*args, **kwargs):
        calls["ultrasound"] += 1
        return real_us(*args, **kwargs)

    def counting_wsi(*args, **kwargs):
        calls["wsi"] += 1
        return real_wsi(*args, **kwargs)

    monkeypatch.setattr(validate_module, "read_ultrasound", counting_us)
    monkeypatch.setattr(validate_module, "open_wsi", counting_wsi)
    rows = [{**good, "case_id": f"c{i}", "patient_id": f"p{i}"} for i in range(20)]
    problems = validate_cohort(write_manifest(root / "many.csv", rows))
    assert not [p for p in problems if p.severity == "error"]
    assert calls == {"ultrasound": 1, "wsi": 1}


def test_a_training_run_removes_temp_files_of_a_killed_run(compose_config) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    cfg = compose_config(
        "data=synthetic",
        "data.num_images=12",
        "data.size=32",
        "data.image_size=32",
        "trainer.fast_dev_run=true",
    )
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True)
    stale = out / f".metrics.{dead.pid}.abcd1234.tmp.json"
    stale.write_text("{")
    train(cfg)
    assert not stale.exists()
