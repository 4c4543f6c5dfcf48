"""Export a trained network to ONNX or TorchScript, with a logits parity check against eager.

ONNX: ``torch.onnx.export`` (TorchScript-based exporter, opset 17 by default), input ``image``
``N×C×S×S`` with a dynamic batch axis, output ``logits`` ``N×classes×S×S`` (the main head only),
and the preprocessing stored as JSON in the model's metadata (``bus_seg_preprocessing``), so
:meth:`~bus_seg.inference.predictor.Predictor.from_onnx` needs nothing else. TorchScript:
``torch.jit.trace`` of the same logits-only module (deprecated by PyTorch since 2.9 in favour of
``torch.export``; kept for runtimes that still load TorchScript).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bus_seg.errors import ConfigError
from bus_seg.inference.preprocess import Preprocessing
from bus_seg.inference.runners import (
    ONNX_INPUT,
    ONNX_OUTPUT,
    ONNX_PREPROCESSING_KEY,
    LogitsOnly,
    OnnxRunner,
)
from bus_seg.inference.trained_net import load_trained_net
from bus_seg.io.atomic import atomic_path

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
MIN_OPSET = 17


@dataclass(frozen=True)
class ExportResult:
    """An exported model and how far its logits are from eager PyTorch's.

    Attributes:
        path: the written file.
        format: ``onnx`` or ``torchscript``.
        max_abs_diff: largest absolute logit difference on the parity inputs.
        parity_inputs: shape of the parity batch.
    """

    path: Path
    format: str
    max_abs_diff: float
    parity_inputs: tuple[int, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "format": self.format,
            "max_abs_diff": self.max_abs_diff,
            "parity_inputs": list(self.parity_inputs),
        }


def parity_batch(preprocessing: Preprocessing, batch_size: int = 2, seed: int = 0) -> torch.Tensor:
    """Normalised-range random inputs of the network's size (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    size = preprocessing.image_size
    return torch.randn(batch_size, preprocessing.in_channels, size, size, generator=generator)


def export_onnx(
    net: nn.Module, path: str | Path, preprocessing: Preprocessing, opset: int = MIN_OPSET
) -> Path:
    """Write ``net`` (its main logits, eval mode) to an ONNX file with a dynamic batch axis.

    Raises:
        ConfigError: ``opset`` below 17.
    """
    import onnx

    if opset < MIN_OPSET:
        raise ConfigError(f"opset={opset}: use opset {MIN_OPSET} or newer")
    model = _logits_module(net)
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # The TorchScript-based exporter is deprecated but needs no onnxscript; its notices are noise.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (parity_batch(preprocessing, batch_size=1),),
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=[ONNX_INPUT],
            output_names=[ONNX_OUTPUT],
            dynamic_axes={ONNX_INPUT: {0: "batch"}, ONNX_OUTPUT: {0: "batch"}},
        )
        proto = onnx.load(str(tmp))
        entry = proto.metadata_props.add()
        entry.key, entry.value = ONNX_PREPROCESSING_KEY, json.dumps(preprocessing.as_dict())
        onnx.save(proto, str(tmp))
    return path


def export_torchscript(net: nn.Module, path: str | Path, preprocessing: Preprocessing) -> Path:
    """Write ``net`` (its main logits, eval mode) as a traced TorchScript module."""
    model = _logits_module(net)
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(model, parity_batch(preprocessing, batch_size=1))
        traced.save(str(tmp))
    return path


def max_logit_difference(net: nn.Module, exported: Path, fmt: str, inputs: torch.Tensor) -> float:
    """Largest absolute difference between eager logits and the exported model's on ``inputs``."""
    with torch.inference_mode():
        reference = _logits_module(net)(inputs)
        if fmt == "onnx":
            candidate = OnnxRunner(exported)(inputs)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                candidate = torch.jit.load(str(exported), map_location="cpu")(inputs)
    return float((reference - candidate).abs().max())


def export_checkpoint(
    ckpt_path: str | Path,
    fmt: str = "onnx",
    out_path: str | Path | None = None,
    opset: int = MIN_OPSET,
    parity_batch_size: int = 2,
) -> ExportResult:
    """Export the network of a bus_seg checkpoint and check its logits against eager PyTorch.

    Args:
        ckpt_path: a checkpoint written by ``bus-seg-train``.
        fmt: ``onnx`` or ``torchscript``.
        out_path: the file to write; default: beside the checkpoint, suffix ``.onnx`` / ``.pt``.
        opset: ONNX opset (17 or newer).
        parity_batch_size: images in the parity batch (also checks the dynamic batch axis for
            ONNX, which is traced with one image).

    Raises:
        ConfigError: unknown format, bad opset, or a checkpoint bus_seg cannot rebuild.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt!r} is unknown; use one of {list(FORMATS)}")
    net, preprocessing, _ = load_trained_net(ckpt_path)
    out_path = Path(out_path) if out_path else Path(ckpt_path).with_suffix(FORMATS[fmt])
    if fmt == "onnx":
        export_onnx(net, out_path, preprocessing, opset)
    else:
        export_torchscript(net, out_path, preprocessing)
    inputs = parity_batch(preprocessing, parity_batch_size)
    return ExportResult(
        out_path, fmt, max_logit_difference(net, out_path, fmt, inputs), tuple(inputs.shape)
    )


def _logits_module(net: nn.Module) -> LogitsOnly:
    return (net if isinstance(net, LogitsOnly) else LogitsOnly(net)).eval()
