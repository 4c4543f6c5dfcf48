"""Read bus_seg checkpoints as data: ``torch.load(weights_only=True)``, never pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bus_seg.errors import ConfigError, InputError


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; refuse one that needs pickle.

    Raises:
        ConfigError: the file is missing.
        InputError: it holds objects that only pickle can load, or it is not a checkpoint.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"ckpt_path={path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError or RuntimeError variants
        raise InputError(
            f"refusing to load: the checkpoint needs pickle to load ({err.__class__.__name__}). Only checkpoints "
            "written by bus_seg or plain state dicts are loaded (weights_only=True); convert others to safetensors",
            path,
        ) from err
    if not isinstance(checkpoint, dict):
        raise InputError(
            f"not a checkpoint: it holds a {type(checkpoint).__name__}, not a dict with a state_dict",
            path,
        )
    return checkpoint
