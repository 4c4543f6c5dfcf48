"""Slide-reader backends: the choice, the messages, and identical results on the shared SVS."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from bus_seg.errors import ConfigError, InputError
from bus_seg.io.manifest import read_manifest, write_manifest
from bus_seg.io.slide_backends import resolve_backend
from bus_seg.io.wsi import open_wsi
from bus_seg.registration.case import register_case
from bus_seg.registration.settings import RegistrationSettings

SLIDES = [("cmu_small_region.svs", None), ("tcga-cr-7395-01a-01-ts1.svs", 0.5)]  # tcga: no MPP


def installed(backend: str) -> None:
    pytest.importorskip(
        backend, reason=f"{backend} is not installed (pip install 'bus_seg[{backend}]')"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.ndpi", "openslide"),
        ("a.MRXS", "openslide"),
        ("a.scn", "openslide"),
        ("a.bif", "openslide"),
        ("a.svs", "tifffile"),
        ("a.ome.tif", "tifffile"),
        ("a.png", "tifffile"),
    ],
)
def test_auto_picks_by_file_type(tmp_path: Path, name: str, expected: str) -> None:
    assert resolve_backend("auto", tmp_path / name) == expected
    assert resolve_backend("tiffslide", tmp_path / name) == "tiffslide"


def test_auto_sends_philips_tiff_to_openslide(tmp_path: Path) -> None:
    philips, generic = tmp_path / "philips.tiff", tmp_path / "generic.tiff"
    tifffile.imwrite(philips, np.zeros((8, 8), np.uint8), software="Philips DP v1.0")
    tifffile.imwrite(generic, np.zeros((8, 8), np.uint8), software="tifffile")
    assert resolve_backend("auto", philips) == "openslide"
    assert resolve_backend("auto", generic) == "tifffile"


def test_unknown_backend_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="slide_backend='vips' is unknown.*tifffile"):
        open_wsi(write_slide(tmp_path), 1.0, backend="vips")
    with pytest.raises(ConfigError, match="slide_backend"):
        RegistrationSettings(slide_backend="vips")


def test_missing_backend_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("openslide", "tiffslide"):
        monkeypatch.setitem(sys.modules, module, None)  # "import openslide" raises ImportError
    path = tmp_path / "slide.ndpi"
    path.write_bytes(b"not really an NDPI")
    with pytest.raises(InputError, match=r"pip install 'bus_seg\[openslide\]'") as info:
        open_wsi(path, 1.0, backend="auto")
    assert str(path) in str(info.value)
    with pytest.raises(InputError, match=r"pip install 'bus_seg\[tiffslide\]'"):
        open_wsi(write_slide(tmp_path), 1.0, backend="tiffslide")


def test_a_file_openslide_cannot_open_names_the_file(tmp_path: Path) -> None:
    installed("openslide")
    path = tmp_path / "broken.ndpi"
    path.write_bytes(b"II*\x00" + b"\x00" * 64)
    with pytest.raises(InputError, match="openslide cannot open the slide") as info:
        open_wsi(path, 1.0, backend="auto")
    assert str(path) in str(info.value)


def write_slide(tmp_path: Path) -> Path:
    path = tmp_path / "slide.tif"
    tifffile.imwrite(path, np.full((16, 16, 3), 200, np.uint8), photometric="rgb")
    return path


@pytest.mark.shared_data
@pytest.mark.parametrize("backend", ["openslide", "tiffslide"])
@pytest.mark.parametrize(("name", "mpp"), SLIDES)
def test_levels_and_regions_are_identical_to_tifffile(
    shared_data: Path, backend: str, name: str, mpp: float | None
) -> None:
    installed(backend)
    path = shared_data / "wsi" / name
    with open_wsi(path, mpp) as reference, open_wsi(path, mpp, backend=backend) as other:
        assert other.level_shapes == reference.level_shapes
        assert other.mpp == pytest.approx(reference.mpp)
        for level in range(reference.level_count):
            height, width = reference.level_shapes[level]
            ds = reference.level_downsamples[level]
            for roi in (None, (37 * ds, 101 * ds, 500 * ds, 333 * ds), (3.3, 1000.7, 999.5, 41.2)):
                np.testing.assert_array_equal(
                    other.read_level(level, roi),
                    reference.read_level(level, roi),
                    err_msg=f"{level} {roi}",
                )


def write_case(folder: Path, slide: Path, mpp: float | None, level0: tuple[int, int]) -> Path:
    """A manifest row pairing a synthetic ultrasound image with a real slide and a cancer box."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((120, 200), 90, np.uint8)).save(folder / "us.png")
    height, width = level0
    box = [[0.35 * width, 0], [0.6 * width, 0], [0.6 * width, height], [0.35 * width, height]]
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[*box, box[0]]]},
        "properties": {"objectType": "annotation", "classification": {"name": "Tumor"}},
    }
    (folder / "a.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]})
    )
    row = {
        "case_id": "c",
        "patient_id": "p",
        "us_path": "us.png",
        "us_spacing_mm": 0.1,
        "tract_x0": 10,
        "tract_y0": 60,
        "tract_x1": 190,
        "tract_y1": 60,
        "wsi_path": str(slide),
        "wsi_mpp": mpp,
        "annotation_path": "a.geojson",
    }
    return write_manifest(folder / "manifest.csv", [row])


