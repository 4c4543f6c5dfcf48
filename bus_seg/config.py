"""Compose the packaged Hydra configs outside a Hydra app: notebooks, scripts, tests."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

CONFIG_MODULE = "bus_seg.conf"


@functools.cache
def store_settings_configs() -> None:
    """Store the configs whose values come from the settings dataclasses in Hydra's ConfigStore.

    The defaults of registration and simulation live in one place, their dataclasses
    (:class:`~bus_seg.registration.RegistrationSettings`,
    :class:`~bus_seg.simulate.SimulationSettings`); the YAML options hold only their deltas:

    - ``registration/_base``: every registration setting at its default; each
      ``conf/registration/<option>.yaml`` starts from it (``defaults: [_base, _self_]``);
    - ``source/_base``: the simulator's image source at its defaults (``conf/source``);
    - ``simulation/<preset>``: the fault presets (``easy``, ``default``, ``hard``) at ``faults``;
    - ``_simulate_settings``: every other simulator setting, the base of ``conf/simulate.yaml``;
    - ``_validate_readers``: the registration's reader settings (``READER_SETTINGS``) at their
      defaults, the base of ``conf/validate.yaml``.

    :func:`prepare_hydra` calls it (once per process): the command-line tools and
    :func:`compose_config` do; code that composes the packaged configs with Hydra's own
    ``initialize_config_module`` calls :func:`prepare_hydra` first.
    """
    from hydra.core.config_store import ConfigStore

    from bus_seg.registration.settings import READER_SETTINGS, RegistrationSettings
    from bus_seg.simulate.settings import FAULT_PRESETS, SimulationSettings, SourceSettings

    store = ConfigStore.instance()
    registration = field_defaults(RegistrationSettings)
    store.store(group="registration", name="_base", node=registration)
    readers = {key: registration[key] for key in READER_SETTINGS}
    store.store(name="_validate_readers", node=readers)
    store.store(group="source", name="_base", node=field_defaults(SourceSettings))
    for name, values in FAULT_PRESETS.items():
        node = json.loads(json.dumps({"difficulty": name, **values}))
        store.store(group="simulation", name=name, package="faults", node=node)
    simulation = field_defaults(SimulationSettings, skip=("source", "faults"))  # their groups
    store.store(name="_simulate_settings", node=simulation)


def field_defaults(cls: type, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The declared defaults of a settings dataclass as plain values (sections as mappings).

    The values are the fields' defaults as written, before ``__post_init__`` completes them
    (``wsi.formats`` keeps its three weighted formats, so ``+wsi.formats.svs=...`` still adds
    the fourth).
    """
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        if field.default is not dataclasses.MISSING:
            values[field.name] = field.default
        elif dataclasses.is_dataclass(field.default_factory):
            values[field.name] = field_defaults(field.default_factory)
        else:
            values[field.name] = field.default_factory()
    return json.loads(json.dumps(values))


def prepare_hydra() -> None:
    """Set Hydra up for bus_seg's configs: the bundled sweeper, and no warning for intended merges.

    - The configs whose defaults live in code go into the ConfigStore
      (:func:`store_settings_configs`).
    - ``conf/hydra/launcher/{joblib,submitit_slurm}.yaml`` set bus_seg's defaults on top of the
      launcher plugins' structured configs of the same name. Hydra 1.3 merges the two on purpose
      ("automatic schema matching") and warns that the merge is deprecated; here it is intended.
    - Hydra finds plugins by listing the ``hydra_plugins`` namespace package, which misses the
      bundled Optuna sweeper in PEP 660 editable installs (``pip install -e``; Hydra issue #2359).
      Importing its modules stores its config; registering the class makes it instantiable. It
      needs optuna (the ``sweep`` extra); without it ``hydra/sweeper=bus_seg_optuna`` is unknown.
    """
    store_settings_configs()
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
    straight into :func:`bus_seg.train.train`.

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
