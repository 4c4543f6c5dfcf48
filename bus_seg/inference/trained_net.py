"""Rebuild a trained network and its preprocessing from a bus_seg checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from bus_seg.errors import ConfigError
from bus_seg.inference.preprocess import Preprocessing
from bus_seg.io.checkpoint import CONFIG_KEY, load_checkpoint
from bus_seg.training.stored_config import trusted_stored_config

NET_PREFIX = "net."


def load_trained_net(ckpt_path: str | Path) -> tuple[nn.Module, Preprocessing, dict[str, Any]]:
    """The network of a checkpoint (eval mode, on the CPU), its preprocessing and its run config.

    The model is rebuilt from the config stored in the checkpoint (``bus_seg_config``, written by
    :class:`~bus_seg.training.callbacks.ConfigInCheckpoint`), checked first by
    :func:`~bus_seg.training.stored_config.trusted_stored_config` (only bus_seg's own model
    builder, plain values), with ``pretrained=null`` (the checkpoint holds every weight), and the
    ``net.`` weights of the LightningModule are loaded.

    Raises:
        ConfigError: the file is missing, or has no stored config, or its weights do not fit.
        InputError: the checkpoint needs pickle to load, or its stored config names code that is
            not a bus_seg builder.
    """
    checkpoint = load_checkpoint(ckpt_path)
    cfg = trusted_stored_config(checkpoint, ckpt_path)
    if cfg is None:
        raise ConfigError(
            f"ckpt_path={ckpt_path}: the checkpoint holds no {CONFIG_KEY!r} (not written by bus-seg-train), so the "
            "model and preprocessing cannot be rebuilt; predict with a checkpoint of a bus_seg run"
        )
    if "model" not in cfg or "data" not in cfg:
        raise ConfigError(f"ckpt_path={ckpt_path}: the stored config has no model or data section")
    cfg.model.pretrained = None
    net = instantiate(cfg.model)
    weights = {
        k.removeprefix(NET_PREFIX): v
        for k, v in checkpoint.get("state_dict", {}).items()
        if k.startswith(NET_PREFIX)
    }
    try:
        net.load_state_dict(weights)
    except RuntimeError as err:
        raise ConfigError(
            f"ckpt_path={ckpt_path}: the weights do not fit the stored model config ({err})"
        ) from err
    config = OmegaConf.to_container(cfg, resolve=True)
    return net.eval(), Preprocessing.from_run_config(config), config
