"""Paired comparison of evaluated runs on the same test images (the paper's model comparison).

For each pair of runs (arms) and each metric, per-image values are aligned by image id and
compared with the Wilcoxon signed-rank test, the paired t-test, a bootstrap interval of the mean
difference and two effect sizes (:mod:`bus_seg.evaluation.statistics`). When a patient has several
test images, the tests work on per-patient means and the interval on a cluster bootstrap over
patients. Strip metrics and, where the runs have lesion masks, the whole-lesion metrics
(``lesion_dice``, ``lesion_precision``, ``lesion_fp_area_mm2``) are compared. Cancer and
non-cancer pixels are also compared separately: per image (recall = TP/(TP+FN), specificity =
TN/(TN+FP)) and pooled over all pixels.

An arm may hold several runs (training seeds) of one configuration on the same test set: each
image's value is then the mean over the seeds, and the spread of each metric across seeds is
reported beside the tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bus_seg.errors import ConfigError, InputError
from bus_seg.evaluation.figures import plot_paired
from bus_seg.evaluation.per_image import COUNT_NAMES
from bus_seg.evaluation.report import Report, format_value
from bus_seg.evaluation.run_files import (
    expand_run_paths,
    find_run_file,
    read_per_image,
    run_name_of,
    short_names,
)
from bus_seg.evaluation.statistics import WILCOXON_ZERO_METHODS, paired_test
from bus_seg.io.atomic import atomic_path, write_json_atomic

DEFAULT_METRICS = (
    "pixel_acc",
    "dice",
    "recall",
    "lesion_dice",
    "lesion_precision",
    "lesion_fp_area_mm2",
)
# Metrics that exist only where the cohort has lesion masks: skipped (with a note) elsewhere.
OPTIONAL_PREFIX = "lesion_"
PATIENT_LEVEL_CHOICES = ("auto", "never")
# Per-class pixel accuracy: class name -> (per-image column, correct count, other count).
CLASS_COLUMNS = {
    "cancer": ("recall", "tp", "fn"),
    "non-cancer": ("specificity", "tn", "fp"),
}
MAX_LISTED_IDS = 10


@dataclass
class ComparisonResult:
    """What :func:`compare_runs` computed and wrote.

    Attributes:
        tests: one row per (run A, run B, metric): means, mean difference with its bootstrap
            interval, Wilcoxon and t-test P values, effect sizes (``rank_biserial``,
            ``cohens_dz``), the unit of the tests (``image`` or ``patient``) and a note. Class rows
            have metric ``cancer pixels`` / ``non-cancer pixels``.
        pooled_classes: per run and class: reference pixels, correctly predicted pixels, accuracy.
        seed_spread: per arm and metric with several seeds: the per-seed means' mean, SD, min
            and max (empty when every arm is one run).
        notes: warnings about the inputs (e.g. reference pixel counts differing between runs).
        paths: output name -> file (``comparison_md``, ``comparison_json``, ``comparison_csv``,
            ``paired_plot``).
    """

    tests: pd.DataFrame
    pooled_classes: pd.DataFrame
    notes: list[str]
    paths: dict[str, Path]
    seed_spread: pd.DataFrame = field(default_factory=pd.DataFrame)


def _listed(ids: Sequence[str]) -> str:
    shown = ", ".join(sorted(ids)[:MAX_LISTED_IDS])
    return shown + (f" … ({len(ids)} in all)" if len(ids) > MAX_LISTED_IDS else "")


def unique_run_names(given: Sequence[Path], per_image_paths: Sequence[Path]) -> list[str]:
    """Display names of runs: each evaluation's ``run_name`` when those are distinct, else the
    names of the given run folders (or CSV folders), else their paths relative to a shared parent.
    """
    names = [run_name_of(path) for path in per_image_paths]
    if None not in names and len(set(names)) == len(names):
        return names  # type: ignore[return-value]
    folders = [path if path.is_dir() else path.parent for path in given]
    names = [folder.resolve().name for folder in folders]
    if len(set(names)) == len(names):
        return names
    return short_names(folders)


def load_run_tables(
    runs: Sequence[str | Path], names: Sequence[str] | None = None
) -> dict[str, pd.DataFrame]:
    """Per-image tables of runs given as folders, ``per_image.csv`` files or glob patterns.

    Raises:
        ConfigError: ``names`` has the wrong length or repeats a name.
        InputError: a run has no readable per-image table.
    """
    given = expand_run_paths(runs)
    paths = [find_run_file(path, "per_image.csv") for path in given]
    labels = list(names) if names else unique_run_names(given, paths)
    if len(labels) != len(paths):
        raise ConfigError(
            f"names has {len(labels)} entries for {len(paths)} runs; give one name per run or none"
        )
    if len(set(labels)) != len(labels):
        raise ConfigError(f"run names repeat ({labels}); give distinct names")
    return {label: read_per_image(path) for label, path in zip(labels, paths, strict=True)}


def load_arm_tables(
    arms: Mapping[str, Sequence[str | Path] | str | Path],
) -> dict[str, list[pd.DataFrame]]:
    """Per arm, the per-image tables of its runs (one per seed), from folders, files or globs.

    Raises:
        ConfigError: an arm without runs.
        InputError: a run without a readable per-image table.
    """
    loaded = {}
    for arm, runs in arms.items():
        runs = [runs] if isinstance(runs, str | Path) else list(runs)
        if not runs:
            raise ConfigError(f"arms.{arm} lists no run; give its run folders (one per seed)")
        paths = [find_run_file(path, "per_image.csv") for path in expand_run_paths(runs)]
        loaded[str(arm)] = [read_per_image(path) for path in paths]
    return loaded


def average_seeds(arm: str, seeds: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One per-image table of an arm: each numeric column averaged over its seeds (NaN skipped).

    Raises:
        InputError: the seeds were evaluated on different test images.
    """
    reference = set(seeds[0]["image_id"])
    for index, table in enumerate(seeds[1:], start=2):
        if set(table["image_id"]) != reference:
            raise InputError(
                f"arm {arm!r}: run {index} was evaluated on other test images than run 1; the "
                "seeds of an arm must share one test set (fix data.split_seed, not seed)"
            )
    if len(seeds) == 1:
        return seeds[0]
    stacked = pd.concat(seeds, ignore_index=True)
    numeric = [
        c for c in stacked.columns if c != "image_id" and pd.api.types.is_numeric_dtype(stacked[c])
    ]
    averaged = stacked.groupby("image_id", sort=True)[numeric].mean()
    if "patient_id" in stacked.columns:
        averaged.insert(
            0, "patient_id", stacked.groupby("image_id", sort=True)["patient_id"].first()
        )
    return averaged.reset_index()


