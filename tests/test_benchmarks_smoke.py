"""Smoke runs of the benchmark scripts (``--quick``): they run end to end and record their results.

Timings are never asserted (tests do not measure speed); the recorded figures of each benchmark
live in ``experiments/benchmarks/<name>/results.md``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "experiments" / "benchmarks"
PROVENANCE_KEYS = {
    "benchmark",
    "command",
    "seed",
    "threads",
    "settings",
    "date",
    "commit",
    "machine",
    "loadavg_start",
    "loadavg_end",
    "figures",
}


def load_script(name: str) -> ModuleType:
    """``experiments/benchmarks/<name>/run.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / name / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_quick(name: str, out_dir: Path, *extra: str) -> dict:
    """Run a benchmark's ``main`` with ``--quick`` into ``out_dir``; its results.json."""
    load_script(name).main(["--quick", "--threads", "1", "--out-dir", str(out_dir), *extra])
    result = json.loads((out_dir / "results.json").read_text())
    assert set(result) >= PROVENANCE_KEYS
    assert result["benchmark"] == name and result["machine"]["cpus"] >= 1
    assert (out_dir / "results.md").read_text().startswith("# ")
    return result


def test_training_step_records_every_arm(tmp_path: Path) -> None:
    figures = run_quick("training_step", tmp_path)["figures"]
    for clock in ("wall", "cpu"):
        assert set(figures[clock]["step_s_median"]) == {"torch", "lightning", "lightning_csv"}
        assert figures[clock]["ratio_to_torch"]["torch"] == 1.0
    assert figures["verdict_clock"] == "cpu" and isinstance(figures["meets_target"], bool)


def test_data_pipeline_compares_served_and_consumed_rates(tmp_path: Path) -> None:
    figures = run_quick("data_pipeline", tmp_path)["figures"]
    synthetic = figures["modules"]["synthetic"]
    assert synthetic["served_samples_per_s"] > 0 and synthetic["consumed_samples_per_s"] > 0
    assert synthetic["epochs"] >= 2 and len(synthetic["epoch_s"]) == synthetic["epochs"]


def test_inference_latency_compares_variants_with_eager(tmp_path: Path) -> None:
    figures = run_quick("inference_latency", tmp_path)["figures"]
    (model,) = figures["models"].values()
    assert set(model["variants"]) == {
        "eager",
        "channels_last",
        "bf16",
        "channels_last_bf16",
        "onnx",
    }
    eager = model["variants"]["eager"]
    assert eager["pixel_agreement_with_eager"] == 1.0 and eager["speedup_vs_eager"] == 1.0
    assert model["variants"]["onnx"]["pixel_agreement_with_eager"] > 0.99


def test_registration_simulation_times_cold_and_cached_cases(tmp_path: Path) -> None:
    figures = run_quick("registration_simulation", tmp_path)["figures"]
    cold, cached = (
        figures["registration"]["cold_workers1"],
        figures["registration"]["cached_workers1"],
    )
    assert cold["registered"] == cold["cases"] == 1 and cold["cache_hits"] == 0
    assert cached["cache_hits"] == 1
    assert len(figures["simulation"]["per_case_in_process"]["seconds"]) == 1


@pytest.mark.slow
def test_data_pipeline_times_the_registration_cache(tmp_path: Path) -> None:
    figures = run_quick("data_pipeline", tmp_path, "--modules", "registered", "--cases", "6")[
        "figures"
    ]
    registered = figures["modules"]["registered"]
    assert registered["cases_registered"] == registered["cases"] == 6
    assert registered["prepare_data_first_s"] > 0 and registered["prepare_data_second_s"] > 0


@pytest.mark.slow  # about 30 s: a simulated scanner slide, three registrations in fresh processes
def test_registration_scanner_resolution_compares_the_paths(tmp_path: Path) -> None:
    figures = run_quick("registration_scanner_resolution", tmp_path)["figures"]
    baseline = figures.pop("baseline")
    (entry,) = figures.values()
    summary = entry["summary"]
    assert summary["cases"] == 1 and summary["labels_identical"] == 1
    # the pre-issue registration comes from git history: absent from a shallow clone
    before = [] if baseline["unavailable"] else ["before"]
    assert summary["paths"] == ["new", "whole", *before]
    for path in summary["paths"]:
        assert summary[path]["median_cpu_s"] > 0 and summary[path]["median_peak_rss_mb"] > 0
        assert summary[path]["mean_dice"] >= 0.99
    for reference in ["whole", *before]:
        assert summary[f"{reference}_over_new"]["cpu_s"] > 0


def test_regulariser_cost_records_every_loss(tmp_path: Path) -> None:
    figures = run_quick("regularisers", tmp_path)["figures"]
    assert set(figures["ratio_to_ce"]) == {
        "ce",
        "ce + crf",
        "ce + compactness",
        "ce + entropy",
        "ce + compactness + crf",
        "ce + compactness + crf + entropy",
        "ce + compactness + crf + entropy + box",
    }
    assert figures["ratio_to_ce"]["ce"] == 1.0 and isinstance(figures["target_met"], bool)


def test_scanner_benchmark_records_a_missing_baseline_instead_of_failing(tmp_path: Path) -> None:
    script = load_script("registration_scanner_resolution")
    folder, why = script.unpack_baseline("0" * 40, tmp_path)
    assert folder is None and "git archive 0000000 failed" in why
    assert script.unpack_baseline("none", tmp_path) == (None, "skipped (--baseline-commit none)")
