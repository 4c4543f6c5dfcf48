"""Tests of bus_seg.io.dicom: pixels, spacing, photometric interpretations and privacy."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space
from pydicom.uid import JPEGBaseline8Bit

from bus_seg.errors import InputError
from bus_seg.io.dicom import is_dicom, read_dicom_frame
from bus_seg.io.images import to_gray
from bus_seg.io.ultrasound import read_ultrasound
from tests.helpers.dicom import SECRETS, region, write_dicom


def _read(path: Path) -> tuple[np.ndarray, float | None, str | None, list[str]]:
    """A DICOM file through the one ultrasound reader: pixels, spacing, its source, notes."""
    image = read_ultrasound(path)
    return image.pixels, image.spacing_mm, image.spacing_source, image.warnings


@pytest.fixture
def gray() -> np.ndarray:
    return np.arange(12 * 16, dtype=np.uint8).reshape(12, 16)


def test_region_spacing_in_cm_becomes_mm(tmp_path: Path, gray: np.ndarray) -> None:
    path = write_dicom(tmp_path / "a.dcm", gray, regions=[region((0.01, 0.01), (0, 0, 15, 11))])
    pixels, spacing_mm, source, warnings = _read(path)
    np.testing.assert_array_equal(pixels, gray)
    assert pixels.dtype == np.uint8
    assert spacing_mm == pytest.approx(0.1)
    assert source == "dicom-region"
    assert warnings == []


def test_largest_calibrated_2d_region_wins(tmp_path: Path, gray: np.ndarray) -> None:
    regions = [
        region((0.05, 0.05), (0, 0, 3, 3)),  # small 2-D region
        region((0.02, 0.02), (0, 0, 15, 11)),  # covers the image
        region((0.5, 0.5), (0, 0, 15, 11), spatial=3),  # spectral Doppler: not 2-D
    ]
    _, spacing_mm, source, warnings = _read(write_dicom(tmp_path / "a.dcm", gray, regions=regions))
    assert spacing_mm == pytest.approx(0.2) and source == "dicom-region"
    assert any("largest" in note for note in warnings)


def test_pixel_spacing_only(tmp_path: Path, gray: np.ndarray) -> None:
    path = write_dicom(tmp_path / "b.dcm", gray, pixel_spacing=(0.15, 0.15))
    _, spacing_mm, source, warnings = _read(path)
    assert spacing_mm == pytest.approx(0.15)
    assert source == "dicom-pixelspacing"
    assert warnings == []


def test_uncalibrated_region_falls_back_to_pixel_spacing(tmp_path: Path, gray: np.ndarray) -> None:
    path = write_dicom(
        tmp_path / "c.dcm",
        gray,
        regions=[region((1.0, 1.0), (0, 0, 15, 11), units=0)],
        pixel_spacing=(0.3, 0.3),
    )
    _, spacing_mm, source, warnings = _read(path)
    assert spacing_mm == pytest.approx(0.3) and source == "dicom-pixelspacing"
    assert any("no 2-D calibration" in note for note in warnings)


def test_no_spacing_gives_none(tmp_path: Path, gray: np.ndarray) -> None:
    _, spacing_mm, source, _ = _read(write_dicom(tmp_path / "d.dcm", gray))
    assert spacing_mm is None and source is None


def test_anisotropic_spacing_is_refused_without_manifest_value(
    tmp_path: Path, gray: np.ndarray
) -> None:
    path = write_dicom(tmp_path / "e.dcm", gray, pixel_spacing=(0.2, 0.1))  # row 0.2, column 0.1
    assert read_dicom_frame(path).spacing_xy_mm == pytest.approx((0.1, 0.2))
    with pytest.raises(InputError, match="anisotropic.*us_spacing_mm") as info:
        _read(path)
    assert str(path) in str(info.value)
    image = read_ultrasound(path, spacing_mm=0.15)
    assert image.spacing_mm == 0.15 and image.spacing_source == "manifest"
    assert any("anisotropic" in note for note in image.warnings)


def test_rgb_is_converted_to_gray(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(8, 10, 3), dtype=np.uint8)
    pixels, *_ = _read(write_dicom(tmp_path / "rgb.dcm", rgb))
    np.testing.assert_array_equal(pixels, to_gray(rgb))


def test_ybr_full_is_converted_to_rgb_then_gray(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(30, 220, size=(8, 10, 3), dtype=np.uint8)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    pixels, *_ = _read(write_dicom(tmp_path / "ybr.dcm", ybr, photometric="YBR_FULL"))
    # YBR_FULL luminance is the ITU-R 601 gray itself: the round trip loses at most rounding.
    assert np.abs(pixels.astype(int) - to_gray(rgb).astype(int)).max() <= 2


def test_jpeg_baseline_ybr_422_is_decoded(tmp_path: Path) -> None:
    """Most scanners export JPEG-compressed YBR_FULL_422 frames; pydicom decodes them with Pillow."""
    gradient = np.add.outer(np.arange(32) * 4, np.arange(48) * 2).astype(np.uint8)
    rgb = np.repeat(gradient[..., None], 3, axis=2)
    path = write_dicom(tmp_path / "jpeg.dcm", rgb, pixel_spacing=(0.1, 0.1))
    dataset = pydicom.dcmread(path)
    encoded = io.BytesIO()
    Image.fromarray(rgb).save(encoded, format="JPEG", quality=95)
    dataset.PixelData = encapsulate([encoded.getvalue()])
    dataset["PixelData"].VR = "OB"
    dataset.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    dataset.PhotometricInterpretation = "YBR_FULL_422"
    dataset.save_as(path)
    pixels, spacing_mm, _, _ = _read(path)
    assert spacing_mm == pytest.approx(0.1)
    assert np.abs(pixels.astype(int) - gradient.astype(int)).max() <= 4


def test_monochrome1_is_inverted(tmp_path: Path, gray: np.ndarray) -> None:
    path = write_dicom(tmp_path / "m1.dcm", gray, photometric="MONOCHROME1")
    pixels, *_ = _read(path)
    np.testing.assert_array_equal(pixels, 255 - gray)


def test_12_bit_data_is_scaled_to_8_bits(tmp_path: Path) -> None:
    data = np.array([[0, 4095], [2048, 16]], dtype=np.uint16)
    pixels, *_ = _read(write_dicom(tmp_path / "b12.dcm", data, bits_stored=12))
    assert pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, [[0, 255], [128, 1]])


def test_cine_loop_gives_first_frame_with_warning(tmp_path: Path) -> None:
    frames = np.stack([np.full((6, 7), value, dtype=np.uint8) for value in (10, 20, 30)])
    pixels, _, _, warnings = _read(write_dicom(tmp_path / "cine.dcm", frames, frames=3))
    assert pixels.shape == (6, 7) and np.all(pixels == 10)
    assert any("3 frames" in note and "first frame" in note for note in warnings)


def test_dicom_without_suffix_is_found_by_its_preamble(tmp_path: Path, gray: np.ndarray) -> None:
    path = write_dicom(tmp_path / "IM0001", gray, pixel_spacing=(0.1, 0.1))
    assert is_dicom(path)
    image = read_ultrasound(path)
    np.testing.assert_array_equal(image.pixels, gray)
    assert image.spacing_source == "dicom-pixelspacing"


def test_non_dicom_with_dcm_suffix_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "fake.dcm"
    path.write_bytes(b"not a dicom file at all" * 20)
    with pytest.raises(InputError, match="not a DICOM file") as info:
        _read(path)
    assert str(path) in str(info.value)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found") as info:
        _read(tmp_path / "gone.dcm")
    assert "gone.dcm" in str(info.value)


def assert_private(text: str) -> None:
    for value in SECRETS.values():
        assert value not in text
        assert value.replace("^", " ") not in text


def test_no_identifying_tag_value_leaks_into_results(tmp_path: Path, gray: np.ndarray) -> None:
    frames = np.stack([gray, gray])
    path = write_dicom(
        tmp_path / "private.dcm",
        frames,
        frames=2,
        regions=[region((0.01, 0.02), (0, 0, 15, 11))],  # anisotropic: a spacing warning
        pixel_spacing=(0.1, 0.1),
    )
    image = read_ultrasound(path, spacing_mm=0.5)
    frame = read_dicom_frame(path)
    assert image.warnings  # multi-frame and spacing notes exist, and are private
    assert_private(repr(image) + repr(frame) + " ".join(image.warnings + frame.warnings))


def test_no_identifying_tag_value_leaks_into_errors(tmp_path: Path, gray: np.ndarray) -> None:
    no_pixels = write_dicom(tmp_path / "report.dcm", gray, with_pixels=False)
    truncated = write_dicom(tmp_path / "trunc.dcm", gray)
    truncated.write_bytes(truncated.read_bytes()[:-100])
    anisotropic = write_dicom(tmp_path / "aniso.dcm", gray, pixel_spacing=(0.3, 0.1))
    for path in (no_pixels, truncated, anisotropic):
        with pytest.raises(InputError) as info:
            read_ultrasound(path)
        assert_private(str(info.value))
        assert info.value.__cause__ is None
