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
import pandas as pd
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


SMALL_N = 10
CONTINUITY_CORRECTION = False


@dataclass(frozen=True)
class PairedTest:
    """Paired comparison of two sets of per-image values (A − B).

    Attributes:
        n: number of independent units the tests used: images, or patients when ``unit`` is
            ``"patient"`` (pairs with a NaN on either side are dropped first).
        mean_a, mean_b: means of A and B over the images used.
        mean_diff: mean of A − B over the images used.
        ci_low, ci_high: bootstrap confidence interval of ``mean_diff`` (paired BCa over images,
            or a cluster bootstrap over patients).
        p_wilcoxon, wilcoxon_statistic: Wilcoxon signed-rank test (two-sided) on the per-unit
            differences (per-patient means when ``unit`` is ``"patient"``).
        p_ttest, t_statistic: paired t-test (two-sided) on the same differences.
        rank_biserial: matched-pairs rank-biserial correlation r = (R+ − R−) / (R+ + R−) of the
            signed ranks the Wilcoxon test used (−1 to 1; positive: A higher).
        cohens_dz: Cohen's d_z = mean difference / SD of the differences (ddof 1), per unit.
        unit: ``"image"`` or ``"patient"``.
        n_images: images used.
        note: why a figure was set by rule, and small-sample warnings; empty when none.
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
    rank_biserial: float = math.nan
    cohens_dz: float = math.nan
    unit: str = "image"
    n_images: int = 0
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


def rank_biserial(diff: np.ndarray, zero_method: str = "wilcox") -> float:
    """Matched-pairs rank-biserial correlation of paired differences (Kerby 2014).

    r = (R+ − R−) / S, where R+ and R− sum the ranks of |d| of the positive and negative
    differences and S is the sum of all ranks used. Zero differences follow ``zero_method`` as in
    :func:`scipy.stats.wilcoxon`: ``"wilcox"`` drops them before ranking, ``"pratt"`` ranks them
    then drops them, ``"zsplit"`` keeps their ranks in S (split evenly between the signs). NaN
    when no rank is left.
    """
    diff = np.asarray(diff, dtype=float)
    if zero_method == "wilcox":
        diff = diff[diff != 0]
    ranks = stats.rankdata(np.abs(diff))
    plus, minus = ranks[diff > 0].sum(), ranks[diff < 0].sum()
    total = ranks.sum() if zero_method == "zsplit" else plus + minus
    return float((plus - minus) / total) if total > 0 else math.nan


def cohens_dz(diff: np.ndarray) -> float:
    """Cohen's d_z of paired differences: mean / SD (ddof 1); NaN for fewer than 2 or SD 0."""
    diff = np.asarray(diff, dtype=float)
    if diff.size < 2:
        return math.nan
    sd = diff.std(ddof=1)
    return float(diff.mean() / sd) if sd > 0 else math.nan