@pytest.mark.shared_data
@pytest.mark.parametrize(("name", "mpp"), SLIDES)
def test_shared_svs_register_to_identical_label_maps(
    shared_data: Path, tmp_path: Path, name: str, mpp: float | None
) -> None:
    installed("openslide")
    slide = shared_data / "wsi" / name
    with open_wsi(slide, mpp) as wsi:
        level0 = wsi.level_shapes[0]
    manifest = write_case(tmp_path, slide, mpp, level0)
    record = read_manifest(manifest, allow_outside_paths=True).records[0]
    labels = {}
    for backend in ("tifffile", "openslide", "auto"):
        settings = RegistrationSettings(qc=False, allow_outside_paths=True, slide_backend=backend)
        labels[backend] = register_case(record, settings).labels
    assert {0, 1} <= set(np.unique(labels["tifffile"]).tolist())
    np.testing.assert_array_equal(labels["openslide"], labels["tifffile"])
    np.testing.assert_array_equal(labels["auto"], labels["tifffile"])


@pytest.mark.parametrize(
    ("name", "what"), [("a.isyntax", "Philips iSyntax"), ("b.kfb", "KFBIO KFB")]
)
def test_formats_no_backend_reads_ask_for_a_conversion(
    tmp_path: Path, name: str, what: str
) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x00" * 32)
    with pytest.raises(InputError, match=f"{what} slides are read by none.*convert") as info:
        open_wsi(path, 1.0, backend="auto")
    assert str(path) in str(info.value)


def write_pyramid(path: Path, shape0: tuple[int, int]) -> Path:
    """A tiled pyramidal RGB TIFF (3 levels, each half the last) at 0.5 µm/px."""
    level = np.random.default_rng(0).integers(0, 256, (*shape0, 3), dtype=np.uint8)
    with tifffile.TiffWriter(path) as writer:
        for index in range(3):
            writer.write(
                level,
                tile=(64, 64),
                photometric="rgb",
                compression="zlib",
                subfiletype=0 if index == 0 else 1,
                resolution=(2e4, 2e4),
                resolutionunit="CENTIMETER",
            )
            level = level[::2, ::2]
    return path


@pytest.mark.parametrize("backend", ["openslide", "tiffslide"])
@pytest.mark.parametrize("shape0", [(512, 768), (517, 771)])  # downsamples 2, 4 and 1.997, 3.986
def test_generic_tiled_pyramid_reads_identically(
    tmp_path: Path, backend: str, shape0: tuple[int, int]
) -> None:
    installed(backend)
    path = write_pyramid(tmp_path / "pyramid.tif", shape0)
    with open_wsi(path) as reference, open_wsi(path, backend=backend) as other:
        assert other.level_shapes == reference.level_shapes and other.level_count == 3
        assert other.mpp == pytest.approx(0.5) and other.mpp_source == backend
        for level in range(3):
            ds = reference.level_downsamples[level]
            for roi in (None, (37 * ds, 11 * ds, 100 * ds, 70 * ds), (3.3, 100.7, 99.5, 41.2)):
                np.testing.assert_array_equal(
                    other.read_level(level, roi), reference.read_level(level, roi)
                )
