"""One ultrasound reader: training, registration, validation and prediction see the same pixels.

Every ultrasound kind (8-bit, 16-bit, RGB, planar RGB TIFF, multi-page TIFF, DICOM cine) is
written from one gray image; each path must decode exactly the documented pixels (16-bit data
above 255 divided by 257; RGB to ITU-R 601 luminance; the first page or frame, or ``us_frame``).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

import bus_seg.data.validation as validate_module
from bus_seg.data.samples import SegmentationSample
from bus_seg.data.validation import check_cohort
from bus_seg.inference.folder import InputImages
from bus_seg.inference.inputs import collect_inputs
from bus_seg.io.manifest import read_manifest
from bus_seg.io.ultrasound import read_ultrasound
from bus_seg.registration.case import register_case
from bus_seg.registration.settings import RegistrationSettings
from tests.helpers.registration_cases import small_spec
from tests.helpers.registration_factory import write_cohort

KINDS = ("gray8", "gray16", "rgb", "planar_rgb", "multi_page", "dicom_cine")


def luminance(rgb: np.ndarray) -> np.ndarray:
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(np.rint(rgb.astype(np.float32) @ weights), 0, 255).astype(np.uint8)


def write_kind(kind: str, gray: np.ndarray, folder: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """Write ``gray`` as ``kind``; returns the file, its expected frame 0 and frame 2 (or 0)."""
    rgb = np.stack([gray, gray // 2, 255 - gray], axis=-1)
    others = [255 - gray, gray // 3]
    if kind == "gray8":
        path = folder / "us8.png"
        Image.fromarray(gray).save(path)
        return path, gray, gray
    if kind == "gray16":
        path = folder / "us16.png"
        data = gray.astype(np.uint16) * 16 + 3  # maximum 4083: a 12-bit image in 16 bits
        Image.fromarray(data).save(path)
        expected = np.rint(data / 257.0).astype(np.uint8)
        return path, expected, expected
    if kind == "rgb":
        path = folder / "rgb.png"
        Image.fromarray(rgb).save(path)
        return path, luminance(rgb), luminance(rgb)
    if kind == "planar_rgb":
        path = folder / "planar.tif"
        tifffile.imwrite(path, np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
        return path, luminance(rgb), luminance(rgb)
    if kind == "multi_page":
        path = folder / "loop.tif"
        tifffile.imwrite(path, np.stack([gray, *others]), photometric="minisblack")
        return path, gray, others[1]
    from tests.helpers.dicom import write_cine

    path = write_cine(folder / "loop.dcm", np.stack([gray, *others]))
    return path, gray, others[1]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cohort([small_spec("case")], tmp_path_factory.mktemp("cohort"))


def variant(
    cohort: Path, tmp_path: Path, kind: str, us_frame: int | None
) -> tuple[Path, Path, np.ndarray]:
    """A copy of the cohort's manifest whose ultrasound is ``kind``; returns (manifest, image, expected)."""
    record = read_manifest(cohort).records[0]
    gray = read_ultrasound(record.us_path).pixels
    shutil.copytree(cohort.parent / "case", tmp_path / "case")
    path, first, third = write_kind(kind, gray, tmp_path / "case")
    with cohort.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["us_path"] = f"case/{path.name}"
        row["us_frame"] = "" if us_frame is None else str(us_frame)
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest, path, third if us_frame == 2 else first


def pixels_of_every_path(manifest: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    record = read_manifest(manifest).records[0]
    seen: dict[str, np.ndarray] = {}

    def spy(*args, **kwargs):
        image = read_ultrasound(*args, **kwargs)
        seen["validate"] = image.pixels
        return image

    monkeypatch.setattr(validate_module, "read_ultrasound", spy)
    problems = check_cohort(manifest).problems
    assert not [p for p in problems if p.severity == "error"], problems
    case = register_case(record, RegistrationSettings(qc=False))
    seen["register"] = case.us_pixels
    inputs = collect_inputs(manifest)
    seen["predict"] = InputImages(inputs, lambda pixels: (pixels, None))[0].ultrasound.pixels
    sample = SegmentationSample(
        "case", "p", record.us_path, (record.label_path,), image_frame=record.us_frame
    )
    seen["train"] = sample.load_image()
    return seen


@pytest.mark.parametrize("kind", KINDS)
def test_every_path_reads_the_same_pixels(
    cohort: Path, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest, _, expected = variant(cohort, tmp_path, kind, None)
    seen = pixels_of_every_path(manifest, monkeypatch)
    assert set(seen) == {"train", "register", "validate", "predict"}
    for where, pixels in seen.items():
        assert pixels.dtype == np.uint8, where
        np.testing.assert_array_equal(pixels, expected, err_msg=where)


@pytest.mark.parametrize("kind", ["multi_page", "dicom_cine"])
def test_us_frame_is_read_by_train_register_validate_and_predict(
    cohort: Path, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest, _, expected = variant(cohort, tmp_path, kind, 2)
    seen = pixels_of_every_path(manifest, monkeypatch)
    assert set(seen) == {"train", "register", "validate", "predict"}
    for where, pixels in seen.items():
        np.testing.assert_array_equal(pixels, expected, err_msg=where)


def test_frame_out_of_range_is_a_row_error_naming_the_file(cohort: Path, tmp_path: Path) -> None:
    manifest, path, _ = variant(cohort, tmp_path, "dicom_cine", 5)
    errors = [p for p in check_cohort(manifest).problems if p.severity == "error"]
    assert len(errors) == 1
    assert "row 1" in errors[0].where and "us_path" in errors[0].where
    assert "us_frame=5 is out of range" in errors[0].message and str(path) in errors[0].message


def test_validate_reads_annotations_and_slides_as_registration_does(
    cohort: Path, tmp_path: Path
) -> None:
    manifest, _, _ = variant(cohort, tmp_path, "gray8", None)
    annotation = tmp_path / "case" / "annotation.geojson"
    document = json.loads(annotation.read_text())
    for feature in document["features"]:  # a QuPath "all objects" export: cells only
        feature.setdefault("properties", {})["objectType"] = "cell"
    annotation.write_text(json.dumps(document))
    record = read_manifest(manifest).records[0]

    def cancer_warnings(settings: RegistrationSettings | None) -> list[str]:
        problems = check_cohort(manifest, registration=settings).problems
        assert not [p for p in problems if p.severity == "error"], problems
        return [p.message for p in problems if "no cancer annotated" in p.message]

    default = RegistrationSettings(qc=False)
    assert any("cell objects skipped" in m for m in cancer_warnings(None))
    assert not (register_case(record, default).labels == 1).any()
    with_cells = RegistrationSettings(
        qc=False, annotation_object_types=("annotation", "cell"), slide_backend="auto"
    )
    assert cancer_warnings(with_cells) == []
    assert (register_case(record, with_cells).labels == 1).any()
