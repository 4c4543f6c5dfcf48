"""``bus-seg-train``: train and test one experiment (``-m`` for multiruns)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from bus_seg.cli.app import CONFIG_PATH, HYDRA_VERSION_BASE, exits_cleanly
from bus_seg.training.train import train


@hydra.main(version_base=HYDRA_VERSION_BASE, config_path=CONFIG_PATH, config_name="train")
@exits_cleanly
def main(cfg: DictConfig) -> float | None:
    """Train, test, and return the optimised metric (for sweepers)."""
    metrics, _ = train(cfg)
    return metrics.get(cfg.get("optimized_metric") or "")


if __name__ == "__main__":
    main()
