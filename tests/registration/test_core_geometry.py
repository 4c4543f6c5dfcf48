"""Tissue detection, fragments, profile rule and transforms on small arrays with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bus_seg.errors import RegistrationError
from bus_seg.registration.fragments import find_fragments
from bus_seg.registration.mapping import TractMapping, resample_along_core
from bus_seg.registration.placement import FitTract, Physical
from bus_seg.registration.projection import core_profile
from bus_seg.registration.settings import RegistrationSettings
from bus_seg.registration.tissue import (
    TissueMap,
    block_mean,
    clean_mask,
    detect_tissue,
    fill_mask_holes,
    foreground_score,
    glass_colour,
    roi_mask,
)
from bus_seg.registration.tract import Tract


def tissue_map(mask: np.ndarray, pixel_um: float = 10.0) -> TissueMap:
    rgb = np.where(mask[..., None], 120, 245).astype(np.uint8).repeat(3, axis=2)
    return TissueMap(mask, rgb, (0.0, 0.0), (1.0, 1.0), pixel_um, 0, 0.1)


def boxes(shape: tuple[int, int], *spans: tuple[int, int, int, int]) -> np.ndarray:
    """Mask with the boxes ``(row0, row1, col0, col1)`` set."""
    mask = np.zeros(shape, dtype=bool)
    for r0, r1, c0, c1 in spans:
        mask[r0:r1, c0:c1] = True
    return mask


ROW_OF_THREE = boxes((40, 200), (10, 30, 5, 55), (12, 28, 70, 110), (10, 30, 130, 190))


@pytest.mark.parametrize(
    ("proximal_end", "transpose", "first_length"),
    [("left", False, 500), ("right", False, 600), ("top", True, 500), ("bottom", True, 600)],
)
def test_fragments_are_ordered_from_the_proximal_end(
    proximal_end: str, transpose: bool, first_length: float
) -> None:
    mask = ROW_OF_THREE.T if transpose else ROW_OF_THREE
    core = find_fragments(tissue_map(mask), 0.01, proximal_end)
    assert [round(f.length_um) for f in core.fragments][0] == first_length
    assert sorted(round(f.length_um) for f in core.fragments) == [400, 500, 600]
    assert core.total_length_um == pytest.approx(1500.0)
    np.testing.assert_allclose(
        core.offsets_um, np.cumsum([0] + [f.length_um for f in core.fragments])[:-1]
    )
    distal = {"left": (1, 0), "right": (-1, 0), "top": (0, 1), "bottom": (0, -1)}[proximal_end]
    assert core.axis @ np.array(distal) == pytest.approx(1.0)
    for fragment in core.fragments:
        assert fragment.direction @ core.axis > 0.99
    assert core.warnings == []


def test_pieces_below_the_minimum_area_are_debris() -> None:
    mask = ROW_OF_THREE.copy()
    mask[2:4, 60:62] = True  # 4 px = 0.0004 mm² at 10 µm/px
    core = find_fragments(tissue_map(mask), 0.01, "left")
    assert len(core.fragments) == 3 and core.debris == 1
    with pytest.raises(RegistrationError, match="no tissue piece is at least"):
        find_fragments(tissue_map(mask), 1.0, "left")


def test_a_short_piece_wider_than_long_is_measured_along_the_core() -> None:
    mask = boxes((60, 200), (20, 40, 5, 75), (10, 50, 85, 105), (20, 40, 115, 185))
    core = find_fragments(tissue_map(mask), 0.01, "left")
    middle = core.fragments[1]
    assert middle.length_um == pytest.approx(200.0)
    assert middle.width_um == pytest.approx(400.0)
    assert abs(middle.direction[0]) == pytest.approx(1.0)


def test_tilted_piece_length_is_along_its_own_axis() -> None:
    rows, cols = np.mgrid[0:200, 0:400]
    angle = np.deg2rad(12.0)
    along = (cols + 0.5 - 200) * np.cos(angle) + (rows + 0.5 - 100) * np.sin(angle)
    across = -(cols + 0.5 - 200) * np.sin(angle) + (rows + 0.5 - 100) * np.cos(angle)
    mask = (np.abs(along) < 150) & (np.abs(across) < 25)
    core = find_fragments(tissue_map(mask, 4.0), 0.001, "left")
    (fragment,) = core.fragments
    assert fragment.length_um == pytest.approx(1200.0, abs=4.0)  # within one grid pixel
    assert np.degrees(np.arctan2(fragment.direction[1], fragment.direction[0])) == pytest.approx(
        12.0, abs=0.5
    )


def test_overlapping_fragments_are_a_warning() -> None:
    mask = boxes((60, 200), (5, 25, 10, 120), (35, 55, 90, 190))
    core = find_fragments(tissue_map(mask), 0.01, "left")
    assert len(core.fragments) == 2
    assert any("overlap" in w for w in core.warnings)


def test_a_core_across_the_proximal_direction_is_a_warning() -> None:
    core = find_fragments(tissue_map(ROW_OF_THREE), 0.01, "top")
    assert any("ambiguous" in w for w in core.warnings)


def test_profile_takes_cancer_where_at_least_half_the_width_is_cancer() -> None:
    mask = boxes((40, 100), (10, 30, 0, 100))  # 20 px across, 100 px along
    cancer = np.zeros_like(mask)
    cancer[10:20, 20:40] = True  # exactly half the width: cancer
    cancer[10:19, 60:80] = True  # 9 of 20: not cancer
    cancer[0:40, 85:95] = True  # drawn beyond the tissue: whole width
    core = find_fragments(tissue_map(mask), 0.01, "left")
    profile = core_profile(core, tissue_map(mask), cancer, 0.5)
    positions = (np.arange(len(profile.labels)) + 0.5) * profile.step_um
    expected = ((positions > 200) & (positions < 400)) | ((positions > 850) & (positions < 950))
    np.testing.assert_array_equal(profile.labels.astype(bool), expected)
    assert profile.step_um * len(profile.labels) == pytest.approx(core.total_length_um)


def test_positions_without_tissue_take_the_nearest_label() -> None:
    mask = boxes((40, 100), (10, 30, 0, 100))
    mask[10:30, 48:53] = False  # a crack across the core (closed pieces stay one fragment)
    mask[10:12, 48:53] = True
    cancer = boxes((40, 100), (0, 40, 0, 50))
    core = find_fragments(tissue_map(mask), 0.01, "left")
    profile = core_profile(core, tissue_map(mask), cancer, 0.5)
    assert profile.labels[:48].all() and not profile.labels[53:].any()


def test_fit_tract_maps_the_core_ends_to_the_segment_ends() -> None:
    core = find_fragments(tissue_map(ROW_OF_THREE), 0.01, "left")
    tract = Tract(10.0, 20.0, 70.0, 100.0, spacing_mm=0.1, diameter_mm=1.0)  # 10 mm
    mapping, warnings = FitTract().place(tract, core.total_length_um)
    assert warnings == [] and mapping.scale_wsi_to_us == pytest.approx(10.0 / 1.5)
    first, last = core.fragments[0], core.fragments[-1]
    proximal, distal = np.array([10.0, 20.0]) * 0.1, np.array([70.0, 100.0]) * 0.1
    t_first = mapping.fragment_transform(first, core.offsets_um[0])
    t_last = mapping.fragment_transform(last, core.offsets_um[-1])
    np.testing.assert_allclose(t_first.TransformPoint(tuple(proximal)), first.start_um, atol=1e-6)
    np.testing.assert_allclose(
        t_last.TransformPoint(tuple(distal)),
        last.start_um + last.length_um * last.direction,
        atol=1e-6,
    )
    # the tract's normal turns onto the fragment's normal, at the same scale
    side = proximal + tract.normal * 0.1
    moved = np.array(t_first.TransformPoint(tuple(side))) - first.start_um
    np.testing.assert_allclose(moved, first.normal * 0.1 * mapping.um_per_mm, atol=1e-6)


def test_resampling_along_the_core_puts_each_bin_at_its_fraction() -> None:
    tract = Tract(0.0, 5.0, 100.0, 5.0, spacing_mm=0.1, diameter_mm=0.4)
    mapping = TractMapping(tract, 100.0, 0.0, fills_segment=True)  # 1000 µm over 10 mm
    values = np.repeat([0, 1, 0, 1], 25).astype(np.uint8)  # 100 bins of 10 µm
    row = resample_along_core(values, 10.0, mapping, (11, 101))[5]
    expected = np.repeat([0, 1, 0, 1], 25).tolist() + [1]  # column 100 = the distal end
    assert row.tolist() == expected


def test_physical_placement_leaves_the_rest_of_the_segment_unsampled() -> None:
    tract = Tract(0.0, 5.0, 100.0, 5.0, spacing_mm=0.1, diameter_mm=0.4)  # 10 mm
    values = np.ones(80, dtype=np.uint8)  # 8 mm of tissue, 100 µm bins
    proximal, _ = Physical(0.2, "proximal").place(tract, 8000.0)  # 10 mm in vivo: fills
    assert (resample_along_core(values, 100.0, proximal, (11, 101))[5] == 1).all()
    distal, warnings = Physical(0.0, "distal").place(tract, 8000.0)
    row = resample_along_core(values, 100.0, distal, (11, 101))[5]
    assert warnings == []
    assert (row[:20] == 255).all() and (row[20:] == 1).all()
    _, long_warnings = Physical(0.0, "proximal").place(tract, 12000.0)
    assert "exceeds the tract segment" in long_warnings[0]


def test_tissue_detection_keeps_pale_stroma_with_dark_tumour() -> None:
    rng = np.random.default_rng(0)
    rgb = np.full((120, 300, 3), (244, 242, 247), dtype=np.float32)
    rgb[30:90, 20:280] = (236, 205, 228)  # very pale stroma
    rgb[30:90, 100:220] = (110, 60, 150)  # dark tumour, a large share of the tissue
    rgb[0:10, 290:300] = 0  # black scanner margin
    rgb += rng.normal(0, 4, rgb.shape)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    mask, threshold = detect_tissue(rgb, RegistrationSettings())
    expected = boxes((120, 300), (30, 90, 20, 280))
    assert (mask == expected).mean() > 0.995
    assert not mask[0:10, 290:300].any()
    assert threshold >= RegistrationSettings().tissue_min_threshold


def test_saturation_method_and_fixed_threshold() -> None:
    rgb = np.full((50, 50, 3), 240, dtype=np.uint8)
    rgb[10:40, 10:40] = (200, 120, 180)
    mask, threshold = detect_tissue(
        rgb, RegistrationSettings(tissue_method="saturation", tissue_threshold=0.2)
    )
    assert threshold == 0.2
    np.testing.assert_array_equal(mask, boxes((50, 50), (10, 40, 10, 40)))


def test_clean_mask_fills_holes_and_drops_specks() -> None:
    mask = boxes((60, 60), (10, 50, 10, 50))
    mask[25:30, 25:30] = False  # a hole
    mask[2, 2] = True  # a speck
    cleaned = clean_mask(mask, 1.0, fill_holes=True)
    np.testing.assert_array_equal(cleaned, boxes((60, 60), (10, 50, 10, 50)))
    assert not clean_mask(mask, 0.0, fill_holes=False)[27, 27]


@pytest.mark.parametrize("seed", range(6))
def test_clean_mask_equals_the_minimum_maximum_filter_definition(seed: int) -> None:
    """The OpenCV morphology gives the pixels of scipy.ndimage's filters with their borders."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        height, width = rng.integers(1, 70, 2)
        noise = ndimage.gaussian_filter(rng.random((height, width)), rng.uniform(0, 3))
        mask = noise > rng.uniform(0.3, 0.7)
        radius, fill = float(rng.uniform(0, 9)), bool(rng.integers(2))
        opened = ndimage.maximum_filter(ndimage.minimum_filter(mask, size=3, mode="constant"), 3)
        size = 2 * int(round(radius)) + 1
        if size > 1:
            dilated = ndimage.maximum_filter(opened, size=size, mode="constant", cval=False)
            opened = ndimage.minimum_filter(dilated, size=size, mode="constant", cval=True)
        expected = fill_mask_holes(opened) if fill else opened
        np.testing.assert_array_equal(clean_mask(mask, radius, fill), expected)


