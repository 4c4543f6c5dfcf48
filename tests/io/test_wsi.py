"""Tests of bus_seg.io.wsi: formats, MPP sources, pyramid levels, region reads, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from bus_seg.errors import InputError
from bus_seg.io.wsi import open_wsi
from bus_seg.io.wsi_metadata import aperio_mpp, ome_mpp


def rgb_image(height: int, width: int) -> np.ndarray:
    """A deterministic RGB image whose every pixel differs from its neighbours."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([(rows * 7) % 256, (cols * 5) % 256, (rows + 3 * cols) % 256], -1).astype(
        np.uint8
    )


def write_ome_pyramid(path: Path, base: np.ndarray, metadata: dict, levels: int = 3) -> None:
    """OME-TIFF with the reduced levels as SubIFDs (level k = every 2**k-th pixel)."""
    with tifffile.TiffWriter(path, ome=True) as writer:
        writer.write(
            base,
            subifds=levels - 1,
            tile=(64, 64),
            photometric="rgb",
            metadata={"axes": "YXS", **metadata},
        )
        for level in range(1, levels):
            step = 2**level
            writer.write(base[::step, ::step], subfiletype=1, tile=(64, 64), photometric="rgb")


@pytest.fixture
def ome_pyramid(tmp_path: Path) -> tuple[Path, np.ndarray]:
    base = rgb_image(300, 520)
    path = tmp_path / "slide.ome.tif"
    write_ome_pyramid(path, base, {"PhysicalSizeX": 0.25, "PhysicalSizeXUnit": "µm"})
    return path, base


def test_ome_pyramid_levels_mpp_and_reads(ome_pyramid: tuple[Path, np.ndarray]) -> None:
    path, base = ome_pyramid
    with open_wsi(path) as wsi:
        assert wsi.mpp == pytest.approx(0.25)
        assert wsi.mpp_source == "ome"
        assert wsi.warnings == []
        assert wsi.level_shapes == [(300, 520), (150, 260), (75, 130)]
        assert wsi.level_downsamples == [1.0, 2.0, 4.0]
        assert [wsi.level_mpp(k) for k in range(3)] == pytest.approx([0.25, 0.5, 1.0])
        for level in range(3):
            step = 2**level
            np.testing.assert_array_equal(wsi.read_level(level), base[::step, ::step])


@pytest.mark.parametrize(
    ("target", "expected"),
    [(0.1, 0), (0.25, 0), (0.3, 0), (0.5, 1), (0.49, 0), (0.496, 1), (0.99, 1), (1.0, 2), (8.0, 2)],
)
def test_best_level_is_coarsest_level_not_coarser_than_target(
    ome_pyramid: tuple[Path, np.ndarray], target: float, expected: int
) -> None:
    with open_wsi(ome_pyramid[0]) as wsi:
        assert wsi.best_level(target) == expected


def test_read_at_mpp_returns_level_and_its_mpp(ome_pyramid: tuple[Path, np.ndarray]) -> None:
    path, base = ome_pyramid
    with open_wsi(path) as wsi:
        array, mpp = wsi.read_at_mpp(0.6, roi=(40, 80, 200, 100))
    assert mpp == pytest.approx(0.5)
    np.testing.assert_array_equal(array, base[::2, ::2][40:90, 20:120])


def test_roi_maps_to_covering_level_pixels_and_clips(ome_pyramid: tuple[Path, np.ndarray]) -> None:
    path, base = ome_pyramid
    with open_wsi(path) as wsi:
        assert wsi.roi_to_level(0, (10, 20, 30, 40)) == (10, 20, 30, 40)
        assert wsi.roi_to_level(2, (10, 20, 30, 40)) == (2, 5, 8, 10)  # x 2.5..10, y 5..15
        assert wsi.roi_to_level(1, (500, 280, 100, 100)) == (250, 140, 10, 10)  # clipped
        np.testing.assert_array_equal(
            wsi.read_level(1, (500, 280, 100, 100)), base[::2, ::2][140:150, 250:260]
        )
        with pytest.raises(InputError, match="outside the slide"):
            wsi.read_level(0, (600, 0, 10, 10))
        with pytest.raises(IndexError, match="levels 0–2"):
            wsi.read_level(3)


