"""bus_seg checkpoints: read as data (``torch.load(weights_only=True)``, never pickle), and where
a run's config is stored in them."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from bus_seg.errors import ConfigError, InputError

CONFIG_KEY = "bus_seg_config"
"""The checkpoint entry that holds the run's resolved config (plain values; written by
:class:`~bus_seg.training.callbacks.ConfigInCheckpoint`)."""


def load_checkpoint(path: str | Path, mmap: bool = False) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; refuse one that needs pickle.

    Args:
        path: the checkpoint file.
        mmap: map the tensors from the file instead of reading them (to read its metadata only).

    Raises:
        ConfigError: the file is missing.
        InputError: it holds objects that only pickle can load, or it is not a checkpoint.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"ckpt_path={path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except (EOFError, RuntimeError, zipfile.BadZipFile) as err:  # a cut or damaged file
        raise InputError(
            f"the checkpoint cannot be read: it is truncated or corrupt ({err.__class__.__name__}; "
            f"{path.stat().st_size} bytes), e.g. a copy or save that was cut off; copy it again, "
            "or resume from another checkpoint (ckpt_path=<file>)",
            path,
        ) from None
    except Exception as err:  # torch raises UnpicklingError variants for pickled objects
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