@pytest.mark.parametrize("block", [2, 3, 4, 6])
def test_block_mean_is_the_rounded_block_average(block: int) -> None:
    rng = np.random.default_rng(block)
    for height, width in ((37, 53), (block * 9, block * 31), (1, 1)):
        rgb = rng.integers(0, 4, (height, width, 3), dtype=np.uint8) * 85  # many half-way ties
        padded = np.pad(
            rgb, ((0, -height % block), (0, -width % block), (0, 0)), constant_values=255
        )
        sums = padded.reshape(padded.shape[0] // block, block, -1, block, 3).sum(axis=(1, 3))
        area = block * block
        np.testing.assert_array_equal(block_mean(rgb, block), (sums + area // 2) // area)


def test_optical_density_score_is_the_summed_channel_densities() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (31, 47, 3), dtype=np.uint8)
    glass = glass_colour(rgb)
    density = -np.log10(np.maximum(rgb, 1).astype(np.float32) / glass)
    expected = np.clip(density, 0.0, None).sum(axis=2)
    np.testing.assert_allclose(foreground_score(rgb, "od"), expected, rtol=1e-6, atol=1e-6)


def test_block_mean_and_roi_mask() -> None:
    rgb = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    means = rgb.reshape(2, 2, 3, 2, 3).mean(axis=(1, 3))
    np.testing.assert_array_equal(block_mean(rgb, 2), np.floor(means + 0.5).astype(np.uint8))
    assert block_mean(rgb, 4).shape == (1, 2, 3)  # padded with white
    inside = roi_mask((4, 6), (10.0, 20.0), (2.0, 3.0), (12, 23, 6, 6))
    # centres x = 11, 13, ..., 21; y = 21.5, 24.5, 27.5, 30.5
    np.testing.assert_array_equal(inside, boxes((4, 6), (1, 3, 1, 4)))
