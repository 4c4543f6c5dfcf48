"""The sweeper: ask Optuna for a batch of trials, launch them as Hydra jobs, tell the results."""

from __future__ import annotations

import fnmatch
import functools
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep, Transformer
from hydra.core.plugins import Plugins
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler
from optuna.trial import TrialState

from bus_seg.io.atomic import atomic_path

log = logging.getLogger(__name__)

DIRECTIONS = ("maximize", "minimize")
RESULTS_FILE = "optimization_results.yaml"
TRIALS_FILE = "trials.csv"


class TrialFailedError(RuntimeError):
    """A job ended without a usable value (it exited, raised, or returned no finite number)."""


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one Hydra sweep override.

    ``choice(a, b)`` is categorical; ``range(start, stop[, step])`` an int (or float) grid from
    ``start`` to the last value before ``stop``; ``interval(low, high)`` uniform, int when both
    ends are ints; ``tag(log, interval(...))`` log-uniform.

    Raises:
        HydraException: a sweep kind Optuna cannot sample.
    """
    value = override.value()
    if override.is_choice_sweep():
        return CategoricalDistribution(
            list(override.sweep_iterator(transformer=Transformer.encode))
        )
    if override.is_range_sweep():
        assert isinstance(value, RangeSweep)
        values = list(override.sweep_iterator(transformer=Transformer.identity))
        if value.shuffle or not values:
            return CategoricalDistribution(values)
        low, high = min(values), max(values)
        if all(isinstance(v, int) for v in values):
            return IntDistribution(int(low), int(high), step=abs(int(value.step)))
        return FloatDistribution(float(low), float(high), step=abs(float(value.step)))
    if override.is_interval_sweep():
        assert isinstance(value, IntervalSweep)
        log_scale = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log_scale)
        return FloatDistribution(float(value.start), float(value.end), log=log_scale)
    raise HydraException(
        f"{override.input_line}: the Optuna sweeper samples choice(), range() and interval() (tag(log, ...)) sweeps"
    )


def trial_value(job_return: Any) -> float:
    """The finite float a job returned.

    Raises:
        TrialFailedError: the job failed, or returned None, a non-number or NaN/inf.
    """
    try:
        value = job_return.return_value
    except Exception as err:  # the job's own exception, re-raised by JobReturn
        raise TrialFailedError(f"the job failed: {err.__class__.__name__}: {err}") from err
    if getattr(value, "error", None):  # bus_seg's FailedJobValue: a job that raised, as NaN
        raise TrialFailedError(f"the job failed: {value.error}")
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise TrialFailedError(
            f"the job returned {value!r}, not a number (is optimized_metric logged?)"
        ) from err
    if not math.isfinite(number):
        raise TrialFailedError(f"the job returned {number}")
    return number


def failing_instead_of_exiting(task_function: TaskFunction) -> TaskFunction:
    """Turn a job's ``SystemExit`` (a CLI's clean error exit) into an exception, so that one
    failed trial is recorded as failed instead of ending the whole sweep."""

    @functools.wraps(task_function)
    def run(cfg: DictConfig) -> Any:
        try:
            return task_function(cfg)
        except SystemExit as exit_:
            raise TrialFailedError(f"the job exited with status {exit_.code}") from None

    return run


def refuse_label_sweeps(
    space: Mapping[str, Any], label_keys: Sequence[str], metric: str | None
) -> None:
    """Refuse a search over keys that change the labels the trials are scored against.

    A trial that sweeps registration settings (or the data, or the split) makes its own
    validation labels: its ``val/dice_best`` then rewards the labels, not the model, and trials
    cannot be compared.

    Raises:
        HydraException: a swept key matches ``label_keys``; names the keys and the fix.
    """
    swept = sorted(key for key in space if any(fnmatch.fnmatch(key, p) for p in label_keys))
    if swept:
        raise HydraException(
            f"the sweep changes {', '.join(swept)}, which define the labels (or images) that "
            f"{metric or 'the optimized metric'} is scored against: each trial would be scored "
            "against labels of its own making. Fix these keys with a plain key=value (one value "
            "for every trial), or compare registration settings outside the sweep (separate runs "
            "evaluated on one fixed label set, or bus-seg-register's agreement report). "
            "hydra.sweeper.label_keys lists the refused keys."
        )


class BusSegOptunaSweeper(Sweeper):
    """Optuna search over Hydra overrides; see
    :class:`~hydra_plugins.bus_seg_optuna_sweeper.config.BusSegOptunaSweeperConf` for the options.

    Writes ``optimization_results.yaml`` (best value and parameters, trial counts) and
    ``trials.csv`` (every trial) into the sweep folder. Failed trials are told to Optuna as
    failed (samplers skip them) and the sweep goes on; it fails only when no trial succeeded.
    """

    def __init__(
        self,
        sampler: Any,
        direction: str,
        study_name: str | None,
        storage: str | None,
        n_trials: int,
        n_jobs: int,
        params: dict[str, str] | None,
        label_keys: Sequence[str] = (),
    ) -> None:
        if direction not in DIRECTIONS:
            raise HydraException(f"hydra.sweeper.direction={direction!r}: use maximize or minimize")
        if n_trials < 1 or n_jobs < 1:
            raise HydraException(
                f"hydra.sweeper.n_trials={n_trials} and n_jobs={n_jobs} must be at least 1"
            )
        # Hydra instantiates the sampler node (recursive instantiation); a plain config works too
        self.sampler = sampler if isinstance(sampler, BaseSampler) else instantiate(sampler)
        self.direction = direction
        self.study_name, self.storage = study_name, storage
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.params = dict(params or {})
        self.label_keys = list(label_keys)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context,
            task_function=failing_instead_of_exiting(task_function),
            config=config,
        )

    def search_space(
        self, arguments: Sequence[str]
    ) -> tuple[dict[str, BaseDistribution], list[str]]:
        """Split config ``params`` and command-line arguments into sampled distributions and fixed
        overrides (command line wins for a key given in both)."""
        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        by_key: dict[str, Override] = {}
        for override in parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()]):
            by_key[override.get_key_element()] = override
        for override in parser.parse_overrides(list(arguments)):
            by_key[override.get_key_element()] = override
        space = {key: distribution(o) for key, o in by_key.items() if o.is_sweep_override()}
        fixed = [
            o.input_line for o in by_key.values() if not o.is_sweep_override() and o.input_line
        ]
        return space, fixed

    def sweep(self, arguments: list[str]) -> list[optuna.trial.FrozenTrial]:
        assert self.config is not None and self.launcher is not None
        space, fixed = self.search_space(arguments)
        if not space:
            raise HydraException(
                "the Optuna sweeper has nothing to search: give hydra.sweeper.params or sweeps"
            )
        refuse_label_sweeps(space, self.label_keys, self.config.get("optimized_metric"))
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        with atomic_path(sweep_dir / "multirun.yaml") as tmp:
            OmegaConf.save(self.config, tmp)
        study = optuna.create_study(
            study_name=self.study_name,
            storage=self.storage,
            sampler=self.sampler,
            direction=self.direction,
            load_if_exists=True,
        )
        log.info(
            "Optuna study %s (%s), %d trials, search space: %s",
            study.study_name,
            self.direction,
            self.n_trials,
            space,
        )
        launched = 0
        while launched < self.n_trials:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - launched))]
            batch = [[*fixed, *(f"{k}={v}" for k, v in trial.params.items())] for trial in trials]
            self.validate_batch_is_legal(batch)
            # job numbers (and output subfolders) are the trial numbers of trials.csv
            returns = self.launcher.launch(batch, initial_job_idx=trials[0].number)
            for trial, job_return in zip(trials, returns, strict=True):
                self._tell(study, trial, job_return)
            launched += len(batch)
            self._write_trials(study, sweep_dir)
        self._write_results(study, sweep_dir)
        return study.trials

    @staticmethod
    def _tell(study: optuna.Study, trial: optuna.Trial, job_return: Any) -> None:
        try:
            value = trial_value(job_return)
        except TrialFailedError as err:
            log.warning("trial %d failed (%s); Optuna will skip it", trial.number, err)
            study.tell(trial, state=TrialState.FAIL)
            return
        study.tell(trial, value)

    @staticmethod
    def _write_trials(study: optuna.Study, sweep_dir: Path) -> None:
        """``trials.csv``, rewritten after every batch, so an interrupted sweep keeps its trials."""
        with atomic_path(sweep_dir / TRIALS_FILE) as tmp:
            study.trials_dataframe().to_csv(tmp, index=False)

    def _write_results(self, study: optuna.Study, sweep_dir: Path) -> None:
        states = [t.state for t in study.trials]
        complete, failed = states.count(TrialState.COMPLETE), states.count(TrialState.FAIL)
        if not complete:
            raise HydraException(
                f"all {failed} trials failed; each job's error is in its job_status.json and log under {sweep_dir}"
            )
        results = {
            "name": "optuna",
            "study_name": study.study_name,
            "direction": self.direction,
            "best_value": study.best_value,
            "best_params": study.best_params,
            "best_trial": study.best_trial.number,
            "n_complete": complete,
            "n_failed": failed,
        }
        with atomic_path(sweep_dir / RESULTS_FILE) as tmp:
            OmegaConf.save(OmegaConf.create(results), tmp)
        log.info(
            "best value %s with %s (results: %s)",
            study.best_value,
            study.best_params,
            sweep_dir / RESULTS_FILE,
        )
