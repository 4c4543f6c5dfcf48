"""Validated settings: the checks behind bus_seg's frozen settings dataclasses.

Registration (:class:`~bus_seg.registration.RegistrationSettings`) and simulation
(:class:`~bus_seg.simulate.SimulationSettings`) settings are frozen dataclasses whose
``__post_init__`` checks (and normalises) every field with the functions below. Each check names
the option as it is written on the command line (``registration.tissue_mpp``, ``faults.gap_mm``)
and says what a valid value is, in one form: ``<option>=<value> must ...``. :func:`build` makes a
dataclass from a (Hydra or plain) mapping and names unknown keys with the valid ones.

This module sits low in the stack (it imports only :mod:`bus_seg.errors`), so every room can use it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from bus_seg.errors import ConfigError

T = TypeVar("T")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    return f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_number(
    option: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> float | int:
    """A finite number, optionally whole, within the bounds; returned as float (int if whole).

    Args:
        option: the option's name as the user writes it, e.g. ``registration.tissue_mpp``.
        value: the value to check.
        low: lower bound (None: unbounded below).
        high: upper bound (None: unbounded above).
        low_open: exclude ``low`` itself.
        high_open: exclude ``high`` itself.
        integer: the value must be a whole number (returned as int).

    Raises:
        ConfigError: not a finite number, not whole, or out of bounds.
    """
    if not _is_number(value) or not math.isfinite(value):
        raise ConfigError(f"{option}={value!r} must be a finite number")
    if integer:
        if value != int(value):
            raise ConfigError(f"{option}={value!r} must be a whole number")
        value = int(value)
    else:
        value = float(value)
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        if low is not None and high is not None:
            bound = f"lie in {_interval(low, high, low_open, high_open)}"
        elif low is not None:
            bound = f"be {'greater than' if low_open else 'at least'} {low:g}"
        else:
            bound = f"be {'less than' if high_open else 'at most'} {high:g}"
        raise ConfigError(f"{option}={value!r} must {bound}")
    return value


def check_optional_number(option: str, value: Any, **bounds: Any) -> float | int | None:
    """None, or a number checked as by :func:`check_number`."""
    return None if value is None else check_number(option, value, **bounds)


def check_probability(option: str, value: Any) -> float:
    """A probability in [0, 1]."""
    return check_number(option, value, low=0.0, high=1.0)


def check_range(
    option: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
) -> tuple:
    """A ``[low, high]`` pair with ``low <= high`` inside the bounds (a scalar means ``[v, v]``).

    Raises:
        ConfigError: not two finite numbers, low above high, or outside ``[low, high]``.
    """
    if _is_number(value):
        value = (value, value)
    if (
        isinstance(value, str)
        or not isinstance(value, Sequence)
        or len(value) != 2
        or not all(_is_number(v) and math.isfinite(v) for v in value)
    ):
        raise ConfigError(f"{option}={value!r} must be two finite numbers [low, high]")
    if integer and any(v != int(v) for v in value):
        raise ConfigError(f"{option}={list(value)!r} must be two whole numbers")
    first, last = ((int(v) if integer else float(v)) for v in value)
    if first > last:
        raise ConfigError(f"{option}={[first, last]!r} must be [low, high] with low <= high")
    if (low is not None and first < low) or (high is not None and last > high):
        bound = (
            f"lie in [{low:g}, {high:g}]"
            if low is not None and high is not None
            else (f"be at least {low:g}" if low is not None else f"be at most {high:g}")
        )
        raise ConfigError(f"{option}={[first, last]!r} must {bound}")
    return first, last


def check_choice(option: str, value: Any, choices: Sequence[str]) -> str:
    """One of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{option}={value!r} is unknown; choose one of {list(choices)}")
    return value


def check_choices(option: str, values: Any, choices: Sequence[str]) -> tuple[str, ...]:
    """A non-empty list of names from ``choices`` (a single name is a list of one)."""
    names = _names(option, values)
    if not names or any(v not in choices for v in names):
        raise ConfigError(
            f"{option}={list(names)!r} must be a non-empty list of {', '.join(choices)}"
        )
    return names


def check_names(option: str, values: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
    """A list of names (a single name is a list of one; numbers become text), empty if allowed."""
    names = _names(option, values)
    if not all((isinstance(v, str) and v) or _is_number(v) for v in names):
        raise ConfigError(f"{option}={list(names)!r} must be a list of names")
    if not names and not allow_empty:
        raise ConfigError(f"{option} is empty; give at least one name, e.g. {option}=[name]")
    return tuple(str(v) for v in names)


def _names(option: str, values: Any) -> tuple:
    if isinstance(values, str):
        return (values,)
    if isinstance(values, Sequence):
        return tuple(values)
    raise ConfigError(f"{option}={values!r} must be a list of names")


def check_flag(option: str, value: Any) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise ConfigError(f"{option}={value!r} must be true or false")
    return value


def check_weights(option: str, weights: Any, names: Sequence[str]) -> dict[str, float]:
    """A mapping name → non-negative weight with a positive total, completed with zeros."""
    if not isinstance(weights, Mapping):
        raise ConfigError(
            f"{option}={weights!r} must be a mapping of {', '.join(names)} to weights"
        )
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise ConfigError(f"{option}: unknown {unknown}; valid names: {', '.join(names)}")
    checked = {k: check_number(f"{option}.{k}", v, low=0.0) for k, v in weights.items()}
    if sum(checked.values()) <= 0:
        raise ConfigError(f"{option}={dict(weights)!r}: the weights must not all be zero")
    return {k: float(checked.get(k, 0.0)) for k in names}


def plain(config: Any) -> Any:
    """A mapping or list (OmegaConf containers included) as plain, resolved dicts and lists."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(config, DictConfig | ListConfig):
        return OmegaConf.to_container(config, resolve=True)
    if isinstance(config, Mapping):
        return {str(k): plain(v) for k, v in config.items()}
    if isinstance(config, list | tuple):
        return [plain(v) for v in config]
    return config


def build(cls: type[T], values: Any, prefix: str, family: str) -> T:
    """``cls(**values)`` from a mapping, lists made tuples, unknown keys named with the valid ones.

    Args:
        cls: a settings dataclass whose ``__post_init__`` checks its fields.
        values: the (Hydra or plain) mapping.
        prefix: the options' prefix on the command line, e.g. ``registration.`` or ``faults.``.
        family: what the settings are, for the message, e.g. ``registration``.

    Raises:
        ConfigError: not a mapping, or an unknown key.
    """
    values = plain(values if values is not None else {})
    if not isinstance(values, Mapping):
        raise ConfigError(
            f"{prefix.rstrip('.') or family}={values!r} must be a mapping of settings"
        )
    names = sorted(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    for key in values:
        if key not in names:
            raise ConfigError(
                f"{prefix}{key} is not a {family} setting; valid settings: {', '.join(names)}"
            )
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    except TypeError as err:  # a required setting is missing
        raise ConfigError(f"{prefix.rstrip('.') or family} settings: {err}") from err
