"""Tests of bus_seg.data.validation and the bus-seg-validate CLI on small hand-made cohorts and folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hydra import compose, initialize_config_module
from PIL import Image

from bus_seg.cli.validate import run
from bus_seg.data.validation import (
    Problem,
    check_cohort,
    check_mask_folder,
    validate_cohort,
    validate_mask_folder,
)
from bus_seg.io.manifest import write_manifest
from bus_seg.paths import shared_data_root

US_SHAPE = (100, 200)  # (height, width)
SLIDE_SHAPE = (60, 300)
SLIDE_MPP = 2.0


def save_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def save_slide(
    path: Path, mpp: float | None = SLIDE_MPP, shape: tuple[int, int] = SLIDE_SHAPE
) -> Path:
    """A plain RGB TIFF slide; its MPP in XResolution with ResolutionUnit CENTIMETER."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.full((*shape, 3), 240, np.uint8)
    rgb[20:40, 10:290] = (180, 90, 160)  # the core
    kwargs = {"resolution": (1e4 / mpp, 1e4 / mpp), "resolutionunit": "CENTIMETER"} if mpp else {}
    tifffile.imwrite(path, rgb, photometric="rgb", **kwargs)
    return path


def save_geojson(
    path: Path, boxes: list[tuple[float, float, float, float]], name: str = "Tumor"
) -> Path:
    """QuPath-style GeoJSON with one polygon of class ``name`` per ``(x0, y0, x1, y1)`` box."""
    features = [
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
            },
            "properties": {"classification": {"name": name}},
        }
        for x0, y0, x1, y1 in boxes
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def make_cohort(root: Path, n: int = 2, **cells: object) -> Path:
    """A valid cohort of ``n`` cases; ``cells`` override the manifest cells of the first case."""
    rows = []
    for i in range(n):
        case = f"c{i + 1:02d}"
        save_png(root / "us" / f"{case}.png", np.full(US_SHAPE, 100, np.uint8))
        save_slide(root / "wsi" / f"{case}.tif")
        save_geojson(root / "ann" / f"{case}.geojson", [(100, 20, 150, 40)])
        labels = np.full(US_SHAPE, 255, np.uint8)
        labels[45:55, 20:181] = 0
        save_png(root / "labels" / f"{case}.png", labels)
        rows.append(
            {
                "case_id": case,
                "patient_id": f"p{i}",
                "us_path": f"us/{case}.png",
                "us_spacing_mm": 0.1,
                "tract_x0": 20,
                "tract_y0": 50,
                "tract_x1": 180,
                "tract_y1": 50,
                "wsi_path": f"wsi/{case}.tif",
                "annotation_path": f"ann/{case}.geojson",
                "label_path": f"labels/{case}.png",
            }
        )
    rows[0].update(cells)
    return write_manifest(root / "manifest.csv", rows)


def problems_of_first_case(problems: list[Problem]) -> list[Problem]:
    assert not [p for p in problems if "case 'c02'" in p.where], [str(p) for p in problems]
    return problems


def test_clean_cohort_has_no_problems(tmp_path: Path) -> None:
    report = check_cohort(make_cohort(tmp_path))
    assert report.checked == 2 and report.problems == []


def test_problem_prints_on_one_line() -> None:
    problem = Problem("error", "m.csv row 1 (line 2), case 'c01', column 'us_path'", "missing")
    assert str(problem) == "error: m.csv row 1 (line 2), case 'c01', column 'us_path': missing"


def _remove(path: Path) -> None:
    path.unlink()


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


