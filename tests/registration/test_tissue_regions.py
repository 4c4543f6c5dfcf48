"""Coarse-to-fine slide reading: tissue found on a coarse level, only its boxes read finely.

The boxes' grid pixels are those a whole-level read gives, so the tissue and the label maps
must be those of ``tissue_regions=false`` (the plain whole-level read), up to edge pixels where
the glass colour and threshold estimated from the boxes differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from bus_seg.io.manifest import read_manifest
from bus_seg.io.wsi import open_wsi
from bus_seg.io.wsi_writer import write_scanned_slide
from bus_seg.registration.case import register_case
from bus_seg.registration.settings import RegistrationSettings
from bus_seg.registration.tissue import read_tissue_map
from bus_seg.simulate import SimulationSettings, simulate_cohort

SOURCE_MPP = 8.0


def core_slide(height: int = 600, width: int = 1600) -> np.ndarray:
    """A glass slide at 8 µm/px with three core fragments along a tilted line and a speck."""
    rng = np.random.default_rng(3)
    rgb = np.clip(rng.normal(236, 2, (height, width, 3)), 0, 255).astype(np.uint8)
    rows, cols = np.mgrid[0:height, 0:width]
    centre = 200 + 0.08 * (cols - 200)
    tissue = (np.abs(rows - centre) < 60) & (
        ((cols > 150) & (cols < 420))
        | ((cols > 450) & (cols < 700))
        | ((cols > 730) & (cols < 900))
    )
    colour = np.stack([190 - 40 * (cols % 37 < 5), 110 + 0 * cols, 170 + 0 * rows], -1)
    rgb[tissue] = colour[tissue].astype(np.uint8)
    rgb[540:546, 1500:1506] = (120, 60, 120)  # debris far from the core
    return rgb


def tissue_centres(tissue) -> set[tuple[float, float]]:
    rows, cols = np.nonzero(tissue.mask)
    return {tuple(p) for p in np.round(tissue.to_level0(rows, cols), 3)}


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("regions")
    source = core_slide()
    single = folder / "single.tif"
    level0 = np.repeat(np.repeat(source, 4, axis=0), 4, axis=1)  # 2 µm/px, one level
    tifffile.imwrite(
        single,
        level0,
        tile=(256, 256),
        photometric="rgb",
        compression="zlib",
        resolution=(1e4 / 2.0, 1e4 / 2.0),
        resolutionunit="CENTIMETER",
    )
    return {
        "svs": write_scanned_slide(folder / "s.svs", source, SOURCE_MPP, 1.0, "svs", downsample=4),
        "ome_tiff": write_scanned_slide(
            folder / "s.ome.tif", source, SOURCE_MPP, 2.0, "ome_tiff", downsample=2
        ),
        "single_level": single,
    }


@pytest.mark.parametrize("kind", ["svs", "ome_tiff", "single_level"])
def test_regions_find_the_same_tissue_as_the_whole_level(
    slides: dict[str, Path], kind: str
) -> None:
    with open_wsi(slides[kind]) as wsi:
        whole = read_tissue_map(wsi, None, RegistrationSettings(tissue_regions=False))
        regions = read_tissue_map(wsi, None, RegistrationSettings())
        level_size = wsi.level_shapes[whole.level]
        speck_x = 1490 * SOURCE_MPP / wsi.mpp
    assert regions.level == whole.level and regions.downsample == whole.downsample
    assert regions.mask.size < 0.75 * whole.mask.size, "only the core's boxes were read"
    assert regions.mask.size < level_size[0] * level_size[1]
    assert tissue_centres(regions) <= tissue_centres(whole)
    missing = tissue_centres(whole) - tissue_centres(regions)
    # only the far debris speck (below the registration's area limit) is left unread
    assert missing and all(x > speck_x for x, _ in missing)


def test_roi_limits_the_boxes(slides: dict[str, Path]) -> None:
    roi = (0, 0, 8 * 700, 8 * 600)  # level-0 px of the SVS at 1 µm: the first two pieces
    with open_wsi(slides["svs"]) as wsi:
        regions = read_tissue_map(wsi, roi, RegistrationSettings())
        whole = read_tissue_map(wsi, roi, RegistrationSettings(tissue_regions=False))
    # the glass colour and threshold come from the boxes: at most a thin edge may differ
    differ = tissue_centres(regions) ^ tissue_centres(whole)
    assert len(differ) < 0.02 * len(tissue_centres(whole))
    assert regions.to_level0(*np.nonzero(regions.mask))[:, 0].max() < roi[2]


def test_scanner_resolution_case_registers_as_with_the_whole_level(tmp_path: Path) -> None:
    """A simulated 20×-style SVS case (0.5 µm/px, 1.5 mm of glass around a 6 mm core): labels
    from the coarse-to-fine read are byte-identical to those of the whole-level read."""
    settings = SimulationSettings.from_config(
        {
            "num_cases": 1,
            "seed": 2,
            "tract": {"segment_length_mm": [6.0, 6.0]},
            "wsi": {
                "mpp": 4.0,
                "scan_mpp": 0.5,
                "formats": {"svs": 1.0},
                "margin_mm": 1.5,
                "level_downsamples": [4],
            },
        }
    )
    manifest = simulate_cohort(tmp_path / "cohort", settings, progress=False)
    (record,) = read_manifest(manifest).records
    regions = register_case(record, RegistrationSettings(qc=False))
    whole = register_case(record, RegistrationSettings(qc=False, tissue_regions=False))
    assert regions.tissue.mask.size < whole.tissue.mask.size
    np.testing.assert_array_equal(regions.labels, whole.labels)
    assert regions.fields["dice_vs_reference"] >= 0.99


def test_single_level_file_is_never_decoded_whole(
    slides: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The coarse grid of a single-level file is read band by band and the boxes tile by tile:
    tifffile never decodes the whole image (the reference path does)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the whole image was decoded")

    monkeypatch.setattr("bus_seg.io.wsi.BAND_PIXELS", 2**20)  # the test's file is not large
    with open_wsi(slides["single_level"]) as wsi:
        monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", refuse)
        tissue = read_tissue_map(wsi, None, RegistrationSettings())
        assert tissue.mask.any()
        with pytest.raises(AssertionError, match="decoded"):
            read_tissue_map(wsi, None, RegistrationSettings(tissue_regions=False))
