"""One- or three-channel input: replicate a gray channel, or adapt the first convolution.

Two ways to feed a gray ultrasound frame to a network built for RGB:

- ``replicate``: the network keeps its three-channel first convolution and the gray channel is
  repeated three times in ``forward`` (:class:`GrayToRGB`).
- ``adapt_conv``: the first convolution takes ``in_channels`` directly. With pretrained weights its
  RGB kernels are summed over the input channels, as smp and timm do
  (``segmentation_models_pytorch.encoders._utils.patch_first_conv``); the response to a gray image
  replicated to RGB is then unchanged.

Normalisation (ImageNet mean/std or otherwise) is the data pipeline's job, not the model's.
"""

from __future__ import annotations

import torch
from segmentation_models_pytorch.encoders._utils import patch_first_conv
from torch import nn

from bus_seg.errors import ConfigError

INPUT_MODES = ("replicate", "adapt_conv")
SUPPORTED_IN_CHANNELS = (1, 3)


def validate_input_options(in_channels: int, input_mode: str) -> None:
    """Check ``in_channels`` and ``input_mode``.

    Raises:
        ConfigError: ``in_channels`` is not 1 or 3, or ``input_mode`` is unknown.
    """
    if in_channels not in SUPPORTED_IN_CHANNELS:
        raise ConfigError(
            f"model.in_channels={in_channels!r} is not supported: use 1 (gray ultrasound) "
            f"or 3 (RGB)"
        )
    if input_mode not in INPUT_MODES:
        raise ConfigError(
            f"model.input_mode={input_mode!r} is unknown: use one of {', '.join(INPUT_MODES)}"
        )


def backbone_in_channels(in_channels: int, input_mode: str) -> int:
    """Number of channels the network's first convolution takes."""
    return in_channels if input_mode == "adapt_conv" else 3


class GrayToRGB(nn.Module):
    """Repeat a one-channel image to three channels (no copy: ``expand``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1)


def input_adapter(in_channels: int, input_mode: str) -> nn.Module:
    """The module applied to the input before the network: :class:`GrayToRGB` or identity."""
    if in_channels == 1 and input_mode == "replicate":
        return GrayToRGB()
    return nn.Identity()


def adapt_first_conv(backbone: nn.Module, in_channels: int, pretrained: bool) -> None:
    """Make the first three-channel convolution of ``backbone`` take ``in_channels`` channels.

    Args:
        backbone: Module whose first ``Conv2d`` with three input channels is changed in place.
        in_channels: New number of input channels (1 or 3; 3 leaves the backbone unchanged).
        pretrained: Sum the existing RGB kernels (True) or re-initialise the kernels (False).
    """
    if in_channels != 3:
        patch_first_conv(backbone, new_in_channels=in_channels, pretrained=pretrained)
