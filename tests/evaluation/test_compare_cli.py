"""bus-seg-compare and the k-fold CLI: bare paths become runs=[...], Hydra runs the comparison."""

from __future__ import annotations

import sys

import pytest

from bus_seg.cli import compare as compare_cli
from bus_seg.cli import kfold as kfold_cli
from bus_seg.cli.compare import positional_runs_to_override
from bus_seg.errors import ConfigError
from bus_seg.evaluation.writer import write_evaluation


def test_bare_paths_become_one_runs_override() -> None:
    argv = [
        "bus-seg-compare",
        "runs/fcn",
        "n_boot=100",
        "runs/it's",
        "-cn",
        "compare",
        "--multirun",
    ]
    assert positional_runs_to_override(argv) == [
        "bus-seg-compare",
        "n_boot=100",
        "-cn",
        "compare",
        "--multirun",
        "runs=['runs/fcn','runs/it\\'s']",
    ]
    unchanged = ["bus-seg-compare", "runs=[a,b]", "--info", "config"]
    assert positional_runs_to_override(unchanged) == unchanged
    with pytest.raises(ConfigError, match="not both"):
        positional_runs_to_override(["bus-seg-compare", "a", "runs=[b]"])


@pytest.fixture
def two_runs(tmp_path, make_samples):
    write_evaluation(
        make_samples(4, seed=2), tmp_path / "fcn" / "test", run_name="FCN-101", max_overlays=0
    )
    write_evaluation(
        make_samples(4, seed=2, shift=5),
        tmp_path / "deep lab" / "test",
        run_name="DeepLabV3",
        max_overlays=0,
    )
    return tmp_path


def test_compare_cli_with_bare_paths(two_runs, monkeypatch, capsys) -> None:
    out = two_runs / "cmp"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "bus-seg-compare",
            str(two_runs / "fcn"),
            str(two_runs / "deep lab"),
            "n_boot=200",
            f"out_dir={out}",
            f"hydra.run.dir={two_runs / 'hydra'}",
        ],
    )
    compare_cli.main()
    assert "comparison.md" in capsys.readouterr().out
    assert "| dice |" in (out / "comparison.md").read_text()
    assert (out / "paired_plot.png").is_file()


def test_compare_cli_reports_bad_input_cleanly(two_runs, monkeypatch, capsys) -> None:
    monkeypatch.setattr(
        sys,
        "argv",
        ["bus-seg-compare", str(two_runs / "fcn"), f"hydra.run.dir={two_runs / 'hydra'}"],
    )
    with pytest.raises(SystemExit) as info:
        compare_cli.main()
    assert info.value.code == 2
    assert "at least two runs" in capsys.readouterr().err


def test_kfold_cli_with_a_glob(two_runs, monkeypatch) -> None:
    out = two_runs / "kfold"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "kfold",
            str(two_runs / "*" / "test"),
            "metrics=[test/dice,test/lesion_dice]",
            f"out_dir={out}",
            f"hydra.run.dir={two_runs / 'hydra'}",
        ],
    )
    kfold_cli.main()
    markdown = (out / "kfold.md").read_text()
    assert "test/dice" in markdown and "test/lesion_dice" in markdown
