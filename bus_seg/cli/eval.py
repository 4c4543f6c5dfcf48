"""``bus-seg-eval ckpt_path=<checkpoint>``: evaluate a trained model on its test subset."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from bus_seg.cli.app import CONFIG_PATH, HYDRA_VERSION_BASE, exits_cleanly, require_values, run_app

USAGE = {"ckpt_path": "bus-seg-eval ckpt_path=logs/train/runs/<date>/checkpoints/last.ckpt"}


@hydra.main(version_base=HYDRA_VERSION_BASE, config_path=CONFIG_PATH, config_name="eval")
@exits_cleanly
def _app(cfg: DictConfig) -> None:
    require_values(cfg, USAGE)
    from bus_seg.cli.devices import check_accelerator

    check_accelerator(cfg.trainer)
    from bus_seg.evaluate import evaluate

    evaluate(cfg)


def main() -> None:
    """Console entry point of ``bus-seg-eval``."""
    run_app(_app, "eval", "bus-seg-eval")


if __name__ == "__main__":
    main()
