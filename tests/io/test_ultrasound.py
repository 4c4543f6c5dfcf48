"""Tests of bus_seg.io.ultrasound: formats, bit depths, and the spacing rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from bus_seg.errors import InputError
from bus_seg.io.images import to_gray
from bus_seg.io.ultrasound import read_ultrasound


@pytest.fixture
def gray() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(20, 30), dtype=np.uint8)


def save_png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def save_tiff(path: Path, array: np.ndarray, **kwargs) -> Path:
    tifffile.imwrite(path, array, **kwargs)
    return path


def test_gray_png_passes_unchanged(tmp_path: Path, gray: np.ndarray) -> None:
    image = read_ultrasound(save_png(tmp_path / "us.png", gray))
    np.testing.assert_array_equal(image.pixels, gray)
    assert image.pixels.dtype == np.uint8
    assert image.shape == (20, 30)
    assert image.spacing_mm is None and image.spacing_source is None and image.warnings == []


def test_rgb_png_and_jpeg_become_gray(tmp_path: Path, gray: np.ndarray) -> None:
    rgb = np.stack([gray, gray // 2, 255 - gray], axis=-1)
    np.testing.assert_array_equal(
        read_ultrasound(save_png(tmp_path / "c.png", rgb)).pixels, to_gray(rgb)
    )
    jpeg = tmp_path / "c.jpg"
    Image.fromarray(rgb).save(jpeg, quality=95)
    assert read_ultrasound(jpeg).pixels.shape == (20, 30)


def test_rgba_tiff_uses_the_colour_channels(tmp_path: Path, gray: np.ndarray) -> None:
    rgb = np.stack([gray, gray, gray], axis=-1)
    rgba = np.concatenate([rgb, np.full((20, 30, 1), 255, np.uint8)], axis=-1)
    image = read_ultrasound(
        save_tiff(tmp_path / "a.tif", rgba, photometric="rgb", extrasamples=[2])
    )
    np.testing.assert_array_equal(image.pixels, gray)


def test_planar_rgb_tiff(tmp_path: Path, gray: np.ndarray) -> None:
    planar = np.stack([gray, gray, gray])
    path = save_tiff(tmp_path / "p.tif", planar, photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(read_ultrasound(path).pixels, gray)


def test_16_bit_using_more_than_8_bits_is_divided_by_257(tmp_path: Path) -> None:
    data = np.array([[0, 257, 65535], [1000, 30000, 128]], dtype=np.uint16)
    image = read_ultrasound(save_tiff(tmp_path / "w.tif", data))
    np.testing.assert_array_equal(image.pixels, np.rint(data / 257.0).astype(np.uint8))


def test_16_bit_within_8_bits_is_kept(tmp_path: Path, gray: np.ndarray) -> None:
    image = read_ultrasound(save_png(tmp_path / "n.png", gray.astype(np.uint16)))
    np.testing.assert_array_equal(image.pixels, gray)


def test_tiff_resolution_in_cm_gives_spacing(tmp_path: Path, gray: np.ndarray) -> None:
    path = save_tiff(tmp_path / "r.tif", gray, resolution=(80.0, 80.0), resolutionunit="CENTIMETER")
    image = read_ultrasound(path)
    assert image.spacing_mm == pytest.approx(0.125)
    assert image.spacing_source == "tiff-resolution"


def test_tiff_resolution_in_inches_is_ignored(tmp_path: Path, gray: np.ndarray) -> None:
    path = save_tiff(tmp_path / "dpi.tif", gray, resolution=(72.0, 72.0), resolutionunit="INCH")
    assert read_ultrasound(path).spacing_mm is None


def test_imagej_calibration_in_mm(tmp_path: Path, gray: np.ndarray) -> None:
    path = save_tiff(
        tmp_path / "ij.tif", gray, imagej=True, resolution=(5.0, 5.0), metadata={"unit": "mm"}
    )
    assert read_ultrasound(path).spacing_mm == pytest.approx(0.2)


def test_manifest_spacing_wins_and_disagreement_is_a_warning(
    tmp_path: Path, gray: np.ndarray
) -> None:
    path = save_tiff(
        tmp_path / "r.tif", gray, resolution=(100.0, 100.0), resolutionunit="CENTIMETER"
    )
    image = read_ultrasound(path, spacing_mm=0.12)
    assert image.spacing_mm == 0.12 and image.spacing_source == "manifest"
    assert len(image.warnings) == 1
    assert "0.12" in image.warnings[0] and "0.1 mm" in image.warnings[0]


def test_agreement_within_one_percent_is_silent(tmp_path: Path, gray: np.ndarray) -> None:
    path = save_tiff(
        tmp_path / "r.tif", gray, resolution=(100.0, 100.0), resolutionunit="CENTIMETER"
    )
    image = read_ultrasound(path, spacing_mm=0.1005)
    assert image.spacing_mm == 0.1005 and image.warnings == []


def test_anisotropic_file_spacing_needs_the_manifest(tmp_path: Path, gray: np.ndarray) -> None:
    path = save_tiff(
        tmp_path / "an.tif", gray, resolution=(100.0, 50.0), resolutionunit="CENTIMETER"
    )
    with pytest.raises(InputError, match="anisotropic.*us_spacing_mm") as info:
        read_ultrasound(path)
    assert "an.tif" in str(info.value)
    image = read_ultrasound(path, spacing_mm=0.15)
    assert image.spacing_mm == 0.15 and "anisotropic" in image.warnings[0]


def test_multi_page_tiff_uses_first_page(tmp_path: Path) -> None:
    frames = np.stack([np.full((5, 6), value, np.uint8) for value in (7, 8, 9)])
    image = read_ultrasound(save_tiff(tmp_path / "cine.tif", frames, photometric="minisblack"))
    assert image.shape == (5, 6) and np.all(image.pixels == 7)
    assert "3 pages" in image.warnings[0]


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf")])
def test_non_positive_manifest_spacing_is_refused(
    tmp_path: Path, gray: np.ndarray, bad: float
) -> None:
    with pytest.raises(InputError, match="us_spacing_mm must be a positive number"):
        read_ultrasound(save_png(tmp_path / "us.png", gray), spacing_mm=bad)


def test_missing_and_corrupt_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found") as info:
        read_ultrasound(tmp_path / "missing.png")
    assert "missing.png" in str(info.value)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(InputError, match="cannot decode") as info:
        read_ultrasound(broken)
    assert "broken.png" in str(info.value)
    broken_tiff = tmp_path / "broken.tif"
    broken_tiff.write_bytes(b"II*\x00" + b"\xff" * 40)
    with pytest.raises(InputError, match="cannot decode TIFF") as info:
        read_ultrasound(broken_tiff)
    assert "broken.tif" in str(info.value)


def test_float_image_is_refused_with_a_fix(tmp_path: Path) -> None:
    path = save_tiff(tmp_path / "f.tif", np.zeros((4, 4), np.float32))
    with pytest.raises(InputError, match="8- or 16-bit"):
        read_ultrasound(path)
