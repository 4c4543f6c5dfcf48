"""log_evaluation_to_wandb in offline mode: table, confusion matrix and (optionally) masked images."""

from __future__ import annotations

import pytest

from bus_seg.evaluation.wandb_logging import log_evaluation_to_wandb
from bus_seg.evaluation.writer import write_evaluation

wandb = pytest.importorskip("wandb")


@pytest.mark.parametrize("log_images", [False, True])
def test_offline_run_holds_the_logged_media(
    tmp_path, make_samples, monkeypatch, log_images: bool
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    result = write_evaluation(make_samples(3), tmp_path / "eval", max_overlays=0)
    run = wandb.init(project="bus_seg_tests", dir=tmp_path, mode="offline")
    try:
        log_evaluation_to_wandb(result, run, log_images=log_images, max_images=2)
        assert run.summary["test/dice"] == pytest.approx(result.metrics["test/dice"])
        for name in ("lesion_dice", "lesion_precision", "lesion_fp_area_mm2"):  # whole lesion
            assert run.summary[f"test/{name}"] == pytest.approx(result.metrics[f"test/{name}"])
    finally:
        run.finish()
    media = tmp_path / "wandb" / "latest-run" / "files" / "media"
    tables = {p.name.split("_0_")[0] for p in (media / "table" / "test").iterdir()}
    assert tables == {"per_image", "confusion_matrix"}
    images = sorted(p.name.split("_0_")[0] for p in (media / "images" / "test").iterdir())
    masks = list((media / "images").glob("mask/**/*.png"))
    if log_images:
        assert images == ["confusion", "overlays", "overlays"]
        assert len(masks) == 4  # reference and prediction for 2 images
    else:
        assert images == ["confusion"] and not masks
