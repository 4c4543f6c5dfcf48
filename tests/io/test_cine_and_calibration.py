"""DICOM calibration regions against the pixel matrix, and cine-loop frames (us_frame)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom.data
import pydicom.pixels
import pytest
import tifffile

from bus_seg.errors import InputError
from bus_seg.io.dicom import read_dicom_frame
from bus_seg.io.images import to_gray
from bus_seg.io.manifest import read_manifest, write_manifest
from bus_seg.io.ultrasound import read_ultrasound, read_ultrasound_frames, read_ultrasound_pixels
from tests.helpers.dicom import region, write_dicom


def shipped_example(name: str) -> Path:
    """A test file shipped inside the pydicom wheel (never downloaded)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = pydicom.data.get_testdata_file(name, download=False)
    if found is None:
        pytest.skip(f"pydicom's example {name} is not installed (pydicom wheel without test data)")
    return Path(found)


def cine(tmp_path: Path, name: str = "cine.dcm") -> Path:
    frames = np.stack([np.full((6, 7), value, dtype=np.uint8) for value in (10, 20, 30)])
    frames[2, 0, 0] = 99
    return write_dicom(tmp_path / name, frames, frames=3)


@pytest.mark.parametrize("name", ["examples_ybr_color.dcm", "examples_palette.dcm"])
def test_pydicom_regions_outside_the_image_warn_and_give_no_spacing(name: str) -> None:
    path = shipped_example(name)
    image = read_ultrasound(path)
    assert image.spacing_mm is None and image.spacing_source is None
    assert any("outside the" in note and "not used" in note for note in image.warnings)
    trusted = read_ultrasound(path, use_outside_regions=True)
    assert trusted.spacing_source == "dicom-region" and trusted.spacing_mm > 0
    assert any("is used" in note for note in trusted.warnings)


def test_ybr_example_spacing_is_its_region_when_trusted() -> None:
    image = read_ultrasound(shipped_example("examples_ybr_color.dcm"), use_outside_regions=True)
    assert image.spacing_mm == pytest.approx(0.5104970559477806)
    assert image.shape == (240, 320)


def test_region_inside_is_used_and_region_outside_is_not(tmp_path: Path) -> None:
    gray = np.zeros((12, 16), dtype=np.uint8)
    regions = [region((0.05, 0.05), (0, 0, 16, 11)), region((0.01, 0.01), (2, 2, 10, 8))]
    frame = read_dicom_frame(write_dicom(tmp_path / "r.dcm", gray, regions=regions))
    assert frame.spacing_xy_mm == pytest.approx((0.1, 0.1))  # the smaller region, inside
    assert any("region 0" in note and "outside" in note for note in frame.warnings)


def test_disagreeing_regions_are_a_warning(tmp_path: Path) -> None:
    gray = np.zeros((12, 16), dtype=np.uint8)
    regions = [region((0.01, 0.01), (0, 0, 15, 5)), region((0.02, 0.02), (0, 6, 15, 11))]
    frame = read_dicom_frame(write_dicom(tmp_path / "d.dcm", gray, regions=regions))
    assert any("disagree" in note for note in frame.warnings)


def test_us_frame_picks_the_cine_frame(tmp_path: Path) -> None:
    path = cine(tmp_path)
    image = read_ultrasound(path, frame=2)
    assert image.pixels[0, 0] == 99 and np.all(image.pixels.flat[1:] == 30)
    assert not any("first frame" in note for note in image.warnings)
    np.testing.assert_array_equal(read_ultrasound_pixels(path, 2), image.pixels)
    first = read_ultrasound(path)
    assert np.all(first.pixels == 10) and any("us_frame" in n for n in first.warnings)


@pytest.mark.parametrize("frame", [3, 7])
def test_frame_out_of_range_names_the_file(tmp_path: Path, frame: int) -> None:
    path = cine(tmp_path)
    with pytest.raises(InputError, match=rf"us_frame={frame} is out of range.*3 frames") as info:
        read_ultrasound(path, frame=frame)
    assert str(path) in str(info.value)


def test_multi_page_tiff_frames(tmp_path: Path) -> None:
    pages = np.stack([np.full((5, 4), v, dtype=np.uint8) for v in (1, 2, 3)])
    path = tmp_path / "loop.tif"
    tifffile.imwrite(path, pages, photometric="minisblack")
    assert np.all(read_ultrasound(path, frame=1).pixels == 2)
    with pytest.raises(InputError, match="us_frame=3 is out of range") as info:
        read_ultrasound(path, frame=3)
    assert str(path) in str(info.value)
    assert [int(f.pixels[0, 0]) for f in read_ultrasound_frames(path)] == [1, 2, 3]


def test_single_image_has_only_frame_0(tmp_path: Path) -> None:
    path = tmp_path / "one.tif"
    tifffile.imwrite(path, np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(InputError, match="us_frame=1 is out of range: the file has 1 frame "):
        read_ultrasound(path, frame=1)


def test_all_frames_of_a_dicom_cine(tmp_path: Path) -> None:
    frames = read_ultrasound_frames(cine(tmp_path), spacing_mm=0.1)
    assert [int(f.pixels[1, 1]) for f in frames] == [10, 20, 30]
    assert all(f.spacing_mm == 0.1 for f in frames)


def test_manifest_us_frame_column(tmp_path: Path) -> None:
    base = {"patient_id": "p", "us_path": "cine.dcm", "wsi_path": "s.tif", "annotation_path": "a"}
    rows = [
        {"case_id": "a", **base, "us_frame": 2},
        {"case_id": "b", **base, "us_frame": ""},
        {"case_id": "c", **base, "us_frame": "-1"},
        {"case_id": "d", **base, "us_frame": "two"},
    ]
    manifest = read_manifest(write_manifest(tmp_path / "m.csv", rows), require_tract=False)
    frames = {r.case_id: r.us_frame for r in manifest.records}
    assert frames == {"a": 2, "b": None}
    assert all("us_frame" not in r.extra for r in manifest.records)
    bad = {issue.case_id: issue for issue in manifest.errors}
    assert set(bad) == {"c", "d"}
    assert (
        bad["c"].column == "us_frame" and bad["c"].row == 3 and "whole number" in bad["c"].message
    )


@pytest.mark.parametrize("frame", [0, 17, 29])
def test_ybr_cine_frames_match_pydicoms_own_decoding(frame: int) -> None:
    path = shipped_example("examples_ybr_color.dcm")
    dataset = pydicom.dcmread(path)
    rgb = pydicom.pixels.pixel_array(dataset, index=frame)  # YBR_FULL_422 converted to RGB
    np.testing.assert_array_equal(read_ultrasound(path, frame=frame).pixels, to_gray(rgb))
    with pytest.raises(InputError, match="us_frame=30 is out of range.*30 frames") as info:
        read_ultrasound(path, frame=30)
    assert str(path) in str(info.value)
