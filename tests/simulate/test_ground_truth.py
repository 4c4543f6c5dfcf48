"""Reference labels follow the cohort format's geometry (strip rule, fit_tract + profile)."""

from __future__ import annotations

import numpy as np
import pytest

from bus_seg.io.annotations import rasterize
from bus_seg.io.cohort_format import strip_mask
from bus_seg.simulate.annotation_writer import mask_polygons
from bus_seg.simulate.core import build_layout
from bus_seg.simulate.ground_truth import TissueProfile, reference_labels, tissue_profile
from bus_seg.simulate.needle_path import choose_tract
from bus_seg.simulate.phantom import render_phantom, sample_anatomy
from bus_seg.simulate.settings import FaultSettings, PhantomSettings, TractSettings
from bus_seg.simulate.slide import (
    MAIN,
    CoreLabels,
    CoreToUltrasound,
    Piece,
    SlideRasters,
    rasterize_slide,
)


def test_strip_rule_includes_ends_and_half_diameter() -> None:
    mask = strip_mask((30, 30), (5.0, 10.0), (15.0, 10.0), 4.0)
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (8, 12, 5, 15)
    assert mask.sum() == 5 * 11


def _two_fragments() -> SlideRasters:
    """Two 60 px fragments (rows 10-29); cancer: second half of the first, first quarter of the second."""
    section = np.zeros((40, 200), dtype=np.uint8)
    fragment = np.zeros((40, 200), dtype=np.int16)
    cancer = np.zeros((40, 200), dtype=bool)
    section[10:30, 10:70] = section[10:30, 100:160] = MAIN
    fragment[10:30, 10:70], fragment[10:30, 100:160] = 1, 2
    cancer[10:30, 40:70] = cancer[10:30, 100:115] = True
    pieces = (Piece(MAIN, 1, (10, 30, 10, 70)), Piece(MAIN, 2, (10, 30, 100, 160)))
    return SlideRasters(section, fragment, cancer, pieces)


def test_profile_closes_gaps_and_maps_fractions() -> None:
    profile = tissue_profile(_two_fragments(), forward=(1.0, 0.0))
    assert profile.fragment_lengths_px == pytest.approx((60.0, 60.0))
    cancer = profile.cancer_fraction >= 0.5
    assert np.flatnonzero(np.diff(cancer.astype(int))).tolist() == [
        29,
        74,
    ]  # cancer for l in [30, 75)
    labels = reference_labels((40, 160), (10.0, 20.0), (130.0, 20.0), 6.0, profile)
    assert set(np.unique(labels)) == {0, 1, 255}
    assert np.array_equal(labels != 255, strip_mask((40, 160), (10.0, 20.0), (130.0, 20.0), 6.0))
    cancer_cols = np.flatnonzero((labels == 1).any(axis=0))
    assert (cancer_cols.min(), cancer_cols.max()) == (40, 84)


def test_profile_follows_the_proximal_direction() -> None:
    forward = tissue_profile(_two_fragments(), forward=(1.0, 0.0)).cancer_fraction
    backward = tissue_profile(_two_fragments(), forward=(-1.0, 0.0)).cancer_fraction
    assert np.array_equal(forward, backward[::-1])


def test_at_least_half_is_cancer() -> None:
    profile = TissueProfile(np.array([0.49, 0.5, 0.51, 0.0]), (4.0,))
    assert profile.labels_at(np.array([0.1, 0.3, 0.6, 0.9])).tolist() == [0, 1, 1, 0]


def _simulated_case(seed: int, difficulty: str):
    phantom_settings = PhantomSettings()
    rng = np.random.default_rng(seed)
    phantom = render_phantom(sample_anatomy(phantom_settings, rng), phantom_settings, rng)
    sp = phantom.spacing_mm
    tract = choose_tract(phantom.lesion_mask, phantom.field, sp, TractSettings(), rng)
    layout = build_layout(
        tract.length_px * sp, tract.diameter_mm, FaultSettings.preset(difficulty), 4.0, 0.5, rng
    )
    mapping = CoreToUltrasound(
        tract.p0, tract.p1, tract.diameter_mm / sp, layout.length_um, layout.width_um
    )
    rasters = rasterize_slide(layout, mapping, phantom.field)
    return phantom, tract, layout, mapping, rasters


@pytest.mark.parametrize(
    ("seed", "difficulty"), [(0, "easy"), (1, "default"), (2, "hard"), (3, "hard")]
)
def test_reference_agrees_with_where_the_tissue_came_from(seed: int, difficulty: str) -> None:
    """The format's mapping of the slide reproduces the physical truth of the core.

    Physical truth: at each position u along the core, the share of its width that is lesion
    (the core's labels before any fault). Bends make the two differ slightly at boundaries.
    """
    phantom, tract, layout, mapping, rasters = _simulated_case(seed, difficulty)
    diameter_px = tract.diameter_mm / phantom.spacing_mm
    reference = reference_labels(
        phantom.image.shape,
        tract.p0,
        tract.p1,
        diameter_px,
        tissue_profile(rasters, layout.main.direction),
    )
    labels = CoreLabels.sample(layout, mapping, phantom.field, 4.0)
    u = np.arange(labels.grid.shape[1]) * labels.step_um
    v = labels.v_low + np.arange(labels.grid.shape[0]) * labels.step_um
    v_min, v_max = layout.edge_limits(u)
    inside = (v[:, None] >= v_min[None, :]) & (v[:, None] <= v_max[None, :])
    truth = (labels.grid & inside).sum(axis=0) / inside.sum(axis=0)
    physical = reference_labels(
        phantom.image.shape, tract.p0, tract.p1, diameter_px, TissueProfile(truth, (u[-1],))
    )
    cancer_ref, cancer_phys = reference == 1, physical == 1
    dice = 2 * (cancer_ref & cancer_phys).sum() / (cancer_ref.sum() + cancer_phys.sum())
    assert dice > (0.99 if difficulty == "easy" else 0.97)
    assert np.array_equal(reference == 255, physical == 255)


def test_annotation_polygons_rasterize_back_to_the_cancer() -> None:
    _, _, _, _, rasters = _simulated_case(5, "hard")
    cancer = rasters.cancer & (rasters.section == MAIN)
    polygons = mask_polygons(cancer)
    back = rasterize(polygons, cancer.shape)
    assert (back != cancer).sum() <= 0.002 * cancer.sum()
