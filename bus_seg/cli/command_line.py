"""Check a command line's overrides against the composed config before any heavy import.

Hydra reports an unknown key as ``Could not override 'trainer.max_epoch'`` and suggests appending
it with ``+``, which only defers the error. :func:`check_overrides` composes the config the way
the app will (a fraction of a second, nothing imported but Hydra), and turns such a failure into
one :class:`~bus_seg.errors.ConfigError` with the closest keys or options of the composed config.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bus_seg.config import compose_config
from bus_seg.errors import ConfigError

# Hydra flags followed by a value.
FLAGS_WITH_VALUE = frozenset({"--cfg", "-c", "--package", "-p"})
# Flags after which the pre-check stands aside: help and info need no config, and another
# config source is Hydra's to find.
FLAGS_NOT_CHECKED = frozenset(
    {
        "-h",
        "--help",
        "--hydra-help",
        "--version",
        "-i",
        "--info",
        "-cp",
        "--config-path",
        "-cn",
        "--config-name",
        "-cd",
        "--config-dir",
        "-sc",
        "--shell-completion",
        "--experimental-rerun",
    }
)
UNKNOWN_KEY = re.compile(r"Could not override '([^']+)'")
MAX_SUGGESTIONS = 3
MIN_RATIO = 0.6


def command_overrides(arguments: Sequence[str]) -> list[str] | None:
    """The overrides of a command line (program name excluded) that compose as one config: a
    multirun's sweeps (``model=unet,fpn``) are left out. None when the line is not checked."""
    overrides: list[str] = []
    multirun = False
    items = iter(arguments)
    for argument in items:
        if argument in FLAGS_NOT_CHECKED:
            return None
        if argument in ("-m", "--multirun"):
            multirun = True
        elif argument in FLAGS_WITH_VALUE:
            next(items, None)
        elif not argument.startswith("-"):
            overrides.append(argument)
    if not multirun:
        return overrides
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException:
        return None
    return [text for text, o in zip(overrides, parsed, strict=True) if not o.is_sweep_override()]


def config_keys(cfg: DictConfig, with_hydra: bool = False) -> list[str]:
    """Every key of ``cfg`` in dotted form (``trainer.max_epochs``), parents included."""
    container = OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)
    if not with_hydra and isinstance(container, dict):
        container.pop("hydra", None)
    return list(_walk(container, ""))


def _walk(node: Any, prefix: str) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}{key}"
            yield path
            yield from _walk(value, f"{path}.")


def closest(word: str, candidates: Sequence[str]) -> list[str]:
    """The candidates nearly as close to ``word`` as the closest one (difflib ratio ≥ 0.6, at
    most 0.05 below the best), closest first, at most three."""
    scored = sorted(
        ((difflib.SequenceMatcher(None, word, c).ratio(), c) for c in set(candidates)),
        key=lambda item: (-item[0], item[1]),
    )
    if not scored or scored[0][0] < MIN_RATIO:
        return []
    best = scored[0][0]
    return [c for ratio, c in scored[:MAX_SUGGESTIONS] if ratio >= max(MIN_RATIO, best - 0.05)]


def _did_you_mean(names: Sequence[str]) -> str:
    return "did you mean " + " or ".join(names) + "?"


def check_overrides(config_name: str, arguments: Sequence[str], program: str) -> None:
    """Compose ``config_name`` with the command line's overrides; raise on an unknown key or option.

    Args:
        config_name: the app's entry config (``train``, ``eval``, ...).
        arguments: the command line without the program name.
        program: the command's name, for the message.

    Raises:
        ConfigError: an override names a key the config does not have, or an option its group
            does not have; the message suggests the closest ones. Other composition errors are
            left to Hydra, which reports them when the app composes the config itself.
    """
    overrides = command_overrides(arguments)
    if not overrides:
        return
    try:
        compose_config(overrides, config_name)
    except MissingConfigException as err:
        raise _unknown_option(err, overrides) from None
    except (HydraException, OmegaConfBaseException) as err:
        match = UNKNOWN_KEY.search(str(err))
        if match:
            raise _unknown_key(match.group(1), config_name, overrides, program) from None


def _unknown_key(key: str, config_name: str, overrides: list[str], program: str) -> ConfigError:
    others = [o for o in overrides if o.split("=", 1)[0].lstrip("~") != key]
    try:
        keys = config_keys(compose_config(others, config_name), with_hydra=key.startswith("hydra."))
    except (HydraException, OmegaConfBaseException):
        keys = []
    parent = key.rpartition(".")[0]
    siblings = [k for k in keys if k.rpartition(".")[0] == parent]
    names = closest(key, siblings) or closest(key, keys)
    hint = (
        _did_you_mean(names)
        if names
        else f"see the keys with `{program} --cfg job`; to add a new key, write +{key}=..."
    )
    return ConfigError(f"{key} is not a key of the {config_name} config; {hint}")


def _unknown_option(err: MissingConfigException, overrides: list[str]) -> ConfigError:
    text = str(err).strip().splitlines()[0]
    match = re.search(r"Could not find '([^']+)/([^'/]+)'", text)
    if match:
        group, choice = match.group(1), match.group(2)
        options = list(err.options or [])
        names = [f"{group}={name}" for name in closest(choice, options)]
        hint = _did_you_mean(names) if names else f"the options are: {', '.join(options)}"
        return ConfigError(f"{group}={choice} is not an option of {group}; {hint}")
    return ConfigError(f"{text} (overrides: {' '.join(overrides)})")
