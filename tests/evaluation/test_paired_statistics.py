"""Paired tests, bootstrap intervals and summaries checked against scipy on known data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from bus_seg.evaluation.statistics import (
    bootstrap_mean_difference,
    describe,
    paired_test,
    t_interval,
)

RNG = np.random.default_rng(7)
A = RNG.uniform(0.5, 0.95, 38)
B = A - 0.05 + RNG.normal(0, 0.06, 38)


def test_p_values_equal_scipy() -> None:
    result = paired_test(A, B, n_boot=2000, seed=0)
    assert result.n == 38
    assert result.p_wilcoxon == pytest.approx(stats.wilcoxon(A, B).pvalue)
    assert result.wilcoxon_statistic == pytest.approx(stats.wilcoxon(A, B).statistic)
    assert result.p_ttest == pytest.approx(stats.ttest_rel(A, B).pvalue)
    assert result.mean_diff == pytest.approx(np.mean(A - B))
    assert (result.mean_a, result.mean_b) == (pytest.approx(A.mean()), pytest.approx(B.mean()))
    assert result.note == ""


def test_textbook_wilcoxon_exact_p() -> None:
    # 8 differences, no ties or zeros: W+ = 1 (only the smallest is negative) -> exact two-sided P = 4/256.
    b = np.zeros(8)
    a = np.array([-1, 2, 3, 4, 5, 6, 7, 8], dtype=float)
    result = paired_test(a, b, n_boot=500, seed=0)
    assert result.p_wilcoxon == pytest.approx(2 * 2 / 2**8)


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
def test_ties_and_zero_differences_follow_scipy(zero_method: str) -> None:
    a = np.array([0.5, 0.6, 0.6, 0.7, 0.8, 0.8, 0.9, 0.4, 0.3, 0.5, 0.6, 0.7, 0.2, 0.9, 0.1, 0.4])
    b = np.array([0.5, 0.5, 0.5, 0.6, 0.8, 0.7, 0.8, 0.4, 0.2, 0.6, 0.5, 0.7, 0.1, 0.7, 0.1, 0.3])
    result = paired_test(a, b, n_boot=500, seed=0, zero_method=zero_method)
    expected = stats.wilcoxon(a, b, zero_method=zero_method)
    assert result.p_wilcoxon == pytest.approx(expected.pvalue)
    assert 0 < result.p_wilcoxon < 1


def test_all_zero_differences_give_p_one_with_a_note() -> None:
    result = paired_test(A, A.copy(), n_boot=500, seed=0)
    assert (result.p_wilcoxon, result.p_ttest) == (1.0, 1.0)
    assert (result.mean_diff, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert "zero" in result.note


def test_nan_pairs_are_dropped() -> None:
    a, b = A.copy(), B.copy()
    a[0], b[5] = np.nan, np.nan
    result = paired_test(a, b, n_boot=500, seed=0)
    keep = np.ones(38, bool)
    keep[[0, 5]] = False
    assert result.n == 36
    assert result.p_ttest == pytest.approx(stats.ttest_rel(A[keep], B[keep]).pvalue)


def test_fewer_than_two_pairs_give_nan_with_a_note() -> None:
    result = paired_test(np.array([0.5, np.nan]), np.array([0.4, 0.3]), n_boot=100, seed=0)
    assert result.n == 1 and math.isnan(result.p_wilcoxon) and math.isnan(result.p_ttest)
    assert "at least 2" in result.note


def test_bootstrap_interval_is_seeded_and_matches_scipy() -> None:
    low, high = bootstrap_mean_difference(A, B, n_boot=2000, seed=3)
    assert (low, high) == bootstrap_mean_difference(A, B, n_boot=2000, seed=3)
    assert (low, high) != bootstrap_mean_difference(A, B, n_boot=2000, seed=4)
    assert low < np.mean(A - B) < high
    direct = stats.bootstrap(
        (A, B),
        lambda a, b, axis: np.mean(a - b, axis=axis),
        paired=True,
        n_resamples=2000,
        rng=np.random.default_rng(3),
    ).confidence_interval
    assert (low, high) == (pytest.approx(direct.low), pytest.approx(direct.high))


def test_constant_difference_interval_is_the_difference() -> None:
    assert bootstrap_mean_difference(A + 0.1, A, n_boot=100, seed=0) == (
        pytest.approx(0.1),
        pytest.approx(0.1),
    )


def test_mismatched_lengths_and_unknown_zero_method_raise() -> None:
    with pytest.raises(ValueError, match="same length"):
        paired_test(A, B[:-1])
    with pytest.raises(ValueError, match="zero_method"):
        paired_test(A, B, zero_method="drop")


def test_describe_and_t_interval() -> None:
    values = np.array([0.2, 0.4, np.nan, 0.9, 0.5])
    finite = values[np.isfinite(values)]
    summary = describe(values)
    assert summary["n"] == 4
    assert summary["mean"] == pytest.approx(finite.mean())
    assert summary["sd"] == pytest.approx(finite.std(ddof=1))
    assert (summary["q1"], summary["median"], summary["q3"]) == pytest.approx(
        tuple(np.percentile(finite, [25, 50, 75]))
    )
    assert describe(np.array([np.nan]))["n"] == 0
    expected = stats.t.interval(0.95, df=3, loc=finite.mean(), scale=stats.sem(finite))
    assert t_interval(values) == pytest.approx(expected)
    assert all(math.isnan(v) for v in t_interval(np.array([0.3])))
