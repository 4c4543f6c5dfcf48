"""The packaged Hydra configs composed as a command-line tool composes them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from bus_seg.config import CONFIG_MODULE, prepare_hydra

SYNTHETIC_64 = [
    "data=synthetic",
    "data.num_images=12",
    "data.image_size=64",
    "data.size=64",
    "data.batch_size=4",
]
"""Overrides of a small, fast training run on the built-in synthetic data (64² images)."""


@contextmanager
def packaged_configs() -> Iterator[None]:
    """Hydra initialised on ``bus_seg.conf`` (as the tools set it up), cleared afterwards."""
    prepare_hydra()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            yield
    finally:
        GlobalHydra.instance().clear()


def compose_entry(config_name: str, *overrides: str) -> DictConfig:
    """An entry config (``register``, ``simulate``, ...) as the tool's task receives it: without
    Hydra's own ``hydra`` node."""
    with packaged_configs():
        return compose(config_name=config_name, overrides=list(overrides))
