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
    rgb[tissue] = np.stack([150 + 50 * np.sin(cols / 30.0), 100 + 40 * np.cos(rows / 20.0), 180 + 0 * rows], -1)[tissue]
    return rgb


@pytest.mark.parametrize("fmt", ["ome_tiff", "tiff"])
@pytest.mark.parametrize(("compression", "downsample"), [("jpeg", 2), ("zlib", 4), ("none", 2)])
def test_tiff_formats_round_trip(tmp_path: Path, slide: np.ndarray, fmt: str, compression: str, downsample: int) -> None:
    path = write_wsi(tmp_path / f"s{WSI_SUFFIXES[fmt]}", slide, 0.5, fmt, downsample=downsample, compression=compression, file_uuid="0" * 32)
    with open_wsi(path) as wsi:
        assert wsi.mpp == 0.5 and wsi.mpp_source == ("ome" if fmt == "ome_tiff" else "tiff-resolution")
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
