"""Backends that turn a batch of network inputs into logits: eager PyTorch or ONNX Runtime."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch
from torch import nn

from bus_seg.errors import ConfigError, InputError
from bus_seg.inference.preprocess import Preprocessing

PRECISIONS = ("32", "bf16")
ONNX_INPUT, ONNX_OUTPUT = "image", "logits"
ONNX_PREPROCESSING_KEY = "bus_seg_preprocessing"


def resolve_device(device: str) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda[:index]``.

    Raises:
        ConfigError: an unknown name, or CUDA asked for where there is none.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu" or device.startswith("cuda"):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f"device={device} but PyTorch sees no CUDA GPU; use device=cpu or device=auto"
            )
        return torch.device(device)
    raise ConfigError(f"device={device!r} is unknown; use auto, cpu or cuda")


class LogitsOnly(nn.Module):
    """A registry model reduced to its main output: ``N×C×H×W`` logits.

    A torchvision auxiliary head is removed from the wrapped network itself (in place), so it
    is neither computed nor exported; wrap a copy to keep the original whole.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        inner = getattr(net, "net", None)
        if getattr(inner, "aux_classifier", None) is not None:
            # torchvision computes the auxiliary head whenever it exists; inference never uses it.
            inner.aux_classifier = None

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)["out"]


class TorchRunner:
    """Eager PyTorch inference, optionally in channels-last memory format and/or bf16 autocast.

    The runner takes ``net`` over: it is moved to ``device`` and converted in place (eval mode,
    auxiliary head dropped, channels-last weights); give it a copy to keep the original as is.

    Args:
        net: a registry model (``{"out": logits, ...}``) or a :class:`LogitsOnly`.
        device: where to run it.
        channels_last: convert weights and inputs to ``torch.channels_last``.
        precision: ``"32"`` or ``"bf16"`` (autocast; logits are returned as float32).
    """

    def __init__(
        self,
        net: nn.Module,
        device: torch.device,
        channels_last: bool = False,
        precision: str = "32",
    ) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"precision={precision!r} is unknown; use one of {list(PRECISIONS)}")
        self.model = (net if isinstance(net, LogitsOnly) else LogitsOnly(net)).eval().to(device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.device, self.precision = device, precision

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits (float32, on the CPU) of an N×C×S×S batch."""
        autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16)
            if self.precision == "bf16"
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            logits = self.model(batch.to(self.device, memory_format=self.memory_format))
        return logits.float().cpu()


class OnnxRunner:
    """ONNX Runtime inference (``CPUExecutionProvider``) of a model written by
    :func:`bus_seg.inference.export.export_onnx`.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (None: ONNX Runtime's default, one per core).
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise InputError(
                "ONNX model not found; export one with bus-seg-export ckpt_path=<checkpoint>", path
            )
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own exception classes
            raise InputError(f"ONNX Runtime cannot load the model ({err})", path) from err
        self.path = path

    def preprocessing(self) -> Preprocessing:
        """The preprocessing stored in the model's metadata at export.

        Raises:
            InputError: the model was not exported by bus_seg (no metadata).
        """
        stored = self.session.get_modelmeta().custom_metadata_map.get(ONNX_PREPROCESSING_KEY)
        if stored is None:
            raise InputError(
                f"the model has no {ONNX_PREPROCESSING_KEY!r} metadata; export it with bus_seg or pass ckpt_path=",
                self.path,
            )
        return Preprocessing(**json.loads(stored))

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits (float32, on the CPU) of an N×C×S×S batch."""
        (logits,) = self.session.run(
            [ONNX_OUTPUT], {ONNX_INPUT: batch.float().contiguous().numpy()}
        )
        return torch.from_numpy(logits)
