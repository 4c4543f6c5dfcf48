"""Slide writers: every format reads back with its MPP and exact pyramid levels, atomically."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tifffile

from bus_seg.errors import ConfigError
from bus_seg.io.wsi import open_wsi
from bus_seg.io.wsi_writer import WSI_SUFFIXES, pyramid, write_wsi


@pytest.fixture(scope="module")
def slide() -> np.ndarray:
    rows, cols = np.mgrid[0:512, 0:1024]
    rgb = np.full((512, 1024, 3), 240, dtype=np.uint8)
    tissue = (rows > 100) & (rows < 400) & (cols > 100) & (cols < 900)
    rgb[tissue] = np.stack(
        [150 + 50 * np.sin(cols / 30.0), 100 + 40 * np.cos(rows / 20.0), 180 + 0 * rows], -1
    )[tissue]
    return rgb


@pytest.mark.parametrize("fmt", ["ome_tiff", "tiff"])
@pytest.mark.parametrize(("compression", "downsample"), [("jpeg", 2), ("zlib", 4), ("none", 2)])
def test_tiff_formats_round_trip(
    tmp_path: Path, slide: np.ndarray, fmt: str, compression: str, downsample: int
) -> None:
    path = write_wsi(
        tmp_path / f"s{WSI_SUFFIXES[fmt]}",
        slide,
        0.5,
        fmt,
        downsample=downsample,
        compression=compression,
        file_uuid="0" * 32,
    )
    with open_wsi(path) as wsi:
        assert wsi.mpp == 0.5 and wsi.mpp_source == (
            "ome" if fmt == "ome_tiff" else "tiff-resolution"
        )
        assert wsi.level_downsamples == [float(downsample**k) for k in range(wsi.level_count)]
        assert wsi.level_count == len(pyramid(slide, downsample, 128)) >= 2
        level0 = wsi.read_level(0)
    if compression == "jpeg":
        assert np.abs(level0.astype(int) - slide).mean() < 6
    else:
        assert np.array_equal(level0, slide)
    with tifffile.TiffFile(path) as tif:
        assert [lvl.shape[:2] for lvl in tif.series[0].levels] == [
            (512 // downsample**k, 1024 // downsample**k) for k in range(wsi.level_count)
        ]
        if fmt == "ome_tiff":
            assert re.search(r'PhysicalSizeX="0.5"', tif.ome_metadata)
            assert re.search(r'PhysicalSizeXUnit="µm"', tif.ome_metadata)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_png_needs_the_manifest_mpp(tmp_path: Path, slide: np.ndarray) -> None:
    path = write_wsi(tmp_path / "s.png", slide, 2.0, "png")
    with open_wsi(path, mpp=2.0) as wsi:
        assert wsi.mpp_source == "manifest" and np.array_equal(wsi.read_level(0), slide)


def test_same_uuid_same_bytes(tmp_path: Path, slide: np.ndarray) -> None:
    a = write_wsi(tmp_path / "a.ome.tif", slide, 1.0, "ome_tiff", file_uuid="1" * 32)
    b = write_wsi(tmp_path / "b.ome.tif", slide, 1.0, "ome_tiff", file_uuid="1" * 32)
    assert a.read_bytes() == b.read_bytes()


def test_bad_format_or_compression(tmp_path: Path, slide: np.ndarray) -> None:
    with pytest.raises(ConfigError, match="svs"):
        write_wsi(tmp_path / "s.svs", slide, 1.0, "svs")
    with pytest.raises(ConfigError, match="lzma"):
        write_wsi(tmp_path / "s.tif", slide, 1.0, "tiff", compression="lzma")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("fmt", "mpp"), [("svs", 0.25), ("ome_tiff", 0.5), ("svs", 0.5)])
def test_scanned_slides_read_back_with_mpp_levels_and_content(
    tmp_path: Path, slide: np.ndarray, fmt: str, mpp: float
) -> None:
    """Scanner-resolution slides: Aperio SVS (level 0, thumbnail, levels, label, macro, MPP in
    the ImageDescription) or OME-TIFF (SubIFDs), each level resampled from the source."""
    from bus_seg.io.wsi_writer import SCANNED_SUFFIXES, write_scanned_slide

    source = slide[::2, ::2]  # 256 x 512 at 2 µm/px
    ratio = round(2.0 / mpp)
    path = write_scanned_slide(
        tmp_path / f"s{SCANNED_SUFFIXES[fmt]}", source, 2.0, mpp, fmt, downsample=4, tile_size=256
    )
    with tifffile.TiffFile(path) as tif:
        names = [s.name for s in tif.series]
        if fmt == "svs":
            assert tif.is_svs and names == ["Baseline", "Thumbnail", "Label", "Macro"]
            assert f"MPP = {mpp:.4f}" in tif.pages.first.description
            assert tif.pages.first.is_tiled and not tif.pages[1].is_tiled
        else:
            assert tif.is_ome and len(tif.series[0].levels) >= 2
    with open_wsi(path) as wsi:
        assert wsi.mpp == pytest.approx(mpp) and wsi.mpp_source == (
            "aperio" if fmt == "svs" else "ome"
        )
        assert wsi.level_shapes[0] == (256 * ratio, 512 * ratio)
        assert wsi.level_shapes[1] == (256 * ratio // 4, 512 * ratio // 4)
        # the level at the source's resolution is the source (plus ±3 scanner noise, JPEG)
        level = wsi.best_level(2.0)
        reduced, _ = wsi.read_reduced(level, round(2.0 / wsi.level_mpp(level)))
        assert np.abs(reduced.astype(int) - source.astype(int)).mean() < 6


def test_scanned_slide_opens_in_openslide_with_mpp_and_levels(
    tmp_path: Path, slide: np.ndarray
) -> None:
    openslide = pytest.importorskip("openslide", reason="OpenSlide is not installed (optional)")
    from bus_seg.io.wsi_writer import write_scanned_slide

    for fmt, name in [("svs", "s.svs"), ("ome_tiff", "s.ome.tif")]:
        path = write_scanned_slide(tmp_path / name, slide[::4, ::4], 2.0, 0.25, fmt, downsample=4)
        with openslide.OpenSlide(str(path)) as osr:
            assert osr.dimensions == (256 * 8, 128 * 8)
            if fmt == "svs":  # OpenSlide reads OME-TIFF as a generic TIFF: level 0 only
                assert osr.level_count >= 2
                assert float(osr.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(0.25)
                assert {"label", "macro", "thumbnail"} <= set(osr.associated_images)


def test_scanned_slide_needs_a_whole_ratio(tmp_path: Path, slide: np.ndarray) -> None:
    from bus_seg.io.wsi_writer import write_scanned_slide

    with pytest.raises(ConfigError, match="whole number"):
        write_scanned_slide(tmp_path / "s.svs", slide, 2.0, 0.3, "svs")
    assert not list(tmp_path.iterdir())
