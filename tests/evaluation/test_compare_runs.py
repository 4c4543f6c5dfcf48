"""Paired comparison of runs: alignment, refusal of different image sets, per-class numbers, files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from bus_seg.errors import ConfigError, InputError
from bus_seg.evaluation.compare import compare_runs
from bus_seg.evaluation.writer import write_evaluation


def table(ids: list[str], counts: list[tuple[int, int, int, int]]) -> pd.DataFrame:
    """A per-image table from (tp, fp, tn, fn) per image, with the ratios the evaluation writes."""
    tp, fp, tn, fn = (np.array(c, dtype=float) for c in zip(*counts, strict=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(
            {
                "image_id": ids,
                "pixel_acc": (tp + tn) / (tp + fp + tn + fn),
                "dice": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 1.0),
                "recall": tp / (tp + fn),
                "specificity": tn / (tn + fp),
                "tp": tp.astype(int),
                "fp": fp.astype(int),
                "tn": tn.astype(int),
                "fn": fn.astype(int),
            }
        )


IDS = ["a", "b", "c", "d"]
# run A: cancer pixels found 8/10, 5/10, 0/0 (no cancer), 9/10; non-cancer kept 18/20, 10/10, 5/10, 20/20
RUN_A = table(IDS, [(8, 2, 18, 2), (5, 0, 10, 5), (0, 5, 5, 0), (9, 0, 20, 1)])
# run B on the same images, listed in another order
RUN_B = table(["d", "c", "b", "a"], [(6, 1, 19, 4), (0, 0, 10, 0), (7, 3, 7, 3), (4, 1, 19, 6)])


def test_per_class_numbers_on_a_hand_case(tmp_path) -> None:
    result = compare_runs({"A": RUN_A, "B": RUN_B}, tmp_path, n_boot=500)
    pooled = result.pooled_classes.set_index(["run", "class"])
    assert pooled.loc[("A", "cancer"), "reference_pixels"] == 30
    assert pooled.loc[("A", "cancer"), "correct_pixels"] == 22
    assert pooled.loc[("A", "non-cancer"), "accuracy"] == pytest.approx(53 / 60)
    assert pooled.loc[("B", "cancer"), "accuracy"] == pytest.approx(17 / 30)
    assert pooled.loc[("B", "non-cancer"), "accuracy"] == pytest.approx(55 / 60)
    rows = result.tests.set_index("metric")
    cancer = rows.loc["cancer pixels"]
    # image c has no cancer pixel in the reference: recall undefined, left out of the pairs
    assert cancer.n == 3
    assert cancer.mean_a == pytest.approx(np.mean([8 / 10, 5 / 10, 9 / 10]))
    assert cancer.mean_b == pytest.approx(np.mean([4 / 10, 7 / 10, 6 / 10]))
    non_cancer = rows.loc["non-cancer pixels"]
    a_spec = np.array([18 / 20, 10 / 10, 5 / 10, 20 / 20])
    b_spec = np.array([19 / 20, 7 / 10, 10 / 10, 19 / 20])
    assert non_cancer.n == 4
    assert non_cancer.mean_diff == pytest.approx(np.mean(a_spec - b_spec))
    assert non_cancer.p_ttest == pytest.approx(stats.ttest_rel(a_spec, b_spec).pvalue)


def test_metric_rows_match_scipy_after_alignment(tmp_path) -> None:
    result = compare_runs(
        {"A": RUN_A, "B": RUN_B}, tmp_path, metrics=("dice", "pixel_acc"), n_boot=500
    )
    dice = result.tests.set_index("metric").loc["dice"]
    a = RUN_A.set_index("image_id")["dice"].loc[IDS].to_numpy()
    b = RUN_B.set_index("image_id")["dice"].loc[IDS].to_numpy()
    assert dice.p_wilcoxon == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert dice.p_ttest == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert dice.mean_diff == pytest.approx(np.mean(a - b))


def test_different_image_sets_are_refused_naming_the_ids(tmp_path) -> None:
    other = RUN_B.assign(image_id=["d", "c", "b", "z"])
    with pytest.raises(InputError, match="different test images") as info:
        compare_runs({"A": RUN_A, "B": other}, tmp_path, n_boot=100)
    message = str(info.value)
    assert "only in 'A': a" in message and "only in 'B': z" in message


def test_bad_settings_are_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no column \\['hd95_mm'\\]"):
        compare_runs({"A": RUN_A, "B": RUN_B}, tmp_path, metrics=("hd95_mm",), n_boot=100)
    with pytest.raises(ConfigError, match="zero_method"):
        compare_runs({"A": RUN_A, "B": RUN_B}, tmp_path, zero_method="drop", n_boot=100)
    with pytest.raises(InputError, match="at least two runs"):
        compare_runs({"A": RUN_A}, tmp_path, n_boot=100)


def test_runs_from_folders_write_every_output(tmp_path, make_samples) -> None:
    write_evaluation(
        make_samples(6, seed=1), tmp_path / "fcn" / "test", run_name="FCN-101", max_overlays=0
    )
    write_evaluation(
        make_samples(6, seed=1, shift=6),
        tmp_path / "deeplab" / "test",
        run_name="DeepLabV3",
        max_overlays=0,
    )
    write_evaluation(
        make_samples(6, seed=1, shift=-3), tmp_path / "smp" / "test", run_name="smp", max_overlays=0
    )
    out = tmp_path / "comparison"
    result = compare_runs(
        [tmp_path / "fcn", tmp_path / "deeplab", tmp_path / "smp"], out, n_boot=300
    )
    assert set(result.tests["run_a"] + " vs " + result.tests["run_b"]) == {
        "FCN-101 vs DeepLabV3",
        "FCN-101 vs smp",
        "DeepLabV3 vs smp",
    }
    # 3 pairs × (3 strip metrics + 3 whole-lesion metrics + 2 classes)
    assert len(result.tests) == 3 * 8
    assert {"lesion_dice", "lesion_precision", "lesion_fp_area_mm2"} <= set(result.tests["metric"])
    assert set(result.tests["unit"]) == {"patient"}  # 6 images of 3 patients
    assert (result.tests["n"] == 3).all() and (result.tests["n_images"] == 6).all()
    markdown = (out / "comparison.md").read_text()
    assert (
        "| metric | FCN-101 | DeepLabV3 | P (Wilcoxon) | P (t) | mean diff FCN-101 − DeepLabV3 [95% CI] "
        "| r (rank-biserial) | d_z | n |" in markdown
    )
    assert "| 3 patients (6 images) |" in markdown
    assert "without continuity correction" in markdown and "cluster bootstrap" in markdown
    assert "only 3 patients" in markdown
    document = json.loads((out / "comparison.json").read_text())
    assert document["runs"] == ["FCN-101", "DeepLabV3", "smp"] and len(document["tests"]) == 24
    assert len(pd.read_csv(out / "comparison.csv")) == 24
    with Image.open(out / "paired_plot.png") as image:
        assert image.width > 600 and image.height > 300
    assert not list(out.glob(".*tmp*"))


def test_repeated_run_names_fall_back_to_folder_names(tmp_path, make_samples) -> None:
    for name, shift in (("run1", 0), ("run2", 4)):
        write_evaluation(
            make_samples(3, shift=shift), tmp_path / name / "test", run_name="train", max_overlays=0
        )
    result = compare_runs([tmp_path / "run1", tmp_path / "run2"], tmp_path / "out", n_boot=100)
    assert list(result.tests[["run_a", "run_b"]].iloc[0]) == ["run1", "run2"]


def test_runs_without_lesion_masks_skip_the_lesion_metrics(tmp_path) -> None:
    result = compare_runs({"A": RUN_A, "B": RUN_B}, tmp_path, n_boot=100)
    assert "lesion_dice" not in set(result.tests["metric"])
    assert any("skipped: not every run has lesion masks" in note for note in result.notes)


def test_several_seeds_per_arm(tmp_path, make_samples) -> None:
    """Two arms of three seeds each (as a 3-seed multirun per arm): each image's value is its mean
    over the seeds, and the spread across seeds is reported."""
    for arm, shift in (("fcn", 0), ("deeplab", 5)):
        for seed in range(3):
            write_evaluation(
                make_samples(4, seed=1, shift=shift + seed),
                tmp_path / arm / str(seed) / "test",
                run_name=arm,
                max_overlays=0,
            )
        (tmp_path / arm / "multirun.yaml").write_text("hydra: {}\n")
    result = compare_runs(
        None,
        tmp_path / "out",
        arms={"fcn": [str(tmp_path / "fcn" / "*")], "deeplab": [tmp_path / "deeplab"]},
        metrics=("dice", "lesion_dice"),
        n_boot=200,
    )
    seeds = [
        pd.read_csv(tmp_path / "fcn" / str(seed) / "test" / "per_image.csv") for seed in range(3)
    ]
    expected = np.mean([t["dice"].to_numpy() for t in seeds], axis=0).mean()
    dice = result.tests.set_index("metric").loc["dice"]
    assert dice.mean_a == pytest.approx(expected)
    spread = result.seed_spread.set_index(["arm", "metric"])
    per_seed = [t["dice"].mean() for t in seeds]
    assert spread.loc[("fcn", "dice"), "n_seeds"] == 3
    assert spread.loc[("fcn", "dice"), "sd"] == pytest.approx(np.std(per_seed, ddof=1))
    assert spread.loc[("fcn", "dice"), "min"] == pytest.approx(min(per_seed))
    assert "Spread across seeds" in (tmp_path / "out" / "comparison.md").read_text()
    with pytest.raises(ConfigError, match="one of the two"):
        compare_runs([tmp_path / "fcn"], tmp_path / "out", arms={"a": [tmp_path / "fcn"]})


def test_a_3_seed_multirun_is_accepted(tmp_path, make_samples) -> None:
    """The runs of ``-m seed=1,2,3`` share one test set (data.split_seed): the multirun glob
    compares them, skipping multirun.yaml and multirun_summary.csv."""
    sweep = tmp_path / "multiruns" / "2026-01-01"
    for job in range(3):
        write_evaluation(
            make_samples(4, seed=1, shift=job),
            sweep / str(job) / "test",
            run_name="train",
            max_overlays=0,
        )
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    (sweep / "multirun_summary.csv").write_text("job,status\n0,ok\n")
    result = compare_runs([str(sweep / "*")], tmp_path / "out", metrics=("dice",), n_boot=100)
    assert set(result.tests["run_a"]) | set(result.tests["run_b"]) == {"0", "1", "2"}
