"""Pretrained weights: ImageNet backbones from the libraries' caches, or a local weights file.

``pretrained`` is one of:

- ``None``: random initialisation (tests, training from scratch).
- ``"imagenet"``: ImageNet backbone/encoder weights through the libraries' own mechanisms
  (torchvision ``weights_backbone`` from the torch hub cache, smp encoder weights from the Hugging
  Face cache, timm weights for ``tu-`` encoders). A weights file missing from the cache is
  downloaded only when the host answers within :data:`CONNECT_TIMEOUT_S`; otherwise a
  :class:`~bus_seg.errors.ConfigError` names the file to place and where.
- a path to a state dict (``.safetensors``, or ``.pt``/``.pth``/``.ckpt``/``.bin`` read with
  ``torch.load(weights_only=True)``; from a Lightning checkpoint, the entries of the
  LightningModule attribute that holds the SegmentationNet (``self.net`` or ``self.model``) with
  that prefix stripped; from a torchvision reference checkpoint, its ``model``). A full-model
  state dict is loaded strictly; a backbone/encoder-only one is loaded into the backbone, with a
  warning that lists the tensors that were not used.
"""

from __future__ import annotations

import pickle
import re
import socket
import warnings
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import getproxies

import huggingface_hub
import torch
from huggingface_hub import constants as hf_constants
from huggingface_hub.errors import EntryNotFoundError
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from bus_seg.errors import ConfigError
from bus_seg.models.wrapper import SegmentationNet

IMAGENET = "imagenet"
CONNECT_TIMEOUT_S = 5.0
"""Seconds to wait for a download host to accept a connection before giving up."""
READ_TIMEOUT_S = 30.0
"""Seconds a stalled download may stay silent before it is abandoned."""
REVISION_PATTERN = re.compile(r"[0-9a-f]{40}")
"""A commit hash, under which the Hugging Face cache keeps a snapshot folder."""
TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
BACKBONE_TARGET_PREFIXES = ("", "model.")
"""Prefixes added to match the backbone's own keys (smp's timm encoders hold ``model.``)."""


def parse_pretrained(pretrained: str | Path | None) -> str | Path | None:
    """Validate ``pretrained``: ``None``, ``"imagenet"`` or the path of an existing file.

    Raises:
        ConfigError: The value is neither ``"imagenet"`` nor an existing file.
    """
    if pretrained is None or pretrained == IMAGENET:
        return pretrained
    path = Path(pretrained).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"model.pretrained={str(pretrained)!r}: no such file. Use null (random init), "
            f"'{IMAGENET}' (ImageNet backbone) or the path of a .safetensors/.pt/.pth/.ckpt file"
        )
    return path


