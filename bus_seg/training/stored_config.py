"""The run config stored in a checkpoint, checked before anything is built from it.

A checkpoint is data, and it may come from anyone. Hydra's ``instantiate`` imports and calls
whatever ``_target_`` names, so a crafted config could call ``builtins.open`` or
``torch.load(weights_only=False)``. Before ``bus-seg-eval``, ``bus-seg-predict`` and
``bus-seg-export`` build anything from a stored config, :func:`trusted_stored_config` checks it:

- every ``_target_`` in a section that is built (``model``, ``loss``, ``optimizer``,
  ``scheduler``, ``data``) is one of bus_seg's own builders for that section;
- every value is plain (string, number, boolean or null): no interpolation (``${...}``, which
  could call resolvers), no other special Hydra key than ``_target_``, ``_partial_``,
  ``_convert_`` and ``_recursive_``.

Anything else is refused with a :class:`~bus_seg.errors.InputError` that names the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bus_seg.errors import InputError
from bus_seg.io.checkpoint import CONFIG_KEY

LOSS_CLASSES = ("SegmentationLoss", "CrossEntropy", "DiceLoss", "CEDice", "FocalLoss")
REGULARISER_CLASSES = ("GatedCRFLoss", "CompactnessPrior", "EntropyMinimisation", "BoxPrior")
ALLOWED_TARGETS: dict[str, frozenset[str]] = {
    "model": frozenset({"bus_seg.models.build_model"}),
    "loss": frozenset(
        [f"bus_seg.training.losses.{name}" for name in LOSS_CLASSES]
        + [f"bus_seg.training.regularisers.{name}" for name in REGULARISER_CLASSES]
    ),
    "optimizer": frozenset({"bus_seg.training.optim.build_optimizer"}),
    "scheduler": frozenset(
        f"bus_seg.training.optim.{name}" for name in ("PolyWithWarmup", "cosine_with_warmup")
    ),
    "data": frozenset(
        f"bus_seg.data.{name}"
        for name in (
            "RegisteredCohortDataModule",
            "MaskFolderDataModule",
            "ImageLabelCSVDataModule",
            "SyntheticDataModule",
        )
    ),
}
HYDRA_KEYS = frozenset({"_target_", "_partial_", "_convert_", "_recursive_"})
PLAIN = (str, int, float, bool, type(None))


def trusted_stored_config(checkpoint: dict[str, Any], path: str | Path) -> DictConfig | None:
    """The checkpoint's stored run config, after checking every section that bus_seg builds from.

    Args:
        checkpoint: a checkpoint loaded with :func:`bus_seg.io.checkpoint.load_checkpoint`.
        path: the checkpoint file, for messages.

    Returns:
        The checked sections of :data:`ALLOWED_TARGETS` and the plain top-level values (seed,
        tags, names); other sections (trainer, callbacks, logger, ...) are left out. None when
        the checkpoint stores no config.

    Raises:
        InputError: a checked section names a target outside bus_seg's builders, holds a value
            that is not plain, or uses interpolation or another special key.
    """
    stored = checkpoint.get(CONFIG_KEY)
    if stored is None:
        return None
    if not isinstance(stored, dict):
        raise InputError(f"{CONFIG_KEY!r} is a {type(stored).__name__}, not a config mapping", path)
    sections = ALLOWED_TARGETS.keys()
    for section in sections:
        if section in stored:
            _check(stored[section], section, ALLOWED_TARGETS[section], path)
    checked = {key: stored[key] for key in sections if key in stored}
    # Sections that are not built (trainer, callbacks, logger, ...) are left out, so that nothing
    # downstream can build from them; plain top-level values (seed, tags, names) are kept.
    plain = {
        key: value for key, value in stored.items() if key not in sections and _is_plain(value)
    }
    _check(plain, "", frozenset(), path)
    return OmegaConf.create({**plain, **checked})


def _is_plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(isinstance(item, PLAIN) for item in value)
    return isinstance(value, PLAIN)


def _check(value: Any, where: str, allowed: frozenset[str], path: str | Path) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            if not isinstance(key, str):
                raise InputError(
                    f"stored config key {name!r} is not a string; refusing the checkpoint", path
                )
            if key == "_target_" and item not in allowed:
                raise _refuse(
                    f"{name}={item!r} is not one of bus_seg's builders for this section", path
                )
            if key.startswith("_") and key.endswith("_") and key not in HYDRA_KEYS:
                raise _refuse(f"{name} is a special key that bus_seg does not write", path)
            _check(item, name, allowed, path)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check(item, f"{where}[{index}]", allowed, path)
    elif not isinstance(value, PLAIN):
        raise _refuse(f"{where} holds a {type(value).__name__}, not a plain value", path)
    elif isinstance(value, str) and "${" in value:
        raise _refuse(
            f"{where}={value!r} is an interpolation; bus_seg stores resolved configs", path
        )


def _refuse(reason: str, path: str | Path) -> InputError:
    return InputError(
        f"refusing the checkpoint's stored config: {reason}. Checkpoints are data; bus_seg only "
        f"rebuilds its own models, losses, optimizers, schedulers and data modules from them. "
        f"Use a checkpoint written by bus-seg-train",
        path,
    )