def cluster_bootstrap_mean_difference(
    a: np.ndarray,
    b: np.ndarray,
    groups: np.ndarray,
    *,
    n_boot: int,
    seed: int,
    confidence_level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of the image-level mean(A − B), resampling whole patients.

    Each resample draws as many patients as there are, with replacement, and takes every image
    of each drawn patient; the statistic is the mean difference over those images. Images of one
    patient thus stay together, as their errors are not independent.
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if diff.size == 0:
        return math.nan, math.nan
    _, index = np.unique(np.asarray(groups), return_inverse=True)
    sums = np.bincount(index, weights=diff)
    counts = np.bincount(index).astype(float)
    draws = np.random.default_rng(seed).integers(0, sums.size, size=(n_boot, sums.size))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    alpha = (1 - confidence_level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    n_boot: int = 10000,
    seed: int = 0,
    zero_method: str = "wilcox",
    confidence_level: float = 0.95,
) -> PairedTest:
    """Compare paired per-image values of model A and model B.

    Wilcoxon signed-rank (``scipy.stats.wilcoxon``, ``method="auto"``: exact for up to 50 pairs
    without ties or zero differences, an exact permutation test for up to 13 pairs with them, the
    normal approximation otherwise, without continuity correction). ``zero_method`` decides what
    zero differences do: ``"wilcox"`` (default, SciPy's and the textbook choice) drops them,
    ``"pratt"`` ranks them then drops them, ``"zsplit"`` splits their ranks between signs. When
    every difference is zero there is no evidence of a difference: both P values are 1.0 and
    ``note`` says so.

    When ``groups`` (patient ids) holds a patient with several images, the images are not
    independent: the tests and effect sizes use one value per patient (the mean of its images'
    differences) and the interval of the mean difference comes from a cluster bootstrap over
    patients (:func:`cluster_bootstrap_mean_difference`). ``unit`` says which was done. A note
    warns when fewer than 10 units are compared.

    Args:
        a: per-image values of model A.
        b: per-image values of model B, same images in the same order.
        groups: patient id of each image, or None (every image its own unit).
        n_boot: bootstrap resamples for the interval of the mean difference.
        seed: seed of the bootstrap generator (same seed, same interval).
        zero_method: Wilcoxon treatment of zero differences (see above).
        confidence_level: level of the bootstrap interval.

    Returns:
        The :class:`PairedTest`.

    Raises:
        ValueError: ``a``, ``b`` and ``groups`` differ in length or ``zero_method`` is unknown.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same length, got {a.shape} and {b.shape}")
    if groups is not None and len(groups) != a.size:
        raise ValueError(f"groups needs one patient id per pair, got {len(groups)} for {a.size}")
    if zero_method not in WILCOXON_ZERO_METHODS:
        raise ValueError(f"zero_method must be one of {WILCOXON_ZERO_METHODS}, got {zero_method!r}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n_images = int(a.size)
    nan = math.nan
    mean_a, mean_b = (float(a.mean()), float(b.mean())) if n_images else (nan, nan)
    clustered = groups is not None and len(set(np.asarray(groups)[keep].tolist())) < n_images
    if clustered:
        kept_groups = np.asarray(groups)[keep]
        ci_low, ci_high = cluster_bootstrap_mean_difference(
            a, b, kept_groups, n_boot=n_boot, seed=seed, confidence_level=confidence_level
        )
        per_patient = pd.DataFrame({"g": kept_groups, "a": a, "b": b}).groupby("g", sort=True)
        a, b = per_patient["a"].mean().to_numpy(), per_patient["b"].mean().to_numpy()
    else:
        ci_low, ci_high = bootstrap_mean_difference(
            a, b, n_boot=n_boot, seed=seed, confidence_level=confidence_level
        )
    unit = "patient" if clustered else "image"
    n = int(a.size)
    diff = a - b
    notes = []
    if n < SMALL_N:
        notes.append(
            f"only {n} {unit}s: P values, intervals and effect sizes are unreliable below {SMALL_N}"
        )
    summary = {
        "n": n,
        "mean_a": mean_a,
        "mean_b": mean_b,
        "mean_diff": mean_a - mean_b,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "unit": unit,
        "n_images": n_images,
    }
    if n < 2:
        notes.insert(0, f"{n} {unit}(s) with both values defined; tests need at least 2")
        return PairedTest(
            **summary,
            p_wilcoxon=nan,
            wilcoxon_statistic=nan,
            p_ttest=nan,
            t_statistic=nan,
            note="; ".join(notes),
        )
    effect = {"rank_biserial": rank_biserial(diff, zero_method), "cohens_dz": cohens_dz(diff)}
    if np.all(diff == 0):
        notes.insert(0, "all paired differences are zero; P set to 1.0")
        return PairedTest(
            **summary,
            **effect,
            p_wilcoxon=1.0,
            wilcoxon_statistic=0.0,
            p_ttest=1.0,
            t_statistic=0.0,
            note="; ".join(notes),
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        wilcoxon = stats.wilcoxon(
            a, b, zero_method=zero_method, correction=CONTINUITY_CORRECTION, method="auto"
        )
        ttest = stats.ttest_rel(a, b)
    return PairedTest(
        **summary,
        **effect,
        p_wilcoxon=float(wilcoxon.pvalue),
        wilcoxon_statistic=float(wilcoxon.statistic),
        p_ttest=float(ttest.pvalue),
        t_statistic=float(ttest.statistic),
        note="; ".join(notes),
    )


def bounded_interval(
    interval: tuple[float, float], low: float | None, high: float | None
) -> tuple[float, float]:
    """``interval`` clipped to a metric's range [low, high] (None: unbounded on that side)."""
    lo, hi = interval
    if low is not None:
        lo, hi = max(lo, low), max(hi, low)
    if high is not None:
        lo, hi = min(lo, high), min(hi, high)
    return lo, hi