# (manifest cells of case c01, change to its files, severity, column, words in the message)
CASE_PROBLEMS = [
    (
        {},
        lambda root: _remove(root / "us/c01.png"),
        "error",
        "us_path",
        "c01.png: ultrasound image not found",
    ),
    (
        {},
        lambda root: _write(root / "us/c01.png", b"not a png"),
        "error",
        "us_path",
        "c01.png: cannot decode",
    ),
    ({"us_spacing_mm": None}, None, "error", "us_spacing_mm", "spacing of c01.png is unknown"),
    ({"us_spacing_mm": 5.0}, None, "warning", "us_spacing_mm", "outside the usual"),
    (
        {"tract_x1": 200},
        None,
        "error",
        "tract_x1, tract_y1",
        "distal tract end (200, 50) lies outside",
    ),
    (
        {"tract_y0": -1},
        None,
        "error",
        "tract_x0, tract_y0",
        "proximal tract end (20, -1) lies outside",
    ),
    ({"tract_x1": 30}, None, "error", None, "1.00 mm long"),
    (
        {},
        lambda root: _remove(root / "wsi/c01.tif"),
        "error",
        "wsi_path",
        "c01.tif: WSI file not found",
    ),
    ({}, lambda root: save_slide(root / "wsi/c01.tif", mpp=None), "error", "wsi_path", "c01.tif"),
    ({}, lambda root: _remove(root / "ann/c01.geojson"), "error", "annotation_path", "c01.geojson"),
    (
        {},
        lambda root: save_geojson(root / "ann/c01.geojson", [(400, 10, 500, 20)]),
        "error",
        "annotation_path",
        "outside the WSI",
    ),
    (
        {},
        lambda root: save_geojson(root / "ann/c01.geojson", [(100, 20, 150, 40)], name="Stroma"),
        "warning",
        "annotation_path",
        "no cancer annotated (fine if the core is benign)",
    ),
    ({"wsi_roi": (400, 0, 10, 10)}, None, "error", "wsi_roi", "lies outside the slide"),
    ({"wsi_roi": (200, 0, 200, 60)}, None, "warning", "wsi_roi", "extends past the slide"),
    (
        {"wsi_roi": (0, 0, 50, 60)},
        None,
        "warning",
        "wsi_roi",
        "cancer lies entirely outside wsi_roi",
    ),
    (
        {},
        lambda root: _remove(root / "labels/c01.png"),
        "error",
        "label_path",
        "c01.png: file not found",
    ),
    (
        {},
        lambda root: save_png(root / "labels/c01.png", np.zeros((*US_SHAPE, 3), np.uint8)),
        "error",
        "label_path",
        "single-channel",
    ),
    (
        {},
        lambda root: save_png(root / "labels/c01.png", np.zeros((10, 10), np.uint8)),
        "error",
        "label_path",
        "10×10 px but the ultrasound image is 200×100",
    ),
    (
        {},
        lambda root: save_png(root / "labels/c01.png", np.full(US_SHAPE, 2, np.uint8)),
        "error",
        "label_path",
        "values [2] besides 0, 1 and 255",
    ),
]


@pytest.mark.parametrize(("cells", "change", "severity", "column", "words"), CASE_PROBLEMS)
def test_case_problem_is_located_and_explained(
    tmp_path, cells, change, severity, column, words
) -> None:
    manifest = make_cohort(tmp_path, **cells)
    if change is not None:
        change(tmp_path)
    problems = problems_of_first_case(validate_cohort(manifest))
    matching = [p for p in problems if words in p.message]
    assert len(matching) == 1, [str(p) for p in problems]
    (problem,) = matching
    assert problem.severity == severity
    assert problem.where.startswith("manifest.csv row 1 (line 2), case 'c01'")
    if column is not None:
        assert problem.where.endswith(f"column {column!r}")


def test_wsi_without_mpp_says_how_to_give_it(tmp_path: Path) -> None:
    manifest = make_cohort(tmp_path)
    save_slide(tmp_path / "wsi/c01.tif", mpp=None)
    (problem,) = validate_cohort(manifest)
    assert problem.where.endswith("column 'wsi_path'") and "wsi_mpp" in problem.message
    manifest = make_cohort(tmp_path, wsi_mpp=SLIDE_MPP)
    save_slide(tmp_path / "wsi/c01.tif", mpp=None)
    assert validate_cohort(manifest) == []


def test_manifest_issues_are_included_and_check_files_false_opens_nothing(tmp_path: Path) -> None:
    manifest = make_cohort(tmp_path, split="training")
    (tmp_path / "us/c02.png").unlink()
    problems = validate_cohort(manifest, check_files=False)
    assert [p.where for p in problems] == [
        "manifest.csv row 1 (line 2), case 'c01', column 'split'"
    ]
    problems = validate_cohort(manifest)
    assert {p.where.split(", column")[0] for p in problems} == {
        "manifest.csv row 1 (line 2), case 'c01'",
        "manifest.csv row 2 (line 3), case 'c02'",
    }


def test_unreadable_manifest_is_one_error(tmp_path: Path) -> None:
    report = check_cohort(tmp_path / "nope.csv")
    assert report.checked == 0
    (problem,) = report.problems
    assert problem.severity == "error" and problem.where.endswith("nope.csv")
    assert problem.message.startswith("manifest file not found")


def test_tract_optional_with_automatic_needle(tmp_path: Path) -> None:
    manifest = make_cohort(tmp_path, tract_x0=None, tract_y0=None, tract_x1=None, tract_y1=None)
    assert "registration.needle=auto" in validate_cohort(manifest)[0].message
    assert validate_cohort(manifest, require_tract=False) == []


def make_mask_folder(root: Path) -> Path:
    """Two classes; every problem a mask folder can have, once."""
    rng = np.random.default_rng(0)
    lesion = np.zeros((20, 30), np.uint8)
    lesion[5:10, 5:10] = 255
    for folder, name in (("benign", "b1"), ("malignant", "m1")):
        save_png(root / folder / f"{name}.png", rng.integers(0, 256, (20, 30), dtype=np.uint8))
        save_png(root / folder / f"{name}_mask.png", lesion)
    save_png(root / "malignant" / "m2.png", rng.integers(0, 256, (20, 30), dtype=np.uint8))
    save_png(root / "malignant" / "m2_mask.png", lesion)
    save_png(root / "malignant" / "m2_mask_1.png", np.zeros((20, 30), np.uint8))  # empty
    save_png(
        root / "malignant" / "m3.png", rng.integers(0, 256, (20, 30), dtype=np.uint8)
    )  # no mask
    save_png(root / "malignant" / "m4_mask.png", lesion)  # no image
    save_png(root / "malignant" / "m5.png", rng.integers(0, 256, (20, 30), dtype=np.uint8))
    save_png(root / "malignant" / "m5_mask.png", np.zeros((21, 30), np.uint8))  # wrong size
    (root / "malignant" / "m6.png").write_bytes(b"broken")
    save_png(root / "malignant" / "m6_mask.png", lesion)
    duplicate = np.asarray(Image.open(root / "benign" / "b1.png"))
    save_png(root / "malignant" / "m7.png", duplicate)
    save_png(root / "malignant" / "m7_mask.png", lesion)
    return root


