"""``bus-seg-train``: train and test one experiment (``-m`` for multiruns and sweeps)."""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from bus_seg.cli.app import CONFIG_PATH, HYDRA_VERSION_BASE, exits_cleanly, run_app

log = logging.getLogger(__name__)


def optimized_value(metrics: dict[str, float], name: str | None) -> float | None:
    """The value of ``optimized_metric`` for sweepers; None (with a warning) when it was not logged."""
    if not name:
        return None
    if name not in metrics:
        log.warning(
            "optimized_metric=%s was not logged by this run; logged metrics: %s",
            name,
            ", ".join(sorted(metrics)) or "none",
        )
        return None
    return metrics[name]


@hydra.main(version_base=HYDRA_VERSION_BASE, config_path=CONFIG_PATH, config_name="train")
@exits_cleanly
def _app(cfg: DictConfig) -> float | None:
    """Train, test, and return ``cfg.optimized_metric`` (what Optuna sweeps optimise)."""
    from bus_seg.cli.devices import check_accelerator

    check_accelerator(cfg.trainer)
    from bus_seg.train import train

    metrics, _ = train(cfg)
    return optimized_value(metrics, cfg.get("optimized_metric"))


def main() -> None:
    """Console entry point of ``bus-seg-train``."""
    run_app(_app, "train", "bus-seg-train")


if __name__ == "__main__":
    main()
