"""No empty score is perfect: strips too small to score fail, unlabelled images score NaN."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from bus_seg.data.validation import validate_cohort
from bus_seg.errors import InputError
from bus_seg.io.manifest import write_manifest
from bus_seg.registration import register_cohort
from bus_seg.registration.strip_size import strip_size_problem
from bus_seg.train import check_test_scored
from bus_seg.training.metrics import SegmentationMetrics
from tests.helpers.registration_factory import CaseSpec, FragmentSpec, write_case


def test_strip_size_rules() -> None:
    assert strip_size_problem(100.0, 1.6, 0.1) is None  # 100 px × 16 px
    assert strip_size_problem(100.0, 1.6, 0.1, labelled=1500) is None
    narrow = strip_size_problem(100.0, 0.001, 0.1)
    assert "0.01 px wide" in narrow and "core_diameter_mm (0.001 mm)" in narrow
    wrong_unit = strip_size_problem(100.0, 1.6, 100.0)  # us_spacing_mm given in µm
    assert "us_spacing_mm (100 mm per pixel: millimetres, not µm or cm)" in wrong_unit
    empty = strip_size_problem(100.0, 1.6, 0.1, labelled=0)
    assert "only 0 pixels are labelled" in empty and "1%" in empty


@pytest.fixture(scope="module")
def unit_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("units")
    spec = dict(
        fragments=[FragmentSpec(3000, tilt_deg=3), FragmentSpec(2000, gap_um=300)],
        cancer_um=[(1000, 2500)],
        tract=(30.0, 50.0, 110.0, 100.0),
        mpp=5.0,
    )
    names = ("good", "tiny_core", "spacing_um")
    rows = [write_case(CaseSpec(case_id=name, **spec), root / name) for name in names]
    rows[1]["core_diameter_mm"] = 0.001
    rows[2]["us_spacing_mm"] = 100.0  # 0.1 mm written in µm
    return write_manifest(root / "manifest.csv", rows)


def test_a_strip_with_nothing_to_score_fails_its_case(unit_cohort: Path) -> None:
    result = register_cohort(unit_cohort, unit_cohort.parent / "out", progress=False)
    report = result.report.set_index("case_id")
    assert report.loc["good", "status"] == "ok" and report.loc["good", "strip_pixels"] > 500
    for case in ("tiny_core", "spacing_um"):
        assert report.loc[case, "status"] == "failed"
        error = report.loc[case, "error"]
        assert "us_spacing_mm" in error and "core_diameter_mm" in error, error
        assert "nothing to score" in error
    assert not (unit_cohort.parent / "out" / "labels" / "tiny_core.png").exists()


@pytest.mark.parametrize("check_files", [True, False])
def test_validate_reports_the_strip_size_from_the_manifest(
    unit_cohort: Path, check_files: bool
) -> None:
    problems = validate_cohort(unit_cohort, check_files=check_files)
    errors = {
        p.where.split("case ")[-1].split(",")[0]: p for p in problems if p.severity == "error"
    }
    assert "'good'" not in errors
    for case in ("tiny_core", "spacing_um"):
        assert "nothing to score" in errors[f"'{case}'"].message
        assert "column 'core_diameter_mm'" in errors[f"'{case}'"].where


def test_an_image_without_labelled_pixels_is_nan_not_perfect() -> None:
    metrics = SegmentationMetrics()
    unlabelled = torch.full((1, 4, 4), 255)
    metrics.update(torch.zeros(1, 4, 4, dtype=torch.long), unlabelled)
    scores = metrics.compute()
    assert math.isnan(scores["dice"]) and math.isnan(scores["per_image_dice"])
    assert math.isnan(scores["iou"]) and math.isnan(scores["pixel_acc"])
    labelled = torch.zeros(1, 4, 4, dtype=torch.long)
    metrics.update(torch.zeros(1, 4, 4, dtype=torch.long), labelled)
    scores = metrics.compute()  # the empty image stays out of the mean
    assert scores["per_image_dice"] == 1.0 and scores["per_image_pixel_acc"] == 1.0


def test_a_test_set_without_labelled_pixels_fails_the_run() -> None:
    empty = pd.DataFrame({"image_id": ["a", "b"], "tp": 0, "fp": 0, "tn": 0, "fn": 0})
    with pytest.raises(InputError, match=r"test set \(2 images\) has no labelled pixel"):
        check_test_scored(empty)
    with pytest.raises(InputError, match="no labelled pixel"):
        check_test_scored(empty.iloc[:0])
    check_test_scored(empty.assign(tn=[0, 5]))