def seed_spread(
    seeds: Mapping[str, Sequence[pd.DataFrame]], metrics: Sequence[str]
) -> pd.DataFrame:
    """Per arm with several seeds and metric: per-seed means (over images), their mean, SD, min, max."""
    rows = []
    for arm, tables in seeds.items():
        if len(tables) < 2:
            continue
        for metric in metrics:
            means = np.array(
                [t[metric].mean() if metric in t.columns else np.nan for t in tables], dtype=float
            )
            finite = means[np.isfinite(means)]
            rows.append(
                {
                    "arm": arm,
                    "metric": metric,
                    "n_seeds": int(finite.size),
                    "mean": float(finite.mean()) if finite.size else np.nan,
                    "sd": float(finite.std(ddof=1)) if finite.size > 1 else np.nan,
                    "min": float(finite.min()) if finite.size else np.nan,
                    "max": float(finite.max()) if finite.size else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=["arm", "metric", "n_seeds", "mean", "sd", "min", "max"])


def align_tables(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Index every table by image id, in one shared sorted order.

    Raises:
        InputError: fewer than two runs, or runs that differ in their test images.
    """
    if len(tables) < 2:
        raise InputError(f"a comparison needs at least two runs, got {len(tables)}")
    names = list(tables)
    reference = set(tables[names[0]]["image_id"])
    for name in names[1:]:
        ids = set(tables[name]["image_id"])
        if ids != reference:
            problems = []
            if reference - ids:
                problems.append(f"only in {names[0]!r}: {_listed(list(reference - ids))}")
            if ids - reference:
                problems.append(f"only in {name!r}: {_listed(list(ids - reference))}")
            raise InputError(
                f"runs {names[0]!r} and {name!r} were evaluated on different test images ("
                + "; ".join(problems)
                + "). A paired comparison needs the same images: evaluate both models on the same split."
            )
    order = sorted(reference)
    return {name: table.set_index("image_id").loc[order] for name, table in tables.items()}


def _check_columns(aligned: Mapping[str, pd.DataFrame], metrics: Sequence[str]) -> None:
    for name, table in aligned.items():
        missing = [metric for metric in metrics if metric not in table.columns]
        if missing:
            available = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
            raise ConfigError(
                f"run {name!r} has no column {missing}; metrics must be among {available}"
            )


def _reference_notes(aligned: Mapping[str, pd.DataFrame]) -> list[str]:
    notes = []
    names = list(aligned)
    for column in ("n_labelled", "n_ref_cancer"):
        if not all(column in table.columns for table in aligned.values()):
            continue
        first = aligned[names[0]][column]
        for name in names[1:]:
            differing = first.index[first.to_numpy() != aligned[name][column].to_numpy()].tolist()
            if differing:
                notes.append(
                    f"{column} differs between {names[0]!r} and {name!r} for {len(differing)} images "
                    f"({_listed(differing)}): the runs were scored at different resolutions or on different labels."
                )
    return notes


def pooled_class_table(aligned: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per run and class: reference pixels, correctly predicted pixels and their ratio (pooled)."""
    rows = []
    for name, table in aligned.items():
        if not set(COUNT_NAMES) <= set(table.columns):
            continue
        for class_name, (_, correct, wrong) in CLASS_COLUMNS.items():
            n_correct, n_wrong = int(table[correct].sum()), int(table[wrong].sum())
            total = n_correct + n_wrong
            rows.append(
                {
                    "run": name,
                    "class": class_name,
                    "reference_pixels": total,
                    "correct_pixels": n_correct,
                    "accuracy": n_correct / total if total else float("nan"),
                }
            )
    return pd.DataFrame(
        rows, columns=["run", "class", "reference_pixels", "correct_pixels", "accuracy"]
    )


def _is_ratio(metric: str) -> bool:
    return not (metric.startswith("hd95") or metric.endswith(("_mm2", "_px")))


def _percent_or_value(value: float, ratio: bool, signed: bool = False) -> str:
    if value is None or value != value:
        return "n/a"
    if ratio:
        return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}%"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _test_rows_markdown(rows: pd.DataFrame, run_a: str, run_b: str, label: str) -> pd.DataFrame:
    table = []
    for row in rows.itertuples(index=False):
        ratio = _is_ratio(row.column)
        unit = " pp" if ratio else ""
        diff = _percent_or_value(row.mean_diff, ratio, signed=True)
        ci = f"[{_percent_or_value(row.ci_low, ratio, signed=True)}, {_percent_or_value(row.ci_high, ratio, signed=True)}]"
        table.append(
            {
                label: row.metric,
                run_a: _percent_or_value(row.mean_a, ratio),
                run_b: _percent_or_value(row.mean_b, ratio),
                "P (Wilcoxon)": format_value(row.p_wilcoxon, 4),
                "P (t)": format_value(row.p_ttest, 4),
                f"mean diff {run_a} − {run_b} [95% CI]": f"{diff}{unit} {ci}",
                "r (rank-biserial)": format_value(row.rank_biserial, 2),
                "d_z": format_value(row.cohens_dz, 2),
                "n": f"{row.n} {row.unit}s"
                + (f" ({row.n_images} images)" if row.unit == "patient" else ""),
            }
        )
    return pd.DataFrame(table)


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as JSON-able dicts, NaN as None."""
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def _comparison_document(
    aligned: Mapping[str, pd.DataFrame],
    settings: dict[str, object],
    tests: pd.DataFrame,
    pooled: pd.DataFrame,
    spread: pd.DataFrame,
    notes: list[str],
) -> dict[str, object]:
    """The content of ``comparison.json``."""
    return {
        "runs": list(aligned),
        "settings": settings,
        "tests": _records(tests),
        "pooled_classes": _records(pooled),
        "seed_spread": _records(spread),
        "notes": notes,
    }


def _paired_panels(
    aligned: Mapping[str, pd.DataFrame], metrics: Sequence[str]
) -> dict[str, pd.DataFrame]:
    """Per-image values of every run, one panel per metric and per class pixel accuracy."""
    panels = {
        metric: pd.DataFrame({name: table[metric] for name, table in aligned.items()})
        for metric in metrics
    }
    for class_name, (column, _, _) in CLASS_COLUMNS.items():
        if column not in metrics and all(column in table.columns for table in aligned.values()):
            panels[f"{class_name} pixels ({column})"] = pd.DataFrame(
                {name: table[column] for name, table in aligned.items()}
            )
    return panels


def _comparison_report(
    tests: pd.DataFrame,
    pooled: pd.DataFrame,
    notes: list[str],
    aligned: Mapping[str, pd.DataFrame],
    settings: dict[str, object],
    spread: pd.DataFrame,
) -> Report:
    """The Markdown report of the comparison (not yet written)."""
    report = Report("Paired comparison: " + " vs ".join(aligned))
    n_images = len(next(iter(aligned.values())))
    units = sorted(set(tests["unit"])) if not tests.empty else ["image"]
    report.paragraph(
        f"{n_images} test images, the same in every run. Values are per-image means over the images "
        "where the metric is defined; differences are A − B in percentage points (pp) for ratios. "
        + (
            "Patients have several test images: tests and effect sizes use per-patient means, the "
            "interval a cluster bootstrap over patients (n counts patients)."
            if "patient" in units
            else "Each patient has one test image: images are the independent units."
        )
    )
    for (run_a, run_b), rows in tests.groupby(["run_a", "run_b"], sort=False):
        report.heading(f"{run_a} vs {run_b}")
        metric_rows = rows[~rows["metric"].str.endswith(" pixels")]
        class_rows = rows[rows["metric"].str.endswith(" pixels")]
        report.table(_test_rows_markdown(metric_rows, run_a, run_b, "metric"))
        if not class_rows.empty:
            report.paragraph(
                "Per-class pixel accuracy (cancer: TP/(TP+FN); non-cancer: TN/(TN+FP)), per image:"
            )
            report.table(_test_rows_markdown(class_rows, run_a, run_b, "class"))
    if not spread.empty:
        report.heading("Spread across seeds")
        report.paragraph(
            "Arms with several runs (training seeds) on the same test set: each image's value in the "
            "tests above is its mean over the seeds; here, each seed's per-image mean, summarised."
        )
        report.table(spread)
    if not pooled.empty:
        report.heading("Pooled pixel counts per class")
        shown = pooled.assign(accuracy=[_percent_or_value(v, True) for v in pooled["accuracy"]])
        report.table(shown)
    report.heading("Methods")
    report.bullets(
        [
            f"Wilcoxon signed-rank (scipy.stats.wilcoxon, two-sided, zero_method={settings['zero_method']!r}, "
            "method='auto': exact without ties/zeros for n ≤ 50, exact permutation for n ≤ 13 with them, "
            "normal approximation otherwise, without continuity correction (correction=False)).",
            "Paired t-test (scipy.stats.ttest_rel, two-sided).",
            "When a patient has several test images (patient_level=auto), both tests and the effect "
            "sizes use one value per patient: the mean over its images. patient_level=never treats "
            "every image as independent.",
            f"95% CI of the mean difference: paired BCa bootstrap over images (scipy.stats.bootstrap), "
            f"or, with several images per patient, a percentile cluster bootstrap that resamples whole "
            f"patients; {settings['n_boot']} resamples, seed {settings['seed']}.",
            "Effect sizes: matched-pairs rank-biserial correlation r = (R+ − R−)/(R+ + R−) of the "
            "Wilcoxon signed ranks, and Cohen's d_z = mean difference / SD of the differences.",
            "Fewer than 10 independent units (patients or images) get a warning note: P values, "
            "intervals and effect sizes are unreliable there.",
            "Images where a metric is undefined in either run (NaN, e.g. recall without reference cancer) are left out of that test.",
            "P values are not corrected for multiple comparisons.",
        ]
    )
    if notes:
        report.heading("Notes")
        report.bullets(notes)
    report.images(["paired_plot.png"], ["Per-image values of each run; lines join the same image"])
    return report


def _write_outputs(
    out_dir: Path,
    tests: pd.DataFrame,
    document: Mapping[str, object],
    panels: Mapping[str, pd.DataFrame],
    report: Report,
) -> dict[str, Path]:
    """Write ``comparison.csv``, ``comparison.json``, ``paired_plot.png`` and ``comparison.md``."""
    paths: dict[str, Path] = {}
    with atomic_path(out_dir / "comparison.csv") as tmp:
        tests.to_csv(tmp, index=False)
    paths["comparison_csv"] = out_dir / "comparison.csv"
    paths["comparison_json"] = write_json_atomic(out_dir / "comparison.json", document)
    paths["paired_plot"] = plot_paired(
        panels, out_dir / "paired_plot.png", title="Per-image values (lines join the same image)"
    )
    paths["comparison_md"] = report.write(out_dir / "comparison.md")[0]
    return paths


def compare_runs(
    tables: Mapping[str, pd.DataFrame] | Sequence[str | Path] | None,
    out_dir: str | Path,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    n_boot: int = 10000,
    seed: int = 0,
    zero_method: str = "wilcox",
    names: Sequence[str] | None = None,
    arms: Mapping[str, Sequence[str | Path] | str | Path] | None = None,
    patient_level: str = "auto",
) -> ComparisonResult:
    """Compare every pair of runs (or arms) on the same test images and write the comparison files.

    Writes ``comparison.md`` (the paper's layout: metric | model A | model B | P (Wilcoxon) |
    P (t) | mean difference [95% CI] | effect sizes | n), ``comparison.json``, ``comparison.csv``
    and ``paired_plot.png`` into ``out_dir``.

    Args:
        tables: run name -> per-image table, or run folders / ``per_image.csv`` paths / globs;
            None when ``arms`` is given.
        out_dir: output folder (created when missing).
        metrics: per-image columns to compare; ``lesion_*`` columns are skipped (with a note)
            unless every run has them.
        n_boot: bootstrap resamples for the interval of the mean difference.
        seed: bootstrap seed.
        zero_method: Wilcoxon treatment of zero differences ("wilcox", "pratt" or "zsplit").
        names: display names of runs given as paths (default: their ``run_name``).
        arms: arm name -> its runs (folders, files or globs; one per training seed), instead of
            ``tables``: each image's value is its mean over the arm's seeds, and the spread
            across seeds is reported.
        patient_level: ``"auto"`` tests per-patient means (and bootstraps patients) when a
            patient has several images; ``"never"`` treats images as independent.

    Returns:
        The :class:`ComparisonResult`.

    Raises:
        InputError: fewer than two runs, unreadable tables or different test images.
        ConfigError: an unknown metric, bad names, zero_method or patient_level, or both
            ``tables`` and ``arms``.
    """
    if (tables is None) == (arms is None):
        raise ConfigError(
            "give the runs either as runs=[...] or as arms={name: [runs]}, one of the two"
        )
    seeds: dict[str, list[pd.DataFrame]] = {}
    if arms is not None:
        seeds = load_arm_tables(arms)
        tables = {arm: average_seeds(arm, runs) for arm, runs in seeds.items()}
    elif not isinstance(tables, Mapping):
        tables = load_run_tables(tables, names)
    if n_boot < 1:
        raise ConfigError(f"n_boot must be a positive number of bootstrap resamples, got {n_boot}")
    if zero_method not in WILCOXON_ZERO_METHODS:
        raise ConfigError(
            f"zero_method must be one of {WILCOXON_ZERO_METHODS}, got {zero_method!r}"
        )
    if patient_level not in PATIENT_LEVEL_CHOICES:
        raise ConfigError(
            f"patient_level must be one of {PATIENT_LEVEL_CHOICES}, got {patient_level!r}"
        )
    if not metrics:
        raise ConfigError("metrics is empty; name at least one per-image column, e.g. [dice]")
    aligned = align_tables(tables)
    skipped = [
        metric
        for metric in metrics
        if metric.startswith(OPTIONAL_PREFIX)
        and not all(metric in table.columns for table in aligned.values())
    ]
    metrics = [metric for metric in metrics if metric not in skipped]
    _check_columns(aligned, metrics)
    compared = [(metric, metric) for metric in metrics]
    compared += [
        (f"{class_name} pixels", column)
        for class_name, (column, _, _) in CLASS_COLUMNS.items()
        if all(column in table.columns for table in aligned.values())
    ]
    first = next(iter(aligned.values()))
    groups = (
        first["patient_id"].astype(str).to_numpy()
        if patient_level == "auto" and "patient_id" in first.columns
        else None
    )
    rows = []
    for run_a, run_b in itertools.combinations(aligned, 2):
        for label, column in compared:
            result = paired_test(
                aligned[run_a][column].to_numpy(dtype=float),
                aligned[run_b][column].to_numpy(dtype=float),
                groups=groups,
                n_boot=n_boot,
                seed=seed,
                zero_method=zero_method,
            )
            rows.append(
                {
                    "run_a": run_a,
                    "run_b": run_b,
                    "metric": label,
                    "column": column,
                    **result.to_dict(),
                }
            )
    tests = pd.DataFrame(rows)
    pooled = pooled_class_table(aligned)
    notes = _reference_notes(aligned)
    if skipped:
        notes.append(
            f"{', '.join(skipped)} skipped: not every run has lesion masks (lesion_* columns)"
        )
    small = sorted({r.note.split("; ")[-1] for r in tests.itertuples() if "unreliable" in r.note})
    notes += small
    notes += [
        f"{r.run_a} vs {r.run_b}, {r.metric}: {note}"
        for r in tests.itertuples()
        for note in r.note.split("; ")
        if note and "unreliable" not in note
    ]
    spread = seed_spread(seeds, metrics)
    settings = {
        "metrics": list(metrics),
        "n_boot": n_boot,
        "seed": seed,
        "zero_method": zero_method,
        "continuity_correction": False,
        "patient_level": patient_level,
        "unit": sorted(set(tests["unit"])) if not tests.empty else [],
        "ci": "paired BCa bootstrap over images, or percentile cluster bootstrap over patients; 95%",
        "effect_sizes": "rank-biserial r (matched pairs), Cohen's d_z",
        "tests": "two-sided",
        "arms": {arm: len(runs) for arm, runs in seeds.items()} or None,
    }
    document = _comparison_document(aligned, settings, tests, pooled, spread, notes)
    report = _comparison_report(tests, pooled, notes, aligned, settings, spread)
    panels = _paired_panels(aligned, metrics)
    paths = _write_outputs(Path(out_dir), tests, document, panels, report)
    return ComparisonResult(
        tests=tests, pooled_classes=pooled, notes=notes, paths=paths, seed_spread=spread
    )
