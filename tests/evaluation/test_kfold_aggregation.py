"""K-fold aggregation: mean ± SD and t interval across folds, run folders, globs, missing values."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from bus_seg.errors import InputError
from bus_seg.evaluation.kfold import aggregate_folds, metric_range
from bus_seg.io.atomic import write_json_atomic

DICE = [0.71, 0.78, 0.69, 0.80, 0.75]
SCHEMA = "bus_seg.metrics/2"


@pytest.fixture
def folds(tmp_path):
    """Five fold runs laid out as a training multirun: run metrics.json plus test/metrics.json,
    beside the multirun's own multirun.yaml and multirun_summary.csv."""
    sweep = tmp_path / "multirun" / "2026-01-01"
    for index, dice in enumerate(DICE):
        run = sweep / str(index)
        run_metrics = {"test/dice": dice, "test/lesion_dice": dice - 0.3, "val/dice": dice + 0.05}
        write_json_atomic(
            run / "metrics.json", {"schema": SCHEMA, "metrics": run_metrics, "seed": index}
        )
        evaluation = {
            "test/dice": dice,
            "test/counts/tp": 100 + index,
            "test/per_image/dice/mean": dice - 0.02,
            "test/per_image/recall/mean": None if index == 4 else 0.5 + 0.1 * index,
        }
        write_json_atomic(
            run / "test" / "metrics.json",
            {"schema": SCHEMA, "metrics": evaluation, "run_name": "train"},
        )
        (run / "test" / "per_image.csv").write_text("image_id\nx\n")
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    (sweep / "multirun_summary.csv").write_text("job,status\n0,ok\n")
    return tmp_path / "multirun"


def test_mean_sd_and_t_interval(folds, tmp_path) -> None:
    table = aggregate_folds([folds / "2026-01-01" / str(i) for i in range(5)], tmp_path / "out")
    dice = table.loc["test/dice"]
    assert dice.n_folds == 5
    assert dice["mean"] == pytest.approx(np.mean(DICE))
    assert dice.sd == pytest.approx(np.std(DICE, ddof=1))
    expected = stats.t.interval(0.95, df=4, loc=np.mean(DICE), scale=stats.sem(DICE))
    assert (dice.ci_low, dice.ci_high) == pytest.approx(expected) and not dice.clipped
    assert "test/lesion_dice" in table.index  # whole-lesion figures aggregated too
    assert "test/counts/tp" not in table.index  # pixel counts are not averaged
    assert not [name for name in table.index if name.startswith("test/per_image/")]  # details
    recall = aggregate_folds(
        [folds / "2026-01-01"], tmp_path / "out2", metrics=("test/per_image/recall/mean",)
    ).loc["test/per_image/recall/mean"]
    assert recall.n_folds == 4 and recall["mean"] == pytest.approx(np.mean([0.5, 0.6, 0.7, 0.8]))


def test_the_readme_glob_and_a_folder_of_runs_work(folds, tmp_path) -> None:
    by_glob = aggregate_folds([str(folds / "2026-01-01" / "*")], tmp_path / "glob")
    by_folder = aggregate_folds([folds / "2026-01-01"], tmp_path / "folder")
    assert list(by_glob.columns[-5:]) == ["0", "1", "2", "3", "4"]
    assert by_glob["mean"].to_dict() == pytest.approx(by_folder["mean"].to_dict())
    document = json.loads((tmp_path / "glob" / "kfold.json").read_text())
    assert document["metrics"]["test/dice"]["folds"]["2"] == pytest.approx(DICE[2])
    assert "| test/dice | 0.7460 ± 0.0462 |" in (tmp_path / "glob" / "kfold.md").read_text()


def test_intervals_stay_within_the_metric_range(tmp_path) -> None:
    for index, recall in enumerate([0.30, 0.99]):
        write_json_atomic(
            tmp_path / "runs" / str(index) / "metrics.json",
            {"schema": SCHEMA, "metrics": {"test/recall": recall, "test/hd95_mm": 1.0 + 5 * index}},
        )
    table = aggregate_folds([str(tmp_path / "runs" / "*")], tmp_path / "out")
    raw = stats.t.interval(0.95, df=1, loc=0.645, scale=stats.sem([0.30, 0.99]))
    assert raw[0] < 0 and raw[1] > 1  # what an unclipped t-interval of 2 folds gives
    recall = table.loc["test/recall"]
    assert (recall.ci_low, recall.ci_high) == (0.0, 1.0) and recall.clipped
    hd95 = table.loc["test/hd95_mm"]
    assert hd95.ci_low == 0.0 and hd95.ci_high > 6 and hd95.clipped
    assert metric_range("test/lesion_fp_area_mm2") == (0.0, None)
    assert "*" in (tmp_path / "out" / "kfold.md").read_text()


def test_older_metrics_files_are_still_read(tmp_path) -> None:
    for index, dice in enumerate(DICE[:3]):
        write_json_atomic(tmp_path / str(index) / "metrics.json", {"metrics": {"test/dice": dice}})
    table = aggregate_folds([str(tmp_path / "*")], tmp_path / "out", metrics=("metrics/test/*",))
    assert table.loc["metrics/test/dice"]["mean"] == pytest.approx(np.mean(DICE[:3]))


def test_unknown_metric_and_empty_glob_are_refused(folds, tmp_path) -> None:
    with pytest.raises(InputError, match="no metric matches"):
        aggregate_folds([folds / "2026-01-01" / "0"], tmp_path / "out", metrics=("train/*",))
    with pytest.raises(InputError, match="matches no run"):
        aggregate_folds([str(tmp_path / "nothing" / "*")], tmp_path / "out")
    with pytest.raises(InputError, match="matches no run"):
        aggregate_folds([str(folds / "2026-01-01" / "multirun*")], tmp_path / "out")
