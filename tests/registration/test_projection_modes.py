"""The other registration modes: the area projection and the physical placement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bus_seg.io.manifest import read_manifest
from bus_seg.registration.agreement import cancer_dice
from bus_seg.registration.case import CaseRegistration, register_case
from bus_seg.registration.settings import RegistrationSettings
from bus_seg.registration.tract import Tract
from tests.helpers.registration_cases import small_spec
from tests.helpers.registration_factory import CaseSpec, FragmentSpec, strip_truth, write_cohort


def register_one(spec: CaseSpec, folder: Path, **settings) -> CaseRegistration:
    manifest = read_manifest(write_cohort([spec], folder))
    return register_case(manifest.records[0], RegistrationSettings(**settings))


def tract_of(spec: CaseSpec) -> Tract:
    return Tract(*spec.tract, spacing_mm=spec.spacing_mm, diameter_mm=spec.diameter_mm)


def test_area_projection_keeps_the_lateral_layout(tmp_path: Path) -> None:
    spec = small_spec(
        "area",
        fragments=[FragmentSpec(6000, width_um=1600)],
        cancer_um=[(500, 1500)],
        partial=[(3000, 4500, 0.5)],  # cancer on the negative-normal half only
        tract=(20.0, 40.0, 150.0, 110.0),
        axis_jitter_deg=6.0,
    )
    case = register_one(spec, tmp_path, projection="area")
    tract = tract_of(spec)
    along, across = tract.coordinates(spec.us_shape)
    core_length = np.clip(along / tract.length_px, 0, 1) * spec.total_length_um
    strip = case.labels != 255
    np.testing.assert_array_equal(strip, strip_truth(spec) != 255)
    inside_band = strip & (core_length > 3100) & (core_length < 4400)
    assert (case.labels[inside_band & (across < -1)] == 1).all()
    assert (case.labels[inside_band & (across > 1)] == 0).all()
    full_width = strip & (core_length > 600) & (core_length < 1400)
    assert (case.labels[full_width] == 1).all()
    outside = strip & (((core_length > 1600) & (core_length < 2900)) | (core_length > 4600))
    assert (case.labels[outside] == 0).all()


def test_area_projection_agrees_with_the_profile_for_full_width_cancer(tmp_path: Path) -> None:
    spec = small_spec("area_full")
    case = register_one(spec, tmp_path, projection="area")
    assert cancer_dice(case.labels, strip_truth(spec)) >= 0.98


@pytest.mark.parametrize("anchor", ["proximal", "distal"])
def test_physical_placement_uses_the_corrected_length_from_the_anchor(
    tmp_path: Path, anchor: str
) -> None:
    spec = small_spec(
        f"physical_{anchor}",
        fragments=[FragmentSpec(5000), FragmentSpec(3000, gap_um=400)],
        cancer_um=[(1000, 2000), (6000, 7000)],
        tract=(20.0, 50.0, 140.0, 50.0),  # 12 mm
        axis_jitter_deg=0.0,
    )
    case = register_one(spec, tmp_path, placement="physical", shrinkage=0.2, anchor=anchor)
    tract = tract_of(spec)
    along_mm = tract.coordinates(spec.us_shape)[0] * spec.spacing_mm
    # 8 mm of fixed tissue is 10 mm in vivo
    length = 800.0 * along_mm if anchor == "proximal" else 8000.0 - 800.0 * (12.0 - along_mm)
    strip = strip_truth(spec) != 255
    sampled = strip & (length >= 0) & (length <= 8000)
    expected = np.full(spec.us_shape, 255, dtype=np.uint8)
    expected[sampled] = 0
    for a, b in spec.cancer_um:
        expected[sampled & (length >= a) & (length < b)] = 1
    assert case.fields["placement"] == "physical"
    assert case.fields["scale_wsi_to_us"] == pytest.approx(1.25)
    np.testing.assert_array_equal(case.labels == 255, expected == 255)
    assert cancer_dice(case.labels, expected) >= 0.98
    assert case.warnings == []
