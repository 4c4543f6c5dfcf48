"""K-fold aggregation: mean ± SD and t interval across folds, run folders, globs, missing values."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from bus_seg.errors import InputError
from bus_seg.evaluation.kfold import aggregate_folds
from bus_seg.io.atomic import write_json_atomic

DICE = [0.71, 0.78, 0.69, 0.80, 0.75]


@pytest.fixture
def folds(tmp_path):
    """Five fold runs laid out as a training multirun: run metrics.json plus test/metrics.json."""
    for index, dice in enumerate(DICE):
        run = tmp_path / "multirun" / "2026-01-01" / str(index)
        write_json_atomic(
            run / "metrics.json", {"metrics": {"test/dice": dice + 0.01}, "seed": index}
        )
        evaluation = {
            "run_name": "train",
            "pooled/dice": dice,
            "pooled/tp": 100 + index,
            "per_image/dice/mean": dice - 0.02,
        }
        if index == 4:
            evaluation["per_image/recall/mean"] = None
        else:
            evaluation["per_image/recall/mean"] = 0.5 + 0.1 * index
        write_json_atomic(run / "test" / "metrics.json", evaluation)
        (run / "test" / "per_image.csv").write_text("image_id\nx\n")
    return tmp_path / "multirun"


def test_mean_sd_and_t_interval(folds, tmp_path) -> None:
    table = aggregate_folds([folds / "2026-01-01" / str(i) for i in range(5)], tmp_path / "out")
    dice = table.loc["pooled/dice"]
    assert dice.n_folds == 5
    assert dice["mean"] == pytest.approx(np.mean(DICE))
    assert dice.sd == pytest.approx(np.std(DICE, ddof=1))
    expected = stats.t.interval(0.95, df=4, loc=np.mean(DICE), scale=stats.sem(DICE))
    assert (dice.ci_low, dice.ci_high) == pytest.approx(expected)
    assert list(table.index[:1]) == ["pooled/dice"]  # pooled first, then per-image means
    assert "pooled/tp" not in table.index  # pixel counts are not averaged
    recall = table.loc["per_image/recall/mean"]
    assert recall.n_folds == 4 and recall["mean"] == pytest.approx(np.mean([0.5, 0.6, 0.7, 0.8]))


def test_glob_of_run_metrics_reads_the_evaluation_too(folds, tmp_path) -> None:
    out = tmp_path / "out"
    table = aggregate_folds(
        [str(folds / "*" / "*" / "metrics.json")], out, metrics=("metrics/test/*", "pooled/dice")
    )
    assert list(table.index) == ["metrics/test/dice", "pooled/dice"]
    assert list(table.columns[-5:]) == ["0", "1", "2", "3", "4"]
    document = json.loads((out / "kfold.json").read_text())
    assert document["metrics"]["pooled/dice"]["n_folds"] == 5
    assert document["metrics"]["pooled/dice"]["folds"]["2"] == pytest.approx(DICE[2])
    markdown = (out / "kfold.md").read_text()
    assert "| pooled/dice | 0.7460 ± 0.0462 |" in markdown
    assert (out / "kfold.csv").is_file()


def test_unknown_metric_and_empty_glob_are_refused(folds, tmp_path) -> None:
    with pytest.raises(InputError, match="no metric matches"):
        aggregate_folds([folds / "2026-01-01" / "0"], tmp_path / "out", metrics=("val/*",))
    with pytest.raises(InputError, match="matches no file"):
        aggregate_folds([str(tmp_path / "nothing" / "*")], tmp_path / "out")
    with pytest.raises(InputError, match="5 evaluations below"):
        aggregate_folds([folds], tmp_path / "out")
