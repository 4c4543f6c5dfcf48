"""logger=mlflow writes a local run that MLflow's own client reads back (params, metrics, the
evaluation as artifacts, the tags); logger=tensorboard writes event files; debug configs keep
the logger asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus_seg.train import train

TINY = [
    "data=synthetic",
    "data.num_images=8",
    "data.size=32",
    "data.image_size=32",
    "data.batch_size=4",
    "evaluation.max_overlays=1",
]


def test_mlflow_run_reads_back(compose_config) -> None:
    mlflow = pytest.importorskip("mlflow", reason="logger=mlflow needs the mlflow extra")
    cfg = compose_config("logger=mlflow", "debug=fdr", "tags=[probe,cpu]", *TINY)
    metrics, _ = train(cfg)
    client = mlflow.MlflowClient(f"sqlite:///{cfg.paths.output_dir}/mlflow.db")
    (experiment,) = [e for e in client.search_experiments() if e.name == "debug"]
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "debug"
    assert run.data.params["model/name"] == cfg.model.name
    assert run.data.metrics["test/dice"] == pytest.approx(metrics["test/dice"])
    assert {"probe", "cpu"} <= set(run.data.tags)
    files = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {
        "evaluation/report.html",
        "evaluation/per_image.csv",
        "evaluation/confusion.png",
    } <= files


def test_tensorboard_and_debug_keep_the_logger(compose_config) -> None:
    pytest.importorskip("tensorboardX", reason="logger=tensorboard needs the tensorboard extra")
    cfg = compose_config("logger=tensorboard", "debug=fdr", *TINY, "test=false")
    assert "tensorboard" in cfg.logger, "debug=fdr keeps the logger"
    train(cfg)
    events = list((Path(cfg.paths.output_dir) / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


@pytest.mark.parametrize("debug", ["fdr", "limit", "overfit"])
def test_debug_configs_keep_the_chosen_logger(compose_config, debug: str) -> None:
    cfg = compose_config("logger=wandb", f"debug={debug}")
    assert "wandb" in cfg.logger and not cfg.trainer.get("fast_dev_run")