def test_mask_folder_problems(tmp_path: Path) -> None:
    root = make_mask_folder(tmp_path / "busi")
    report = check_mask_folder(root)
    assert report.checked == 7
    found = {
        (
            p.severity,
            Path(p.where).relative_to(root).as_posix(),
            p.message.split(":")[0].split(";")[0],
        )
        for p in report.problems
    }
    assert found == {
        ("warning", "malignant/m2_mask_1.png", "empty mask (no lesion pixel)"),
        ("error", "malignant/m3.png", "image without mask"),
        ("error", "malignant/m4_mask.png", "mask without image"),
        ("error", "malignant/m5_mask.png", "mask is 30×21 px but its image m5.png is 30×20"),
        ("error", "malignant/m6.png", "cannot decode image (UnidentifiedImageError"),
        (
            "warning",
            "benign/b1.png",
            "identical pixels in "
            + str(root / "benign/b1.png")
            + ", "
            + str(root / "malignant/m7.png"),
        ),
    }


def test_mask_folder_flat_and_by_class(tmp_path: Path) -> None:
    root = make_mask_folder(tmp_path / "busi")
    assert validate_mask_folder(root / "benign") == []  # flat folder
    assert validate_mask_folder(root, classes=["benign"]) == []
    (problem,) = validate_mask_folder(root, classes=["normal", "benign"])
    assert problem.severity == "error" and problem.where.endswith("normal")
    assert "available: ['benign', 'malignant']" in problem.message
    (problem,) = validate_mask_folder(tmp_path / "missing")
    assert "not found" in problem.message


@pytest.mark.shared_data
def test_busi_malignant_images_all_have_masks() -> None:
    folder = shared_data_root() / "busi" / "malignant"
    if not folder.is_dir():
        pytest.skip(f"shared data not found at {folder}; set BUS_SEG_DATA")
    report = check_mask_folder(folder)
    assert report.checked == len([p for p in folder.glob("*.png") if "_mask" not in p.stem])
    assert not [p for p in report.problems if "without" in p.message or "mask is" in p.message]
    assert all(p.severity == "warning" for p in report.problems)


def cli_config(**overrides: object):
    with initialize_config_module(version_base="1.3", config_module="bus_seg.conf"):
        return compose("validate", overrides=[f"{k}={v}" for k, v in overrides.items()])


def test_cli_exit_codes_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = make_cohort(tmp_path)
    assert run(cli_config(manifest=manifest)) == 0
    assert capsys.readouterr().out == "validated 2 cases: 0 errors, 0 warnings\n"
    save_geojson(tmp_path / "ann/c01.geojson", [(100, 20, 150, 40)], name="Stroma")
    assert run(cli_config(manifest=manifest)) == 0
    assert run(cli_config(manifest=manifest, strict=True)) == 1
    (tmp_path / "us/c02.png").unlink()
    assert run(cli_config(manifest=manifest, mask_folder=make_mask_folder(tmp_path / "busi"))) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "validated 2 cases: 1 errors, 1 warnings" in lines
    assert "validated 7 images: 4 errors, 2 warnings" in lines
    assert run(cli_config()) == 2
    assert "give manifest=<cohort.csv>" in capsys.readouterr().err


def test_console_script_writes_nothing_and_prints_no_traceback(tmp_path: Path) -> None:
    manifest = make_cohort(tmp_path / "cohort", split="training")
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "bus_seg.cli.validate", f"manifest={manifest}"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "column 'split': must be train, val or test" in result.stdout
    assert "validated 2 cases: 1 errors, 0 warnings" in result.stdout
    assert "Traceback" not in result.stderr
    assert list(work.iterdir()) == []  # no outputs/ or .hydra/ folder


def test_console_script_strict_flag_fails_on_warnings(tmp_path: Path) -> None:
    manifest = make_cohort(tmp_path / "cohort")
    save_geojson(tmp_path / "cohort/ann/c01.geojson", [(100, 20, 150, 40)], name="Stroma")
    command = [sys.executable, "-m", "bus_seg.cli.validate", f"manifest={manifest}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    lenient = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    strict = subprocess.run(
        [*command, "--strict"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert (lenient.returncode, strict.returncode) == (0, 1), strict.stderr
    assert "validated 2 cases: 0 errors, 1 warnings" in strict.stdout
