"""Tract choice: inside the image with a margin, straddling lesion and normal tissue, or skipped."""

from __future__ import annotations

import numpy as np
import pytest

from bus_seg.io.cohort_format import strip_mask
from bus_seg.simulate.lesion_field import MaskField
from bus_seg.simulate.needle_echo import draw_needle
from bus_seg.simulate.needle_path import SkipCase, choose_tract, lesion_along
from bus_seg.simulate.settings import GAUGE_DIAMETER_MM, TractSettings

SPACING = 0.15


def _disc(shape=(256, 256), centre=(128, 110), radius=30.0) -> np.ndarray:
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.hypot(cols - centre[0], rows - centre[1]) <= radius


@pytest.mark.parametrize("seed", range(5))
def test_tract_meets_the_settings(seed: int) -> None:
    mask = _disc()
    settings = TractSettings(gauge=(14, 16, 18))
    tract = choose_tract(mask, MaskField(mask), SPACING, settings, np.random.default_rng(seed))
    length_mm = tract.length_px * SPACING
    assert settings.segment_length_mm[0] - 1e-3 <= length_mm <= settings.segment_length_mm[1] + 1e-3
    assert tract.diameter_mm == GAUGE_DIAMETER_MM[tract.gauge]
    assert settings.angle_deg[0] <= tract.angle_deg <= settings.angle_deg[1]
    # proximal end nearer to the side of entry, needle going down
    assert (tract.p0[0] < tract.p1[0]) == (tract.side == "left") and tract.p1[1] > tract.p0[1]
    # the strip lies inside the image with the margin
    margin = settings.margin_mm / SPACING
    strip = strip_mask(mask.shape, tract.p0, tract.p1, tract.diameter_mm / SPACING)
    rows, cols = np.nonzero(strip)
    assert rows.min() >= margin - 1 and cols.min() >= margin - 1
    assert rows.max() <= mask.shape[0] - margin and cols.max() <= mask.shape[1] - margin
    assert settings.cancer_fraction[0] <= tract.lesion_share <= settings.cancer_fraction[1]
    # coordinates are rounded before use, so the manifest holds exactly what was used
    assert all(round(v, 3) == v for v in (*tract.p0, *tract.p1))


def test_lesion_share_along_a_line() -> None:
    mask = _disc(centre=(128, 128), radius=20)
    share = lesion_along(
        MaskField(mask), np.array([128.0, 128.0]), np.array([1.0, 0.0]), np.array([0.0, 30.0]), 8.0
    )
    assert share.tolist() == [1.0, 0.0]


def test_empty_mask_is_skipped() -> None:
    mask = np.zeros((256, 256), dtype=bool)
    with pytest.raises(SkipCase, match="no lesion"):
        choose_tract(mask, MaskField(mask), SPACING, TractSettings(), np.random.default_rng(0))


def test_tiny_lesion_is_skipped() -> None:
    mask = _disc(radius=1.5)
    with pytest.raises(SkipCase, match="too small"):
        choose_tract(
            mask, MaskField(mask), SPACING, TractSettings(attempts=50), np.random.default_rng(0)
        )


def test_lesion_at_the_border_is_skipped() -> None:
    mask = _disc(centre=(2, 128), radius=6)
    with pytest.raises(SkipCase, match="border"):
        choose_tract(
            mask, MaskField(mask), SPACING, TractSettings(attempts=50), np.random.default_rng(0)
        )


def test_needle_brightens_its_tract() -> None:
    mask = _disc()
    tract = choose_tract(mask, MaskField(mask), SPACING, TractSettings(), np.random.default_rng(1))
    image = np.full((256, 256), 60, dtype=np.uint8)
    drawn = draw_needle(image, tract, SPACING, np.random.default_rng(0))
    assert drawn.max() == 255 and (drawn >= image).all()
    far = strip_mask(image.shape, (0.0, 0.0), (255.0, 0.0), 10.0)
    assert drawn[far].max() == 60  # nothing above the needle near the skin
