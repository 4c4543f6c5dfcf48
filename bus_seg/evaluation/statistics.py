"""Statistics on per-image or per-fold values: summaries, paired tests, confidence intervals.

Kept apart from the reductions (tables, pooled counts) so each test is easy to check against
:mod:`scipy.stats`. Every function skips NaN values (images where a metric is undefined) and says
how many values it used.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

WILCOXON_ZERO_METHODS = ("wilcox", "pratt", "zsplit")


def describe(values: np.ndarray) -> dict[str, float]:
    """Mean, sample SD (ddof 1), median, quartiles and count of the finite values.

    Returns NaN statistics (and ``n`` = 0) when no value is finite; ``sd`` is NaN for one value.
    """
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    n = int(finite.size)
    if n == 0:
        return {
            "mean": math.nan,
            "sd": math.nan,
            "median": math.nan,
            "q1": math.nan,
            "q3": math.nan,
            "n": 0,
        }
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    return {
        "mean": float(finite.mean()),
        "sd": float(finite.std(ddof=1)) if n > 1 else math.nan,
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "n": n,
    }


def t_interval(values: np.ndarray, confidence_level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of the finite values (NaN with fewer than 2)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size < 2:
        return math.nan, math.nan
    sem = finite.std(ddof=1) / math.sqrt(finite.size)
    if sem == 0:
        return float(finite.mean()), float(finite.mean())
    low, high = stats.t.interval(confidence_level, df=finite.size - 1, loc=finite.mean(), scale=sem)
    return float(low), float(high)


@dataclass(frozen=True)
class PairedTest:
    """Paired comparison of two sets of per-image values (A − B).

    Attributes:
        n: number of pairs used (pairs with a NaN on either side are dropped).
        mean_a, mean_b: means of A and B over those pairs.
        mean_diff: mean of A − B.
        ci_low, ci_high: bootstrap confidence interval of ``mean_diff``.
        p_wilcoxon, wilcoxon_statistic: Wilcoxon signed-rank test (two-sided).
        p_ttest, t_statistic: paired t-test (two-sided).
        note: why a figure was set by rule instead of computed; empty when none was.
    """

    n: int
    mean_a: float
    mean_b: float
    mean_diff: float
    ci_low: float
    ci_high: float
    p_wilcoxon: float
    wilcoxon_statistic: float
    p_ttest: float
    t_statistic: float
    note: str = ""

    def to_dict(self) -> dict[str, float | int | str]:
        """The fields as a plain dict."""
        return asdict(self)


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a - b, axis=axis)


def bootstrap_mean_difference(
    a: np.ndarray, b: np.ndarray, *, n_boot: int, seed: int, confidence_level: float = 0.95
) -> tuple[float, float]:
    """Paired BCa bootstrap interval of mean(A − B) (``scipy.stats.bootstrap``, ``paired=True``).

    Images are resampled with their pair, so the interval reflects the paired design. When every
    difference is the same value the interval is that value (BCa is undefined there).
    """
    diff = a - b
    if diff.size == 0:
        return math.nan, math.nan
    if np.all(diff == diff[0]):
        return float(diff[0]), float(diff[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (stats.DegenerateDataWarning, RuntimeWarning))
        result = stats.bootstrap(
            (a, b),
            _mean_difference,
            paired=True,
            vectorized=True,
            n_resamples=n_boot,
            confidence_level=confidence_level,
            method="BCa",
            rng=np.random.default_rng(seed),
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_boot: int = 10000,
    seed: int = 0,
    zero_method: str = "wilcox",
    confidence_level: float = 0.95,
) -> PairedTest:
    """Compare paired per-image values of model A and model B.

    Wilcoxon signed-rank (``scipy.stats.wilcoxon``, ``method="auto"``: exact for up to 50 pairs
    without ties or zero differences, an exact permutation test for up to 13 pairs with them, the
    normal approximation otherwise). ``zero_method`` decides what zero differences do: ``"wilcox"``
    (default, SciPy's and the textbook choice) drops them, ``"pratt"`` ranks them then drops them,
    ``"zsplit"`` splits their ranks between signs. When every difference is zero there is no
    evidence of a difference: both P values are 1.0 and ``note`` says so.

    Args:
        a: per-image values of model A.
        b: per-image values of model B, same images in the same order.
        n_boot: bootstrap resamples for the interval of the mean difference.
        seed: seed of the bootstrap generator (same seed, same interval).
        zero_method: Wilcoxon treatment of zero differences (see above).
        confidence_level: level of the bootstrap interval.

    Returns:
        The :class:`PairedTest`.

    Raises:
        ValueError: ``a`` and ``b`` differ in length or ``zero_method`` is unknown.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same length, got {a.shape} and {b.shape}")
    if zero_method not in WILCOXON_ZERO_METHODS:
        raise ValueError(f"zero_method must be one of {WILCOXON_ZERO_METHODS}, got {zero_method!r}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = int(a.size)
    nan = math.nan
    mean_a, mean_b = (float(a.mean()), float(b.mean())) if n else (nan, nan)
    diff = a - b
    ci_low, ci_high = bootstrap_mean_difference(
        a, b, n_boot=n_boot, seed=seed, confidence_level=confidence_level
    )
    summary = {
        "n": n,
        "mean_a": mean_a,
        "mean_b": mean_b,
        "mean_diff": mean_a - mean_b,
        "ci_low": ci_low,
        "ci_high": ci_high,
    }
    if n < 2:
        return PairedTest(
            **summary,
            p_wilcoxon=nan,
            wilcoxon_statistic=nan,
            p_ttest=nan,
            t_statistic=nan,
            note=f"{n} pair(s) with both values defined; tests need at least 2",
        )
    if np.all(diff == 0):
        return PairedTest(
            **summary,
            p_wilcoxon=1.0,
            wilcoxon_statistic=0.0,
            p_ttest=1.0,
            t_statistic=0.0,
            note="all paired differences are zero; P set to 1.0",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        wilcoxon = stats.wilcoxon(a, b, zero_method=zero_method, method="auto")
        ttest = stats.ttest_rel(a, b)
    return PairedTest(
        **summary,
        p_wilcoxon=float(wilcoxon.pvalue),
        wilcoxon_statistic=float(wilcoxon.statistic),
        p_ttest=float(ttest.pvalue),
        t_statistic=float(ttest.statistic),
    )
