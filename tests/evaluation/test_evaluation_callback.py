"""The LightningModule's test stage only collects; the EvaluationCallback scores, logs and writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
from hydra.utils import instantiate

from bus_seg.evaluation.callback import EvaluationCallback
from bus_seg.training.builders import build_module

DATA = ["data=synthetic", "data.num_images=6", "data.size=64", "data.image_size=64"]


def _test(cfg, model, callbacks: list[pl.Callback]) -> dict[str, float]:
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    trainer.test(model, datamodule=instantiate(cfg.data), verbose=False)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    from bus_seg.config import compose_config

    out = tmp_path_factory.mktemp("run")
    cfg = compose_config([*DATA, "model=tiny", "trainer=cpu"], output_dir=out)
    pl.seed_everything(0)
    return cfg, build_module(cfg)


def test_the_test_stage_alone_collects_and_logs_nothing(setup) -> None:
    cfg, model = setup
    metrics = _test(cfg, model, [])
    assert not any(key.startswith("test/") for key in metrics)
    samples = model.gather_test_samples()
    assert samples and [s.image_id for s in samples] == sorted(s.image_id for s in samples)


def test_the_callback_scores_logs_and_writes(setup, tmp_path: Path) -> None:
    cfg, model = setup
    scored_only = EvaluationCallback()
    metrics = _test(cfg, model, [scored_only])
    assert {"test/dice", "test/net_dice", "test/per_image_dice"} <= set(metrics)
    assert scored_only.result is None

    writing = EvaluationCallback(tmp_path / "test", run_name="probe", max_overlays=0)
    again = _test(cfg, model, [writing])
    assert again == pytest.approx(metrics, nan_ok=True)
    assert writing.result is not None
    assert (tmp_path / "test" / "per_image.csv").is_file()
    assert (tmp_path / "test" / "report.md").is_file()
    assert len(writing.result.per_image) == len(model.gather_test_samples())
