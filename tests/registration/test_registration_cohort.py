"""Registered label maps of cohorts with known geometry against their exact truth."""

from __future__ import annotations

import numpy as np
import pytest

from bus_seg.io.images import read_label_map
from bus_seg.registration.agreement import boundary_error_mm, cancer_dice
from bus_seg.registration.tract import Tract
from tests.helpers.registration_cases import RegisteredCohort, geometry_specs
from tests.helpers.registration_factory import strip_truth

CASE_IDS = [spec.case_id for spec in geometry_specs()]


def tract_of(spec) -> Tract:
    return Tract(*spec.tract, spacing_mm=spec.spacing_mm, diameter_mm=spec.diameter_mm)


def test_every_case_registers_with_a_report_row(geometry_cohort: RegisteredCohort) -> None:
    report = geometry_cohort.result.report
    assert list(report["case_id"]) == CASE_IDS
    assert (report["status"] == "ok").all(), report[["case_id", "error"]]
    assert geometry_cohort.result.failed == []
    assert (geometry_cohort.out_dir / "report.csv").is_file()
    for case_id in CASE_IDS:
        assert (geometry_cohort.out_dir / "qc" / f"{case_id}.png").is_file()


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_strip_follows_the_rectangle_rule_exactly(
    geometry_cohort: RegisteredCohort, case_id: str
) -> None:
    spec = geometry_cohort.specs[case_id]
    labels = read_label_map(geometry_cohort.out_dir / "labels" / f"{case_id}.png")
    truth = strip_truth(spec)
    assert labels.shape == spec.us_shape
    assert set(np.unique(labels)) <= {0, 1, 255}
    np.testing.assert_array_equal(labels != 255, truth != 255)


def test_cancer_matches_the_known_geometry(geometry_cohort: RegisteredCohort) -> None:
    dice, boundary = {}, {}
    for case_id, spec in geometry_cohort.specs.items():
        labels = read_label_map(geometry_cohort.out_dir / "labels" / f"{case_id}.png")
        truth = strip_truth(spec)
        dice[case_id] = cancer_dice(labels, truth)
        boundary[case_id] = boundary_error_mm(labels, truth, tract_of(spec))
    # one ultrasound row across a short cancer run costs ~1 % Dice in these small images
    assert min(dice.values()) >= 0.98, dice
    assert np.mean(list(dice.values())) >= 0.99, dice
    assert max(boundary.values()) <= 0.1, boundary


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_report_values_match_the_geometry(geometry_cohort: RegisteredCohort, case_id: str) -> None:
    spec = geometry_cohort.specs[case_id]
    row = geometry_cohort.result.report.set_index("case_id").loc[case_id]
    assert row["n_fragments"] == len(spec.fragments)
    # lengths are measured on a 4-6 µm grid: a pixel or two per fragment
    assert row["tissue_length_um"] == pytest.approx(
        spec.total_length_um, abs=2.5 * 6 * len(spec.fragments)
    )
    assert row["tract_length_mm"] == pytest.approx(tract_of(spec).length_mm)
    assert row["scale_wsi_to_us"] == pytest.approx(
        tract_of(spec).length_mm * 1000 / spec.total_length_um, rel=0.005
    )
    assert row["dice_vs_reference"] >= 0.98
    assert row["boundary_error_mm_vs_reference"] <= 0.1
    truth = strip_truth(spec)
    assert row["cancer_fraction"] == pytest.approx(
        (truth == 1).sum() / (truth != 255).sum(), abs=0.02
    )


def test_debris_is_dropped_and_counted(geometry_cohort: RegisteredCohort) -> None:
    report = geometry_cohort.result.report.set_index("case_id")
    assert report.loc["q1_ome", "n_debris"] > 0
    assert report.loc["q1_ome", "n_fragments"] == 3


def test_roi_keeps_the_decoy_core_out(geometry_cohort: RegisteredCohort) -> None:
    row = geometry_cohort.result.report.set_index("case_id").loc["level_roi"]
    assert row["n_fragments"] == 3


def test_non_integer_pyramid_level_is_used(geometry_cohort: RegisteredCohort) -> None:
    row = geometry_cohort.result.report.set_index("case_id").loc["q4_pyramid"]
    assert row["tissue_level"] == 1
    assert row["mpp_source"] == "ome"


def test_label_maps_are_returned_by_case(geometry_cohort: RegisteredCohort) -> None:
    paths = geometry_cohort.result.label_paths
    assert sorted(paths) == sorted(CASE_IDS)
    assert all(path.is_file() for path in paths.values())
