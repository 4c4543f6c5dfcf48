"""``bus-seg-predict ckpt_path=<checkpoint> input=<image|folder|manifest.csv> [out_dir=<folder>]``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig

from bus_seg.cli.app import CONFIG_PATH, HYDRA_VERSION_BASE, exits_cleanly, require_values, run_app
from bus_seg.errors import ConfigError

if TYPE_CHECKING:
    from bus_seg.inference import Predictor

log = logging.getLogger(__name__)
BACKENDS = ("torch", "onnx")
USAGE = {
    "input": "bus-seg-predict ckpt_path=<run>/checkpoints/last.ckpt input=<image|folder|manifest.csv>"
}


def build_predictor(cfg: DictConfig) -> Predictor:
    """The predictor of ``cfg.backend``: eager PyTorch from ``ckpt_path``, or ONNX Runtime from
    ``onnx_path`` (exported from ``ckpt_path`` into the output folder when not given)."""
    if cfg.backend not in BACKENDS:
        raise ConfigError(f"backend={cfg.backend!r} is unknown; use one of {list(BACKENDS)}")
    if cfg.ckpt_path is None and (cfg.backend == "torch" or cfg.onnx_path is None):
        raise ConfigError(
            "set ckpt_path=<checkpoint of a bus-seg-train run> (or backend=onnx onnx_path=<model.onnx>)"
        )
    from bus_seg.inference import Predictor, export_checkpoint

    if cfg.backend == "torch":
        return Predictor.from_checkpoint(
            cfg.ckpt_path, cfg.device, cfg.channels_last, str(cfg.precision)
        )
    if cfg.device not in ("auto", "cpu"):
        raise ConfigError(
            f"backend=onnx runs on the CPU (CPUExecutionProvider); use device=cpu, not {cfg.device}"
        )
    onnx_path = cfg.onnx_path
    if onnx_path is None:
        result = export_checkpoint(cfg.ckpt_path, "onnx", Path(cfg.out_dir) / "model.onnx")
        log.info(
            "exported %s (max |logit difference| vs PyTorch %.2e)", result.path, result.max_abs_diff
        )
        onnx_path = result.path
    return Predictor.from_onnx(onnx_path, threads=cfg.onnx_threads)


def predict(cfg: DictConfig) -> Path:
    """Predict every image of ``cfg.input`` into ``cfg.out_dir``; returns the CSV path."""
    require_values(cfg, USAGE)
    predictor = build_predictor(cfg)
    from bus_seg.inference import collect_inputs, predict_to_folder

    inputs = collect_inputs(cfg.input, cfg.spacing_mm)
    run = predict_to_folder(
        predictor,
        inputs,
        cfg.out_dir,
        batch_size=cfg.batch_size,
        num_workers=cfg.num_workers,
        probability_format=cfg.probability_format,
        overlays=cfg.overlays,
        progress=cfg.progress,
        frames=cfg.frames,
    )
    failed = f" ({run.n_failed} could not be read: see the error column)" if run.n_failed else ""
    print(
        f"[bus_seg] predicted {len(run.table) - run.n_failed} of {len(run.table)} images{failed}. "
        f"table: {run.csv_path} | maps: {run.out_dir}/probabilities, {run.out_dir}/labels"
        + (f" | overlays: {run.out_dir}/overlays" if cfg.overlays else "")
    )
    return run.csv_path


@hydra.main(version_base=HYDRA_VERSION_BASE, config_path=CONFIG_PATH, config_name="predict")
@exits_cleanly
def _app(cfg: DictConfig) -> None:
    predict(cfg)


def main() -> None:
    """Console entry point of ``bus-seg-predict``."""
    run_app(_app, "predict", "bus-seg-predict")


if __name__ == "__main__":
    main()
