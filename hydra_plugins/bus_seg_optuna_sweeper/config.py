"""Structured config of the sweeper, registered as ``hydra/sweeper=bus_seg_optuna``."""

# No `from __future__ import annotations`: Hydra imports plugin modules without registering them
# in sys.modules, and dataclasses then cannot resolve string annotations.
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class BusSegOptunaSweeperConf:
    """Settings of :class:`~hydra_plugins.bus_seg_optuna_sweeper.optuna_sweeper.BusSegOptunaSweeper`.

    Attributes:
        sampler: an Optuna sampler as a Hydra ``_target_`` node (TPE by default; seed it).
        direction: ``maximize`` or ``minimize`` the value the task function returns.
        study_name: name of the study (and of its row in ``storage``).
        storage: an Optuna storage URL (``sqlite:///optuna.db``) to keep and resume studies;
            None keeps the study in memory.
        n_trials: trials to run in this sweep.
        n_jobs: trials asked for together and launched as one batch (in parallel with a
            parallel launcher such as ``hydra/launcher=joblib``).
        params: search space, ``{config key: Hydra sweep}``; command-line overrides of the same
            key win (a plain ``key=value`` fixes it).
        label_keys: fnmatch patterns of config keys that change the labels (or the images) the
            trials are scored against: registration settings, the data source and the split.
            Sweeping one of them is refused, because each trial would be scored against labels of
            its own making; fix them with a plain ``key=value``.
    """

    _target_: str = "hydra_plugins.bus_seg_optuna_sweeper.optuna_sweeper.BusSegOptunaSweeper"
    sampler: Any = field(
        default_factory=lambda: {"_target_": "optuna.samplers.TPESampler", "seed": None}
    )
    direction: str = "maximize"
    study_name: str | None = None
    storage: str | None = None
    n_trials: int = 20
    n_jobs: int = 1
    params: dict[str, str] | None = None
    label_keys: list[str] = field(
        default_factory=lambda: [
            "registration",
            "registration.*",
            "data",
            "data.root",
            "data.table",
            "data.manifest",
            "data.split_seed",
            "data.split_fractions",
            "data.num_folds",
            "data.fold",
        ]
    )


ConfigStore.instance().store(
    group="hydra/sweeper", name="bus_seg_optuna", node=BusSegOptunaSweeperConf, provider="bus_seg"
)
