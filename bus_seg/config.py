"""Compose the packaged Hydra configs outside a Hydra app: notebooks, scripts, tests."""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

CONFIG_MODULE = "bus_seg.conf"


def prepare_hydra() -> None:
    """Set Hydra up for bus_seg's configs: the bundled sweeper, and no warning for intended merges.

    - ``conf/hydra/launcher/{joblib,submitit_slurm}.yaml`` set bus_seg's defaults on top of the
      launcher plugins' structured configs of the same name. Hydra 1.3 merges the two on purpose
      ("automatic schema matching") and warns that the merge is deprecated; here it is intended.
    - Hydra finds plugins by listing the ``hydra_plugins`` namespace package, which misses the
      bundled Optuna sweeper in PEP 660 editable installs (``pip install -e``; Hydra issue #2359).
      Importing its modules stores its config; registering the class makes it instantiable. It
      needs optuna (the ``sweep`` extra); without it ``hydra/sweeper=bus_seg_optuna`` is unknown.
    """
    warnings.filterwarnings(
        "ignore",
        message=r"\s*'hydra/launcher/(joblib|submitit_slurm)' is validated against ConfigStore schema",
        category=UserWarning,
    )
    if importlib.util.find_spec("optuna") is None:
        return
    from hydra.core.plugins import Plugins

    plugins = Plugins.instance()  # scans hydra_plugins first, so the class registered is final
    from hydra_plugins.bus_seg_optuna_sweeper import config  # noqa: F401  (stores the config)
    from hydra_plugins.bus_seg_optuna_sweeper.optuna_sweeper import BusSegOptunaSweeper

    plugins.register(BusSegOptunaSweeper)


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
        output_dir: the run's output folder (``paths.output_dir`` where the config has paths).
    """
    prepare_hydra()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            cfg = compose(
                config_name=config_name, overrides=list(overrides), return_hydra_config=True
            )
    finally:
        GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        if "paths" in cfg:
            cfg.paths.output_dir = str(output_dir)
    return cfg
