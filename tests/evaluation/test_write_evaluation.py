"""write_evaluation: every output file, consistent numbers, sane figures, report links."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bus_seg.evaluation.writer import overlay_file_name, write_evaluation
from bus_seg.training.eval_sample import EvalSample


@pytest.fixture
def evaluated(tmp_path, make_samples):
    samples = make_samples(4)
    samples[3].lesion_mask = None  # mixed: the lesion panel says so
    result = write_evaluation(
        samples,
        tmp_path / "eval",
        run_name="fcn",
        config_summary={"model": {"name": "fcn_resnet101"}, "seed": 0},
    )
    return result, tmp_path / "eval"


def test_writes_every_file(evaluated) -> None:
    result, out = evaluated
    names = {
        "per_image.csv",
        "metrics.json",
        "confusion_counts.csv",
        "confusion_normalized.csv",
        "confusion.png",
        "report.md",
        "report.html",
    }
    assert names <= {p.name for p in out.iterdir()}
    assert sorted(p.name for p in (out / "overlays").iterdir()) == [
        f"case_{i:03d}.png" for i in range(4)
    ]
    assert all(path.is_file() for path in result.paths.values())
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def test_files_agree_with_the_result(evaluated) -> None:
    result, out = evaluated
    document = json.loads((out / "metrics.json").read_text())
    assert document == json.loads(json.dumps(result.document))
    metrics = document["metrics"]
    assert metrics == result.metrics and document["schema"] == "bus_seg.metrics/2"
    assert document["run_name"] == "fcn"
    assert document["evaluation"]["n_images"] == 4 and document["evaluation"]["n_patients"] == 2
    assert {"commit", "dirty", "versions", "bus_seg_version", "command"} <= set(
        document["provenance"]
    )
    assert set(document["provenance"]["versions"]) == {
        "torch",
        "pytorch_lightning",
        "segmentation_models_pytorch",
        "torchmetrics",
    }
    assert "test/*" in document["metric_sources"]
    table = pd.read_csv(out / "per_image.csv", dtype={"image_id": str})
    assert list(table["image_id"]) == [f"case_{i:03d}" for i in range(4)]
    tp, fp, fn = table["tp"].sum(), table["fp"].sum(), table["fn"].sum()
    assert metrics["test/dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert metrics["test/per_image/dice/mean"] == pytest.approx(table["dice"].mean())
    assert metrics["test/per_image_dice"] == pytest.approx(table["dice"].mean())
    assert metrics["test/per_image/lesion_dice/n"] == 3
    assert metrics["test/lesion_dice"] == pytest.approx(table["lesion_dice"].mean())
    assert metrics["test/lesion_precision"] == pytest.approx(table["lesion_precision"].mean())
    assert metrics["test/lesion_fp_area_mm2"] == pytest.approx(table["lesion_fp_area_mm2"].mean())
    assert "dice" in document["rules"] and "recall" in document["rules"]
    counts = pd.read_csv(out / "confusion_counts.csv", index_col=0)
    assert counts.to_numpy().tolist() == [
        [metrics["test/counts/tn"], metrics["test/counts/fp"]],
        [metrics["test/counts/fn"], metrics["test/counts/tp"]],
    ]
    normalized = pd.read_csv(out / "confusion_normalized.csv", index_col=0)
    assert normalized.sum(axis=1).to_numpy() == pytest.approx([1.0, 1.0])


def test_figures_have_sane_sizes(evaluated) -> None:
    _, out = evaluated
    with Image.open(out / "confusion.png") as image:
        assert 400 < image.width < 1500 and 300 < image.height < 1200
    with Image.open(out / "overlays" / "case_000.png") as image:
        assert image.width > 2 * image.height > 400  # three panels side by side
        pixels = np.asarray(image.convert("RGB"))
        assert pixels.std() > 10  # not blank


def test_report_links_exist_and_rules_are_stated(evaluated) -> None:
    _, out = evaluated
    markdown = (out / "report.md").read_text()
    for link in re.findall(r"\]\(([^)]+)\)", markdown):
        assert (out / link).is_file(), link
    assert "fcn_resnet101" in markdown and "Empty-image rules" in markdown
    assert "| metric | pooled | per-image mean |" in markdown
    assert "whole-lesion Dice (per-image mean)" in markdown and "lesion precision" in markdown
    assert re.search(
        r"case_000: strip Dice [0-9.]+, whole-lesion Dice [0-9.]+, lesion precision", markdown
    )
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and '<img src="confusion.png"' in html


def test_max_overlays_draws_the_first_by_image_id(tmp_path, make_samples) -> None:
    samples = list(reversed(make_samples(3, lesion=False)))
    result = write_evaluation(samples, tmp_path, max_overlays=1)
    assert [p.name for p in (tmp_path / "overlays").iterdir()] == ["case_000.png"]
    assert [k for k in result.paths if k.startswith("overlay/")] == ["overlay/case_000"]
    assert (
        write_evaluation(samples, tmp_path / "none", max_overlays=0).paths.get("overlay/case_000")
        is None
    )


def test_overlay_names_are_safe_for_paths() -> None:
    assert overlay_file_name("patient 1/left:us") == "patient_1_left_us.png"


def test_empty_and_all_unlabelled_inputs(tmp_path) -> None:
    from bus_seg.errors import InputError

    with pytest.raises(InputError, match="no evaluated image"):
        write_evaluation([], tmp_path)
    unlabelled = EvalSample(
        "u",
        "p",
        np.zeros((8, 8), np.uint8),
        np.full((8, 8), 255, np.uint8),
        np.zeros((8, 8), np.uint8),
    )
    result = write_evaluation([unlabelled], tmp_path / "u")
    assert result.metrics["test/dice"] is None  # nothing labelled: NaN (stored as null), never 1.0
    assert result.metrics["test/pixel_acc"] is None
    assert result.metrics["test/per_image/dice/n"] == 0
