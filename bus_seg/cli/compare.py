"""``bus-seg-compare RUN_A RUN_B [...]``: paired per-image comparison of evaluated runs.

A Hydra app (``conf/compare.yaml``). Bare paths before or between the overrides are collected into
``runs=[...]``, so ``bus-seg-compare runs/fcn runs/deeplab n_boot=2000`` is the same as
``bus-seg-compare 'runs=[runs/fcn,runs/deeplab]' n_boot=2000``. A path that contains ``=`` must be
given through ``runs=[...]``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig, OmegaConf

from bus_seg.cli.app import CONFIG_PATH, HYDRA_VERSION_BASE, exits_cleanly, run_app
from bus_seg.errors import ConfigError

if TYPE_CHECKING:
    from bus_seg.evaluation.compare import ComparisonResult

# Hydra flags followed by a value (the value is not a run path).
HYDRA_FLAGS_WITH_VALUE = frozenset(
    {
        "--config-path",
        "-cp",
        "--config-name",
        "-cn",
        "--config-dir",
        "-cd",
        "--cfg",
        "-c",
        "--package",
        "-p",
        "--experimental-rerun",
    }
)
HYDRA_INFO_VALUES = frozenset(
    {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}
)


def _quote(path: str) -> str:
    return "'" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"


def positional_runs_to_override(argv: list[str], key: str = "runs") -> list[str]:
    """Rewrite bare path arguments into one ``key=[...]`` Hydra override.

    Args:
        argv: the command line, program name first.
        key: the config list the paths go to.

    Returns:
        The command line with the bare paths replaced by ``key=['a','b',...]`` (unchanged when
        there is none).

    Raises:
        ConfigError: bare paths and an explicit ``key=`` override are both given.
    """
    kept, paths = [argv[0]], []
    arguments = iter(argv[1:])
    for argument in arguments:
        is_info_value = argument in HYDRA_INFO_VALUES and kept[-1] in ("--info", "-i")
        if argument in HYDRA_FLAGS_WITH_VALUE:
            kept += [argument, next(arguments, "")]
        elif is_info_value or argument.startswith("-") or "=" in argument:
            kept.append(argument)
        else:
            paths.append(argument)
    if not paths:
        return list(argv)
    if any(argument.lstrip("+~").startswith(f"{key}=") for argument in kept):
        raise ConfigError(f"give the runs either as bare paths or as {key}=[...], not both")
    return [*kept, f"{key}=[{','.join(_quote(path) for path in paths)}]"]


def run_compare(cfg: DictConfig) -> ComparisonResult:
    """Compare the runs of a composed ``compare.yaml`` config and print where the outputs are."""
    from bus_seg.evaluation.compare import compare_runs

    arms = cfg.get("arms")
    result = compare_runs(
        None if arms else list(cfg.runs),
        cfg.out_dir,
        metrics=list(cfg.metrics),
        n_boot=int(cfg.n_boot),
        seed=int(cfg.seed),
        zero_method=str(cfg.zero_method),
        names=list(cfg.names) if cfg.get("names") else None,
        arms=OmegaConf.to_container(arms) if arms else None,
        patient_level=str(cfg.get("patient_level", "auto")),
    )
    print(
        f"[bus_seg] comparison: {result.paths['comparison_md']} (table: {result.paths['comparison_csv']})"
    )
    return result


def require_runs(cfg: DictConfig, usage: str) -> None:
    """Raise a ConfigError with ``usage`` when neither ``cfg.runs`` nor ``cfg.arms`` is given."""
    if (OmegaConf.is_missing(cfg, "runs") or cfg.runs is None) and not cfg.get("arms"):
        raise ConfigError(f"no runs given: {usage}")


def run_with_positional_runs(
    hydra_main: Callable[[], None], config_name: str, program: str
) -> None:
    """Rewrite bare paths on the command line into ``runs=[...]``, then run the Hydra app."""
    try:
        sys.argv = positional_runs_to_override(sys.argv)
    except ConfigError as err:
        print(f"bus_seg error: {err}", file=sys.stderr)
        sys.exit(2)
    run_app(hydra_main, config_name, program)


@hydra.main(version_base=HYDRA_VERSION_BASE, config_path=CONFIG_PATH, config_name="compare")
@exits_cleanly
def _hydra_main(cfg: DictConfig) -> None:
    require_runs(cfg, "bus-seg-compare RUN_A RUN_B [...] (run folders or per_image.csv files)")
    run_compare(cfg)


def main() -> None:
    """Console entry point of ``bus-seg-compare``."""
    run_with_positional_runs(_hydra_main, "compare", "bus-seg-compare")


if __name__ == "__main__":
    main()
