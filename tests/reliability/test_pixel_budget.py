"""The pixel budget: files that claim huge images are refused from their headers, before decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bus_seg.errors import ConfigError, InputError
from bus_seg.io.annotations import read_annotation
from bus_seg.io.images import read_array, read_label_map, write_png
from bus_seg.io.manifest import write_manifest
from bus_seg.io.pixel_budget import DEFAULT_MAX_PIXELS, ENV_VAR, check_pixel_budget, max_pixels
from bus_seg.io.ultrasound import read_ultrasound
from bus_seg.io.wsi import open_wsi
from bus_seg.registration import register_cohort
from tests.helpers.bombs import write_dicom_bomb, write_tiff_bomb
from tests.helpers.registration_factory import CaseSpec, FragmentSpec, write_case

BUDGET = "pixel budget"


def test_budget_default_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert max_pixels() == DEFAULT_MAX_PIXELS
    monkeypatch.setenv(ENV_VAR, "1000")
    assert max_pixels() == 1000
    assert check_pixel_budget("x.png", "the image", 10, 100) == 1000
    with pytest.raises(InputError, match=f"x.png: the image is 10×101 = 1,010 .*{ENV_VAR}"):
        check_pixel_budget("x.png", "the image", 10, 101)
    monkeypatch.setenv(ENV_VAR, "lots")
    with pytest.raises(ConfigError, match=f"{ENV_VAR}='lots' must be a positive whole number"):
        max_pixels()


def test_wsi_level_claiming_30000_squared_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = write_tiff_bomb(tmp_path / "slide.tif", 30000, 30000)
    assert bomb.stat().st_size < 200_000
    with open_wsi(bomb, mpp=0.5) as wsi:  # the header alone is fine
        assert wsi.level_shapes == [(30000, 30000)]
        with pytest.raises(InputError, match=f"slide.tif: a whole level .*30000×30000×3.*{BUDGET}"):
            wsi.read_level(0)
        # a region is decoded tile by tile: the budget counts what is decoded, not level 0
        region = wsi.read_level(0, (1000, 2000, 300, 200))
        assert region.shape == (200, 300, 3)


def test_ultrasound_tiff_claiming_60000_squared_is_refused(tmp_path: Path) -> None:
    bomb = write_tiff_bomb(tmp_path / "us.tif", 60000, 60000, samples=1, tile=1024)
    with pytest.raises(InputError, match=f"us.tif: .*page.* is 60000×60000.*{BUDGET}"):
        read_ultrasound(bomb, 0.1)
    with pytest.raises(InputError, match=f"us.tif: the image is 60000×60000.*{BUDGET}"):
        read_array(bomb)


@pytest.mark.parametrize("deflated", [True, False])
def test_dicom_claiming_40000_squared_is_refused_from_its_header(
    tmp_path: Path, deflated: bool
) -> None:
    bomb = write_dicom_bomb(tmp_path / "us.dcm", 40000, 40000, deflated=deflated)
    with pytest.raises(
        InputError, match=f"us.dcm: the DICOM pixel data .*1×40000×40000×1.*{BUDGET}"
    ):
        read_ultrasound(bomb, 0.1)


def test_deflated_dicom_is_refused_before_inflating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real deflate bomb (all its pixel bytes present), refused by a small budget."""
    bomb = write_dicom_bomb(tmp_path / "us.dcm", 2000, 3000, frames=2, real_pixels=True)
    assert bomb.stat().st_size < 100_000
    monkeypatch.setenv(ENV_VAR, "1000000")
    with pytest.raises(InputError, match=r"2×2000×3000×1 = 12,000,000 .*budget of 1,000,000"):
        read_ultrasound(bomb, 0.1)
    monkeypatch.delenv(ENV_VAR)
    image = read_ultrasound(bomb, 0.1)  # within the default budget it reads as before
    assert image.shape == (2000, 3000)


def test_label_images_and_masks_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = write_tiff_bomb(tmp_path / "labels.tif", 50000, 50000, samples=1)
    with pytest.raises(InputError, match=f"labels.tif: the label image is 50000×50000.*{BUDGET}"):
        read_annotation(bomb, (50000, 50000), ["Tumor"])
    with pytest.raises(InputError, match=BUDGET):
        read_label_map(bomb)
    mask = write_png(tmp_path / "mask.png", np.zeros((100, 120), np.uint8))
    monkeypatch.setenv(ENV_VAR, "10000")
    with pytest.raises(InputError, match=r"mask.png: the image is 100×120×1 = 12,000"):
        read_label_map(mask)


def test_a_bomb_fails_its_case_and_the_run_keeps_the_others(tmp_path: Path) -> None:
    spec = dict(
        fragments=[FragmentSpec(3000, tilt_deg=3), FragmentSpec(2000, gap_um=300)],
        cancer_um=[(1000, 2500)],
        tract=(30.0, 50.0, 110.0, 100.0),
        mpp=5.0,
    )
    names = ("good", "us", "dicom", "labels")
    rows = [write_case(CaseSpec(case_id=name, **spec), tmp_path / name) for name in names]
    write_tiff_bomb(tmp_path / "us" / "us.tif", 60000, 60000, samples=1)
    rows[1]["us_path"] = "us/us.tif"
    write_dicom_bomb(tmp_path / "dicom" / "us.dcm", 40000, 40000)
    rows[2]["us_path"] = "dicom/us.dcm"
    write_tiff_bomb(tmp_path / "labels" / "labels.tif", 40000, 40000, samples=1)
    rows[3]["annotation_path"] = "labels/labels.tif"
    manifest = write_manifest(tmp_path / "manifest.csv", rows)
    result = register_cohort(manifest, tmp_path / "out", progress=False)
    report = result.report.set_index("case_id")
    assert report.loc["good", "status"] == "ok"
    for case in names[1:]:
        assert report.loc[case, "status"] == "failed"
        assert BUDGET in report.loc[case, "error"] and ENV_VAR in report.loc[case, "error"]
    assert (tmp_path / "out" / "report.csv").is_file()


def test_a_reduced_read_counts_the_grid_it_keeps(tmp_path: Path) -> None:
    """Band-by-band reads decode little at once; the averaged grid they build is budgeted."""
    bomb = write_tiff_bomb(tmp_path / "slide.tif", 30000, 30000)
    wsi = open_wsi(bomb, mpp=5.0)
    with wsi, pytest.raises(InputError, match=r"level 0 averaged over 1×1 pixels is 30000×30000×3"):
        wsi.read_reduced(0, 1)
