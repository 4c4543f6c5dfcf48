"""A run folder belongs to one config: reusing it with another is refused, resuming checks it.

``bus-seg-train`` resumes automatically from ``<output_dir>/checkpoints/last.ckpt``, so a folder
reused with a different config would silently resume (or overwrite) a run that config never
trained. :func:`check_run_folder` refuses that unless ``ckpt_path`` is given explicitly, and
:func:`check_resume_checkpoint` refuses to resume from a checkpoint whose stored config differs
from the run's, apart from :data:`RESUMABLE_KEYS` (what may change when a run is continued).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bus_seg.errors import ConfigError, InputError
from bus_seg.io.checkpoint import CONFIG_KEY

RESUMABLE_KEYS: tuple[str, ...] = (
    "ckpt_path",
    "train",
    "test",
    "task_name",
    "tags",
    "paths",
    "logger",
    "callbacks",
    "extras",
    "evaluation",
    "optimized_metric",
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.max_time",
    "trainer.min_epochs",
    "trainer.devices",
    "trainer.num_nodes",
    "trainer.accelerator",
    "trainer.strategy",
    "trainer.enable_progress_bar",
    "trainer.log_every_n_steps",
    "trainer.default_root_dir",
    "data.num_workers",
    "data.pin_memory",
    "data.persistent_workers",
)
"""Config keys (dotted; a key covers everything under it) that may differ when a run is resumed."""
MAX_LISTED = 6


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two plain configs, ignoring :data:`RESUMABLE_KEYS`."""
    found: list[str] = []
    _compare(old, new, "", found)
    return found


def _compare(old: object, new: object, prefix: str, found: list[str]) -> None:
    if prefix and _resumable(prefix):
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                if not _resumable(dotted):
                    found.append(dotted)
                continue
            _compare(old[key], new[key], dotted, found)
    elif old != new:
        found.append(prefix)


def _resumable(dotted: str) -> bool:
    return any(dotted == key or dotted.startswith(key + ".") for key in RESUMABLE_KEYS)


def _listing(differences: list[str], old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    shown = [f"{key}: {_get(old, key)!r} -> {_get(new, key)!r}" for key in differences[:MAX_LISTED]]
    more = len(differences) - MAX_LISTED
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _get(config: Mapping[str, Any], dotted: str) -> object:
    value: object = config
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return "<absent>"
        value = value[part]
    return value


def check_run_folder(config_path: Path, config: Mapping[str, Any], ckpt_path: str | None) -> None:
    """Refuse to reuse a run folder whose ``config.yaml`` holds another config.

    Args:
        config_path: ``<output_dir>/config.yaml`` (absent in a new folder).
        config: the new run's plain resolved config.
        ckpt_path: the ``ckpt_path`` setting; given explicitly, the folder may be reused (the
            checkpoint is then checked by :func:`check_resume_checkpoint`).

    Raises:
        ConfigError: the folder holds a run of another config and ``ckpt_path`` is not given.
    """
    if ckpt_path is not None or not config_path.is_file():
        return
    try:
        old = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(
            f"the run folder {config_path.parent} holds a config.yaml that cannot be read "
            f"({type(err).__name__}); use a new run folder (hydra.run.dir=...)"
        ) from None
    if not isinstance(old, Mapping):
        return
    differences = config_differences(old, config)
    if differences:
        raise ConfigError(
            f"the run folder {config_path.parent} holds a run with another config "
            f"({_listing(differences, old, config)}); it would be resumed or overwritten. Use a "
            "new run folder (hydra.run.dir=... or another experiment name), or give ckpt_path "
            "explicitly (ckpt_path=last) to continue that run with this config"
        )


def check_resume_checkpoint(
    checkpoint: Mapping[str, Any], path: str | Path, config: Mapping[str, Any]
) -> None:
    """Refuse to resume from a foreign checkpoint or one trained with another config.

    Raises:
        InputError: the checkpoint is not a bus_seg training checkpoint (no state dict, no
            stored config, no loop state).
        ConfigError: its stored config differs from ``config`` outside :data:`RESUMABLE_KEYS`.
    """
    missing = [key for key in ("state_dict", "loops", CONFIG_KEY) if key not in checkpoint]
    if missing:
        raise InputError(
            f"cannot resume from this checkpoint: it lacks {', '.join(missing)}, so it was not "
            "written by bus-seg-train (a plain state dict or another program's checkpoint); "
            "start a new run folder, or load weights with model.pretrained=<path>",
            path,
        )
    stored = checkpoint[CONFIG_KEY]
    if not isinstance(stored, Mapping):
        raise InputError(f"cannot resume: its {CONFIG_KEY!r} is not a config mapping", path)
    differences = config_differences(stored, config)
    if differences:
        raise ConfigError(
            f"ckpt_path={path}: the checkpoint was trained with another config "
            f"({_listing(differences, stored, config)}); only {', '.join(RESUMABLE_KEYS[:10])}, "
            "... may change on resume. Run with the checkpoint's config, or start a new run "
            "folder"
        )
