"""``bus-seg-eval ckpt_path=<checkpoint>``: evaluate a trained model on its test subset."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from bus_seg.cli.app import CONFIG_PATH, HYDRA_VERSION_BASE, exits_cleanly
from bus_seg.training.evaluate import evaluate


@hydra.main(version_base=HYDRA_VERSION_BASE, config_path=CONFIG_PATH, config_name="eval")
@exits_cleanly
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
