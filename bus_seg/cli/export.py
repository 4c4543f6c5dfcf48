"""``bus-seg-export ckpt_path=<checkpoint> [format=onnx|torchscript] [out_path=...]`` (also
``python -m bus_seg.cli.export``): export a trained network, check its logits against eager
PyTorch, and write the parity report beside the model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig

from bus_seg.cli.app import CONFIG_PATH, HYDRA_VERSION_BASE, exits_cleanly, require_values, run_app

if TYPE_CHECKING:
    from bus_seg.inference import ExportResult

USAGE = {"ckpt_path": "bus-seg-export ckpt_path=logs/train/runs/<date>/checkpoints/last.ckpt"}


def export(cfg: DictConfig) -> ExportResult:
    """Export, check parity, and write ``<out_path>.parity.json`` beside the model."""
    require_values(cfg, USAGE)
    from bus_seg.inference import export_checkpoint
    from bus_seg.io.atomic import write_json_atomic

    result = export_checkpoint(
        cfg.ckpt_path, cfg.format, cfg.out_path, cfg.opset, cfg.parity_batch_size
    )
    report = result.path.with_name(result.path.name + ".parity.json")
    write_json_atomic(report, result.as_dict())
    print(
        f"[bus_seg] exported {result.format}: {result.path} | max |logit difference| vs PyTorch on "
        f"{list(result.parity_inputs)} inputs: {result.max_abs_diff:.2e} | parity: {report}"
    )
    return result


@hydra.main(version_base=HYDRA_VERSION_BASE, config_path=CONFIG_PATH, config_name="export")
@exits_cleanly
def _app(cfg: DictConfig) -> None:
    export(cfg)


def main() -> None:
    """Console entry point of ``bus-seg-export``."""
    run_app(_app, "export", "bus-seg-export")


if __name__ == "__main__":
    main()