def _host_reachable(url: str) -> bool:
    """Whether the host of ``url`` (or the configured HTTPS proxy) accepts a TCP connection."""
    target = urlparse(getproxies().get("https") or url)
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        with socket.create_connection((target.hostname, port), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


@contextmanager
def _socket_timeout(seconds: float):
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def torch_hub_cache_file(url: str) -> Path:
    """Where torch hub caches the file of ``url``: ``$TORCH_HOME/hub/checkpoints/<name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def ensure_torch_hub_file(url: str) -> Path:
    """Return the torch hub cache file of ``url``, downloading it when the host is reachable.

    Raises:
        ConfigError: The file is not cached and cannot be downloaded; the message says which
            file to place where.
    """
    cached = torch_hub_cache_file(url)
    if cached.is_file():
        return cached
    failure = "the host did not answer"
    if _host_reachable(url):
        hash_match = torch.hub.HASH_REGEX.search(cached.name)
        cached.parent.mkdir(parents=True, exist_ok=True)
        try:
            with _socket_timeout(READ_TIMEOUT_S):
                torch.hub.download_url_to_file(
                    url, str(cached), hash_prefix=hash_match.group(1) if hash_match else None
                )
            return cached
        except (OSError, RuntimeError) as error:
            failure = str(error)
    raise ConfigError(
        f"pretrained='{IMAGENET}' needs {cached} and it could not be downloaded ({failure}). "
        f"Download {url} on a machine with network access and place it at {cached} "
        f"(the torch hub cache, $TORCH_HOME/hub/checkpoints), or set model.pretrained=null"
    )


def ensure_hf_files(repo_id: str, filenames: list[str], revision: str | None = None) -> list[Path]:
    """Return the Hugging Face cache files, downloading missing ones when the hub is reachable.

    Args:
        repo_id: Hub repository (``smp-hub/resnet34.imagenet``, ``timm/resnet18.a1_in1k``).
        filenames: Files of the repository that are needed.
        revision: Commit hash (smp pins one) or None for the main branch.

    Raises:
        ConfigError: Files are not cached and cannot be downloaded; the message says which files
            to place where.
    """
    paths: dict[str, Path] = {}
    for filename in filenames:
        cached = huggingface_hub.try_to_load_from_cache(repo_id, filename, revision=revision)
        if isinstance(cached, str):
            paths[filename] = Path(cached)
    missing = [filename for filename in filenames if filename not in paths]
    failure = "the hub did not answer"
    if missing and _host_reachable(hf_constants.ENDPOINT):
        try:
            for filename in missing:
                paths[filename] = Path(
                    huggingface_hub.hf_hub_download(
                        repo_id, filename, revision=revision, etag_timeout=CONNECT_TIMEOUT_S
                    )
                )
            missing = []
        except (OSError, ValueError, EntryNotFoundError) as error:
            failure = str(error).splitlines()[0]
    if missing:
        raise ConfigError(_hf_missing_message(repo_id, missing, revision, failure))
    return [paths[filename] for filename in filenames]


def _hf_missing_message(
    repo_id: str, filenames: list[str], revision: str | None, failure: str
) -> str:
    repo_folder = Path(hf_constants.HF_HUB_CACHE) / ("models--" + repo_id.replace("/", "--"))
    urls = ", ".join(
        huggingface_hub.hf_hub_url(repo_id, filename, revision=revision) for filename in filenames
    )
    if revision is not None and REVISION_PATTERN.fullmatch(revision):
        where = "place them at " + ", ".join(
            str(repo_folder / "snapshots" / revision / filename) for filename in filenames
        )
    else:
        where = (
            f"copy the cache folder {repo_folder} made there by "
            f"`hf download {repo_id} {' '.join(filenames)}`"
        )
    return (
        f"pretrained='{IMAGENET}' needs {', '.join(filenames)} of {repo_id}, which are neither in "
        f"the Hugging Face cache ({hf_constants.HF_HUB_CACHE}, set by $HF_HOME) nor downloadable "
        f"({failure}). Download {urls} on a machine with network access and {where}; "
        f"or set model.pretrained=null"
    )


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file without unpickling objects.

    Lightning checkpoints give the SegmentationNet's entries of their ``state_dict`` (see
    :func:`_segmentation_net_entries`); torchvision reference checkpoints give their ``model``.

    Raises:
        ConfigError: Unknown suffix, unreadable file, a file that needs unpickling, or
            content that is not a mapping of names to tensors.
    """
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            state = load_file(path, device="cpu")
        except (SafetensorError, OSError) as error:
            raise ConfigError(f"cannot read safetensors file {path}: {error}") from error
    elif suffix in TORCH_SUFFIXES:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            raise ConfigError(
                f"refusing to unpickle {path}: convert it to safetensors or a plain state dict "
                f"(torch.save(model.state_dict(), ...)) on a machine where you trust the file"
            ) from error
        except (OSError, RuntimeError, EOFError) as error:
            raise ConfigError(f"cannot read weights file {path}: {error}") from error
    else:
        raise ConfigError(
            f"model.pretrained={str(path)!r}: unknown weights format {suffix!r}; use .safetensors "
            f"or one of {', '.join(TORCH_SUFFIXES)}"
        )
    return _unwrap_checkpoint(state, path)


def _segmentation_net_entries(
    lightning_state: Mapping[str, torch.Tensor], path: Path
) -> dict[str, torch.Tensor]:
    """The entries of the LightningModule attribute holding the SegmentationNet, prefix stripped.

    A SegmentationNet's own keys all start with ``net.``, so the attribute is the top-level name
    (``net``, ``model``, ...) under which every entry continues with ``net.``; the loss's and the
    metrics' entries are left out.
    """
    attributes = sorted({key.split(".", 1)[0] for key in lightning_state if "." in key})
    for attribute in attributes:
        prefix = f"{attribute}."
        entries = {
            key.removeprefix(prefix): value
            for key, value in lightning_state.items()
            if key.startswith(prefix)
        }
        if all(key.startswith("net.") for key in entries):
            return entries
    raise ConfigError(
        f"{path}: no entry of the checkpoint's state_dict belongs to a bus_seg model "
        f"(top-level names: {attributes[:5]}); it was not saved by bus_seg"
    )


def _unwrap_checkpoint(state: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = _segmentation_net_entries(state["state_dict"], path)
    elif isinstance(state, Mapping) and isinstance(state.get("model"), Mapping):
        state = state["model"]
    if not isinstance(state, Mapping) or not all(
        isinstance(value, torch.Tensor) for value in state.values()
    ):
        raise ConfigError(
            f"{path} is not a state dict (a mapping of parameter names to tensors): save "
            f"model.state_dict() or a Lightning checkpoint"
        )
    return dict(state)


def load_weights_file(model: SegmentationNet, path: Path) -> None:
    """Load a full-model or backbone-only state dict from ``path`` into ``model``.

    Full-model state dicts (keys of the SegmentationNet, ``net.*``, or of the library network
    with a head key such as ``classifier.*`` or ``decoder.*``) must match exactly. Anything else
    is loaded into the backbone: keys are matched after stripping a common prefix (``module.``,
    ``backbone.``, ``encoder.``, ``features.``, ...), RGB first-convolution kernels are summed for
    a one-channel ``adapt_conv`` model, and unused or missing tensors are reported in a warning.

    Raises:
        ConfigError: A full-model state dict does not match the model, or no tensor of a
            backbone state dict fits the backbone.
    """
    state = read_state_dict(path)
    if any(key.startswith("net.") for key in state):
        _load_full(model, state, path)
        return
    backbone_prefix = f"{model.backbone_name}."
    head_keys = {key for key in model.net.state_dict() if not key.startswith(backbone_prefix)}
    if head_keys & state.keys():
        _load_full(model.net, state, path)
        return
    _load_backbone(model.backbone, state, path)


def _shape_mismatches(
    target: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
) -> list[str]:
    return [
        f"{key} {tuple(state[key].shape)} vs {tuple(tensor.shape)}"
        for key, tensor in target.items()
        if key in state and state[key].shape != tensor.shape
    ]


def _load_full(target: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    target_state = target.state_dict()
    missing = sorted(target_state.keys() - state.keys())
    unexpected = sorted(state.keys() - target_state.keys())
    mismatched = _shape_mismatches(target_state, state)
    if missing or unexpected or mismatched:
        raise ConfigError(
            f"{path} holds a full-model state dict that does not fit this model "
            f"(missing: {missing[:5]}, unexpected: {unexpected[:5]}, shape file vs model: "
            f"{mismatched[:5]}). Use the same model name, num_classes, in_channels, input_mode "
            f"and aux_loss as when it was saved, or keep only its backbone/encoder weights"
        )
    target.load_state_dict(state)


def _key_prefixes(keys: Iterable[str]) -> set[str]:
    """Every dotted prefix of the keys, with its trailing dot (``""``, ``"module."``, ...)."""
    prefixes = {""}
    for key in keys:
        parts = key.split(".")
        prefixes.update(".".join(parts[:end]) + "." for end in range(1, len(parts)))
    return prefixes


def _match_backbone_keys(
    state: dict[str, torch.Tensor], target_keys: set[str]
) -> dict[str, torch.Tensor]:
    """Rename the file's keys to the backbone's: strip one of the file's dotted prefixes
    (``module.backbone.``, ``encoder.``, ``features.``) and add one of
    :data:`BACKBONE_TARGET_PREFIXES`; keep the renaming that matches most keys."""
    best: dict[str, torch.Tensor] = {}
    for strip in sorted(_key_prefixes(state), key=len):
        for add in BACKBONE_TARGET_PREFIXES:
            matched = {
                add + key.removeprefix(strip): value
                for key, value in state.items()
                if key.startswith(strip) and add + key.removeprefix(strip) in target_keys
            }
            if len(matched) > len(best):
                best = matched
    return best


def _sum_rgb_kernels(tensor: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """RGB kernels summed for a one-channel first convolution, as smp's ``patch_first_conv``."""
    is_rgb_to_gray = (
        tensor.dim() == 4 and tensor.shape[1] == 3 and target.shape[1] == 1
    ) and tensor.shape[:1] + tensor.shape[2:] == target.shape[:1] + target.shape[2:]
    return tensor.sum(dim=1, keepdim=True) if is_rgb_to_gray else tensor


def _load_backbone(backbone: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    target_state = backbone.state_dict()
    matched = {
        key: _sum_rgb_kernels(value, target_state[key])
        for key, value in _match_backbone_keys(state, set(target_state)).items()
    }
    mismatched = _shape_mismatches(target_state, matched)
    usable = {
        key: value for key, value in matched.items() if value.shape == target_state[key].shape
    }
    if not usable:
        raise ConfigError(
            f"{path}: none of its {len(state)} tensors (e.g. {sorted(state)[:3]}) fits this "
            f"model's backbone (e.g. {sorted(target_state)[:3]}); it holds weights of another "
            f"architecture or encoder"
        )
    backbone.load_state_dict(usable, strict=False)
    missing = sorted(target_state.keys() - usable.keys())
    unused = len(state) - len(usable)
    if missing or unused:
        warnings.warn(
            f"{path}: loaded {len(usable)} of {len(target_state)} backbone tensors; "
            f"{len(missing)} kept their initial values (e.g. {missing[:5]}); {unused} tensors of "
            f"the file were not used (shape file vs model: {mismatched[:5]})",
            stacklevel=3,
        )