def test_region_reads_decode_only_the_touched_tiles(
    ome_pyramid: tuple[Path, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, base = ome_pyramid
    decoded: list[int] = []
    original = tifffile.FileHandle.read_segments

    def spy(self, offsets, bytecounts, *args, **kwargs):
        decoded.extend(offsets)
        return original(self, offsets, bytecounts, *args, **kwargs)

    monkeypatch.setattr(tifffile.FileHandle, "read_segments", spy)
    with open_wsi(path) as wsi:
        region = wsi.read_level(0, (70, 10, 50, 40))  # inside tiles (row 0, cols 1)
    np.testing.assert_array_equal(region, base[10:50, 70:120])
    assert len(decoded) == 1


@pytest.mark.parametrize(
    ("size", "unit", "mpp"),
    [(500.0, "nm", 0.5), (0.00025, "mm", 0.25), (0.0001, "cm", 1.0), (0.5, None, 0.5)],
)
def test_ome_physical_size_units(tmp_path: Path, size: float, unit: str | None, mpp: float) -> None:
    metadata = {"PhysicalSizeX": size} | ({"PhysicalSizeXUnit": unit} if unit else {})
    path = tmp_path / "unit.ome.tif"
    write_ome_pyramid(path, rgb_image(64, 64), metadata, levels=1)
    with open_wsi(path) as wsi:
        assert (wsi.mpp, wsi.mpp_source) == (pytest.approx(mpp), "ome")


def test_ome_pyramid_stored_as_several_images(tmp_path: Path) -> None:
    base = rgb_image(256, 384)
    path = tmp_path / "series.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as writer:
        for step in (1, 2, 4):
            writer.write(
                base[::step, ::step],
                photometric="rgb",
                metadata={"axes": "YXS", "PhysicalSizeX": 0.5 * step},
            )
    with open_wsi(path) as wsi:
        assert wsi.level_shapes == [(256, 384), (128, 192), (64, 96)]
        assert wsi.mpp == pytest.approx(0.5)
        np.testing.assert_array_equal(wsi.read_level(2), base[::4, ::4])


def test_planar_rgb_tiles_read_as_interleaved_rgb(tmp_path: Path) -> None:
    base = rgb_image(200, 150)
    path = tmp_path / "planar.ome.tif"
    tifffile.imwrite(
        path,
        np.moveaxis(base, -1, 0),
        ome=True,
        photometric="rgb",
        planarconfig="separate",
        tile=(64, 64),
        metadata={"axes": "CYX", "PhysicalSizeX": 0.5},
    )
    with open_wsi(path) as wsi:
        np.testing.assert_array_equal(wsi.read_level(0), base)
        np.testing.assert_array_equal(wsi.read_level(0, (33, 70, 90, 100)), base[70:170, 33:123])


def test_ome_channels_stored_as_separate_pages(tmp_path: Path) -> None:
    base = rgb_image(96, 128)
    path = tmp_path / "channels.ome.tif"
    tifffile.imwrite(
        path,
        np.moveaxis(base, -1, 0),
        ome=True,
        photometric="minisblack",
        metadata={"axes": "CYX", "PhysicalSizeX": 0.5},
    )
    with open_wsi(path) as wsi:
        np.testing.assert_array_equal(wsi.read_level(0, (10, 20, 30, 40)), base[20:60, 10:40])


def test_imagej_micron_resolution(tmp_path: Path) -> None:
    path = tmp_path / "fiji.tif"
    tifffile.imwrite(
        path,
        rgb_image(32, 48),
        imagej=True,
        photometric="rgb",
        resolution=(1 / 0.35, 1 / 0.35),
        metadata={"unit": "micron"},
    )
    with open_wsi(path) as wsi:
        assert (wsi.mpp, wsi.mpp_source) == (pytest.approx(0.35, rel=1e-6), "tiff-resolution")


@pytest.mark.parametrize(
    ("description", "mpp"),
    [
        (
            "Aperio Image Library v10.0.51\r\n46920x33014 (256x256) JPEG/RGB Q=30|AppMag = 20|MPP = 0.4990|Left = 25.6",
            0.499,
        ),
        ("Aperio Image Library v11.0.37\r\n4443x3567 (256x256) J2K/KDU Q=70|AppMag = 40", None),
        ("Aperio Image Library|MPP = n/a|AppMag = 40", None),
    ],
)
def test_aperio_description_mpp(description: str, mpp: float | None) -> None:
    assert aperio_mpp(description) == mpp


def test_unusable_ome_size_is_a_warning_not_a_guess() -> None:
    xml = '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image><Pixels PhysicalSizeX="3" PhysicalSizeXUnit="pixel"/></Image></OME>'
    assert ome_mpp(xml) == (None, "OME PhysicalSizeXUnit='pixel' cannot be converted to µm")
    assert ome_mpp("<OME><Image/></OME>") == (None, "")


@pytest.mark.parametrize(
    ("resolution", "unit", "mpp"),
    [(25400 / 0.5, "INCH", 0.5), (10000 / 0.25, "CENTIMETER", 0.25)],
)
def test_tiff_resolution_tags(tmp_path: Path, resolution: float, unit: str, mpp: float) -> None:
    path = tmp_path / "res.tif"
    tifffile.imwrite(
        path,
        rgb_image(90, 70),
        photometric="rgb",
        resolution=(resolution, resolution),
        resolutionunit=unit,
    )
    with open_wsi(path) as wsi:
        assert (wsi.mpp, wsi.mpp_source) == (pytest.approx(mpp, rel=1e-6), "tiff-resolution")
        assert wsi.level_shapes == [(90, 70)]


def test_multipage_pyramid_of_shrinking_pages_and_striped_region(tmp_path: Path) -> None:
    base = rgb_image(240, 320)
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as writer:
        for step in (1, 2, 4):
            writer.write(
                base[::step, ::step],
                photometric="rgb",
                rowsperstrip=16,
                resolution=(10000 / (0.4 * step),) * 2,
                resolutionunit="CENTIMETER",
            )
    with open_wsi(path) as wsi:
        assert wsi.level_shapes == [(240, 320), (120, 160), (60, 80)]
        assert wsi.mpp == pytest.approx(0.4)
        assert wsi.best_level(1.6) == 2
        np.testing.assert_array_equal(wsi.read_level(0, (5, 30, 100, 37)), base[30:67, 5:105])


def test_no_mpp_anywhere_needs_the_manifest(tmp_path: Path) -> None:
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, rgb_image(40, 50), photometric="rgb")  # ResolutionUnit NONE
    with pytest.raises(InputError, match="no MPP in the file: give wsi_mpp in the manifest"):
        open_wsi(path)
    with open_wsi(path, mpp=0.5) as wsi:
        assert (wsi.mpp, wsi.mpp_source, wsi.warnings) == (0.5, "manifest", [])


def test_manifest_mpp_wins_and_disagreement_warns(ome_pyramid: tuple[Path, np.ndarray]) -> None:
    with open_wsi(ome_pyramid[0], mpp=0.252) as wsi:  # 0.8 % off: silent
        assert (wsi.mpp, wsi.mpp_source, wsi.warnings) == (0.252, "manifest", [])
    with open_wsi(ome_pyramid[0], mpp=0.5) as wsi:
        assert wsi.mpp == 0.5
        assert wsi.level_mpp(2) == pytest.approx(2.0)
        assert len(wsi.warnings) == 1 and "differs from the file's 0.25" in wsi.warnings[0]


def test_implausible_mpp_is_an_error_naming_its_source(tmp_path: Path) -> None:
    path = tmp_path / "dpi72.tif"
    tifffile.imwrite(
        path, rgb_image(40, 50), photometric="rgb", resolution=(72, 72), resolutionunit="INCH"
    )
    with pytest.raises(InputError, match=r"352\.778 µm/px from the file \(tiff-resolution"):
        open_wsi(path)
    with open_wsi(path, mpp=0.5) as wsi:
        assert wsi.mpp == 0.5 and "implausible and ignored" in wsi.warnings[0]
    with pytest.raises(InputError, match=r"from the manifest \(wsi_mpp=250\)"):
        open_wsi(path, mpp=250)


def test_gray_rgba_and_16_bit_pages_become_rgb_uint8(tmp_path: Path) -> None:
    gray16 = (np.arange(12 * 10, dtype=np.uint16).reshape(12, 10) * 500).astype(np.uint16)
    tifffile.imwrite(tmp_path / "gray16.tif", gray16, photometric="minisblack")
    rgba = np.dstack([rgb_image(12, 10), np.full((12, 10), 200, np.uint8)])
    tifffile.imwrite(tmp_path / "rgba.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    with open_wsi(tmp_path / "gray16.tif", mpp=1.0) as wsi:
        array = wsi.read_level(0)
    expected = np.rint(gray16 / 257.0).astype(np.uint8)
    assert array.dtype == np.uint8 and array.shape == (12, 10, 3)
    for channel in range(3):
        np.testing.assert_array_equal(array[..., channel], expected)
    with open_wsi(tmp_path / "rgba.tif", mpp=1.0) as wsi:
        np.testing.assert_array_equal(wsi.read_level(0), rgba[..., :3])


def test_png_slide_takes_mpp_from_the_manifest(tmp_path: Path) -> None:
    base = rgb_image(30, 40)
    Image.fromarray(base).save(tmp_path / "slide.png")
    with pytest.raises(InputError, match="give wsi_mpp in the manifest"):
        open_wsi(tmp_path / "slide.png")
    with open_wsi(tmp_path / "slide.png", mpp=2.0) as wsi:
        assert (wsi.level_shapes, wsi.mpp_source, wsi.best_level(10.0)) == (
            [(30, 40)],
            "manifest",
            0,
        )
        np.testing.assert_array_equal(wsi.read_level(0, (4, 5, 10, 6)), base[5:11, 4:14])
    Image.fromarray(base[..., 0]).save(tmp_path / "gray.jpg")
    with open_wsi(tmp_path / "gray.jpg", mpp=2.0) as wsi:
        assert wsi.read_level(0).shape == (30, 40, 3)


def test_missing_empty_and_non_tiff_files_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        open_wsi(tmp_path / "absent.svs")
    (tmp_path / "empty.svs").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        open_wsi(tmp_path / "empty.svs")
    (tmp_path / "text.svs").write_bytes(b"<html>404 not found</html>" * 10)
    with pytest.raises(InputError, match="cannot read as a TIFF/SVS slide"):
        open_wsi(tmp_path / "text.svs")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(InputError, match="cannot read as a PNG/JPEG slide"):
        open_wsi(tmp_path / "bad.png", mpp=1.0)


def test_truncated_tiff_is_an_input_error(tmp_path: Path, ome_pyramid) -> None:
    data = ome_pyramid[0].read_bytes()
    # Cut into the tile data of level 0, keeping the header and the first IFD.
    cut = tmp_path / "cut.ome.tif"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="cut.ome.tif: the file is truncated"):
        open_wsi(cut, mpp=0.25)
    # Tile data overwritten with junk: the decoder fails on read.
    junk = tmp_path / "junk.tif"
    tifffile.imwrite(
        junk, rgb_image(128, 128), photometric="rgb", tile=(64, 64), compression="zlib"
    )
    with tifffile.TiffFile(junk) as tif:
        start = tif.pages.first.dataoffsets[0]
    raw = bytearray(junk.read_bytes())
    raw[start : start + 200] = b"\xff" * 200
    junk.write_bytes(bytes(raw))
    with open_wsi(junk, mpp=1.0) as wsi, pytest.raises(InputError, match="cannot decode level 0"):
        wsi.read_level(0)


def test_missing_jpeg2000_codec_says_pip_install_imagecodecs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j2k.tif"
    tifffile.imwrite(
        path, rgb_image(64, 64), photometric="rgb", tile=(64, 64), compression="jpeg2000"
    )
    with tifffile.TiffFile(path) as tif:
        compression = tif.pages.first.compression
    # Simulate an environment without imagecodecs.
    monkeypatch.setattr(tifffile.tifffile, "imagecodecs", None)
    monkeypatch.delitem(tifffile.TIFF.DECOMPRESSORS._codecs, compression, raising=False)
    with pytest.raises(InputError, match="pip install imagecodecs") as err:
        open_wsi(path, mpp=0.5)
    assert "j2k.tif" in str(err.value)


@pytest.mark.shared_data
def test_cmu_svs_aperio_mpp_and_shape(shared_data: Path) -> None:
    with open_wsi(shared_data / "wsi" / "cmu_small_region.svs") as wsi:
        assert (wsi.mpp, wsi.mpp_source) == (pytest.approx(0.499), "aperio")
        # SOURCES.md's "2220×2967" is width×height: 2967 rows, 2220 columns.
        assert wsi.level_shapes == [(2967, 2220)]
        region = wsi.read_level(0, (1000, 1500, 240, 120))
    assert region.shape == (120, 240, 3) and region.dtype == np.uint8
    assert 0 < region.mean() < 255


@pytest.mark.shared_data
def test_tcga_svs_levels_no_mpp_and_level_choice(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tcga = shared_data / "wsi" / "tcga-cr-7395-01a-01-ts1.svs"
    with pytest.raises(InputError, match="no MPP in the file: give wsi_mpp in the manifest"):
        open_wsi(tcga)
    read_offsets: list[int] = []
    original = tifffile.FileHandle.read_segments

    def spy(self, offsets, bytecounts, *args, **kwargs):
        read_offsets.extend(offsets)
        return original(self, offsets, bytecounts, *args, **kwargs)

    monkeypatch.setattr(tifffile.FileHandle, "read_segments", spy)
    with open_wsi(tcga, mpp=0.25) as wsi, tifffile.TiffFile(tcga) as tif:
        level0_offsets = set(tif.series[0].levels[0].keyframe.dataoffsets)
        assert wsi.level_shapes == [(3567, 4443), (1783, 2221)]
        assert wsi.level_downsamples[1] == pytest.approx(2.0, abs=1e-3)
        assert wsi.best_level(0.3) == 0
        assert wsi.best_level(1.0) == 1
        array, mpp = wsi.read_at_mpp(1.0)
        assert array.shape == (1783, 2221, 3) and mpp == pytest.approx(0.5, rel=1e-3)
        assert read_offsets and not level0_offsets & set(read_offsets)  # level 0 never decoded
        region = wsi.read_level(0, (2000, 1000, 300, 200))
    assert region.shape == (200, 300, 3)
    assert level0_offsets & set(read_offsets)


def test_tile_shape_and_banded_reduced_read_equal_the_whole_read(tmp_path: Path) -> None:
    """A single-level tiled file read band by band (a few tiles at a time) gives exactly the
    block means of the whole level; striped and PNG levels report their decoding blocks."""
    from bus_seg.io.wsi import block_mean

    base = rgb_image(700, 900)
    tiled, striped = tmp_path / "tiled.tif", tmp_path / "striped.tif"
    tifffile.imwrite(
        tiled,
        base,
        tile=(64, 64),
        photometric="rgb",
        resolution=(1e4, 1e4),
        resolutionunit="CENTIMETER",
    )
    tifffile.imwrite(
        striped,
        base,
        rowsperstrip=50,
        photometric="rgb",
        resolution=(1e4, 1e4),
        resolutionunit="CENTIMETER",
    )
    with open_wsi(tiled) as wsi:
        assert wsi.tile_shape(0) == (64, 64)
        for block, roi in [(4, None), (3, (10, 20, 500, 650)), (1, (0, 0, 900, 700))]:
            banded, window = wsi.read_reduced(0, block, roi, band_pixels=900 * 64)
            whole = block_mean(wsi.read_level(0, roi), block)
            assert window == wsi.roi_to_level(0, roi)
            np.testing.assert_array_equal(banded, whole)
    with open_wsi(striped) as wsi:
        assert wsi.tile_shape(0) == (50, 900)
        np.testing.assert_array_equal(
            wsi.read_reduced(0, 5, band_pixels=10_000)[0], block_mean(base, 5)
        )
    png = tmp_path / "slide.png"
    Image.fromarray(base).save(png)
    with open_wsi(png, mpp=1.0) as wsi:
        assert wsi.tile_shape(0) == (700, 900)
