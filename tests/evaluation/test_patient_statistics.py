"""Patient-level paired statistics and effect sizes on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from bus_seg.evaluation.statistics import (
    bounded_interval,
    cluster_bootstrap_mean_difference,
    cohens_dz,
    paired_test,
    rank_biserial,
)

# 4 patients × 3 images; A beats B on every image, by a patient-specific amount.
PATIENTS = np.repeat(["p1", "p2", "p3", "p4"], 3)
DIFF = np.array([0.10, 0.12, 0.14, 0.20, 0.22, 0.24, 0.01, 0.02, 0.03, 0.30, 0.31, 0.32])
B = np.linspace(0.3, 0.6, 12)
A = B + DIFF


def test_three_images_per_patient_test_at_patient_level() -> None:
    image_level = paired_test(A, B, n_boot=2000)
    patient_level = paired_test(A, B, groups=PATIENTS, n_boot=2000)
    # 12 positive differences: exact two-sided P = 2 / 2^12; 4 positive patient means: 2 / 2^4
    assert image_level.unit == "image" and image_level.n == 12
    assert image_level.p_wilcoxon == pytest.approx(2 / 2**12)
    assert patient_level.unit == "patient" and patient_level.n == 4
    assert patient_level.n_images == 12
    assert patient_level.p_wilcoxon == pytest.approx(2 / 2**4)
    means = DIFF.reshape(4, 3).mean(axis=1)
    assert patient_level.p_ttest == pytest.approx(stats.ttest_1samp(means, 0).pvalue)
    assert patient_level.mean_diff == pytest.approx(DIFF.mean())  # image-level mean difference
    assert "only 4 patients" in patient_level.note and "below 10" in patient_level.note
    assert patient_level.ci_low <= DIFF.mean() <= patient_level.ci_high


def test_one_image_per_patient_stays_at_image_level() -> None:
    groups = [f"p{i}" for i in range(12)]
    assert paired_test(A, B, groups=groups, n_boot=500) == paired_test(A, B, n_boot=500)


def test_rank_biserial_by_hand_and_from_scipy() -> None:
    diff = np.array([0.1, 0.2, -0.05, 0.3])
    # ranks of |d|: 0.05→1, 0.1→2, 0.2→3, 0.3→4; R+ = 9, R− = 1; r = (9 − 1) / 10
    assert rank_biserial(diff) == pytest.approx(0.8)
    r_plus = stats.wilcoxon(diff, alternative="greater").statistic  # scipy's R+
    total = len(diff) * (len(diff) + 1) / 2
    assert rank_biserial(diff) == pytest.approx((2 * r_plus - total) / total)
    assert rank_biserial(np.array([0.0, 1.0, -2.0])) == pytest.approx((1 - 2) / 3)  # zero dropped
    assert math.isnan(rank_biserial(np.zeros(3)))


def test_cohens_dz_matches_the_paired_t_statistic() -> None:
    diff = A - B
    assert cohens_dz(diff) == pytest.approx(diff.mean() / diff.std(ddof=1))
    t = stats.ttest_rel(A, B).statistic
    assert cohens_dz(diff) == pytest.approx(t / math.sqrt(diff.size))
    result = paired_test(A, B, n_boot=200)
    assert result.cohens_dz == pytest.approx(cohens_dz(diff))
    assert result.rank_biserial == pytest.approx(1.0)  # every difference positive


def test_cluster_bootstrap_resamples_whole_patients() -> None:
    low, high = cluster_bootstrap_mean_difference(A, B, PATIENTS, n_boot=4000, seed=1)
    assert (low, high) == cluster_bootstrap_mean_difference(A, B, PATIENTS, n_boot=4000, seed=1)
    means = DIFF.reshape(4, 3).mean(axis=1)
    # a resample of whole patients can only average patient means: bounded by their extremes
    assert means.min() <= low < DIFF.mean() < high <= means.max()
    image_low, image_high = (
        paired_test(A, B, n_boot=4000).ci_low,
        paired_test(A, B, n_boot=4000).ci_high,
    )
    assert high - low > image_high - image_low  # 4 independent units, not 12


def test_bounded_interval() -> None:
    assert bounded_interval((-0.1, 1.66), 0.0, 1.0) == (0.0, 1.0)
    assert bounded_interval((-2.0, 3.0), 0.0, None) == (0.0, 3.0)
