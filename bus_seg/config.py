"""Compose the packaged Hydra configs outside a Hydra app: notebooks, scripts, tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

CONFIG_MODULE = "bus_seg.conf"


def compose_config(
    overrides: Sequence[str] = (),
    config_name: str = "train",
    output_dir: str | Path = "outputs/run",
) -> DictConfig:
    """An entry config (``train``, ``eval``, …) with command-line style overrides.

    What ``@hydra.main`` would fill in at run time is set from ``output_dir``, so the result goes
    straight into :func:`bus_seg.training.train.train`.

    Args:
        overrides: e.g. ``["experiment=default_pipeline", "trainer.max_epochs=2"]``.
        config_name: the entry config in ``conf/``.
        output_dir: the run's output folder (``paths.output_dir``).
    """
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.hydra.runtime.output_dir = str(output_dir)
    return cfg
