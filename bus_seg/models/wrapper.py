"""The one output contract every registry model follows: ``{"out": logits, "aux": logits?}``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bus_seg.errors import ConfigError
from bus_seg.models.input_adapter import input_adapter
from bus_seg.models.norm import convert_batchnorm


class SegmentationNet(nn.Module):
    """A torchvision or smp segmentation network behind one interface.

    ``forward(x)`` takes ``N×in_channels×H×W`` and returns a dict with ``"out"`` (logits
    ``N×num_classes×H×W``, at the input resolution) and, when the network has an auxiliary head
    that is switched on, ``"aux"`` (same shape). Inputs whose size the network cannot take (smp
    encoders need multiples of their output stride) are zero-padded on the bottom/right and the
    logits cropped back.

    Every plain BatchNorm2d is converted to
    :class:`~bus_seg.models.norm.SingleValueSafeBatchNorm2d`, so a batch of one image trains.

    Args:
        net: The library network; returns a tensor (smp) or a dict with ``"out"``/``"aux"``
            (torchvision).
        backbone_name: Attribute path of the pretrained part inside ``net`` (``"backbone"`` for
            torchvision, ``"encoder"`` for smp). Everything else counts as head (decoder,
            classifier, auxiliary classifier).
        in_channels: Channels of the input images (1 or 3).
        input_mode: ``"replicate"`` or ``"adapt_conv"``, see :mod:`bus_seg.models.input_adapter`.
        size_multiple: Input height and width are padded up to a multiple of this.
        min_size: ... and to at least this.
    """

    def __init__(
        self,
        net: nn.Module,
        backbone_name: str,
        in_channels: int,
        input_mode: str,
        size_multiple: int = 1,
        min_size: int = 1,
    ) -> None:
        super().__init__()
        self.input_adapter = input_adapter(in_channels, input_mode)
        self.net = convert_batchnorm(net)
        self.backbone_name = backbone_name
        self.in_channels = in_channels
        self.size_multiple = size_multiple
        self.min_size = min_size

    @property
    def backbone(self) -> nn.Module:
        """The pretrained part of the network (ImageNet backbone or encoder)."""
        return self.net.get_submodule(self.backbone_name)

    def _padded(self, size: int) -> int:
        size = max(size, self.min_size)
        return size + (-size % self.size_multiple)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ConfigError(
                f"the model takes N×{self.in_channels}×H×W images but got shape "
                f"{tuple(x.shape)}: "
                f"set model.in_channels to the number of image channels the data provides"
            )
        height, width = x.shape[-2:]
        pad_bottom = self._padded(height) - height
        pad_right = self._padded(width) - width
        if pad_bottom or pad_right:
            x = F.pad(x, (0, pad_right, 0, pad_bottom))
        outputs = self.net(self.input_adapter(x))
        if isinstance(outputs, torch.Tensor):
            outputs = {"out": outputs}
        return {key: logits[..., :height, :width] for key, logits in outputs.items()}


def segmentation_nets(module: nn.Module) -> dict[str, SegmentationNet]:
    """Every :class:`SegmentationNet` inside ``module`` (itself included), by qualified name."""
    return {name: sub for name, sub in module.named_modules() if isinstance(sub, SegmentationNet)}


def head_parameter_names(module: nn.Module) -> list[str]:
    """Names (as in ``module.named_parameters()``) of the head parameters of ``module``.

    Head = every parameter of a :class:`SegmentationNet` outside its backbone: decoder,
    classifier, auxiliary classifier, segmentation head. ``module`` may be the SegmentationNet
    itself or anything holding one (a LightningModule with ``self.model``). This is what the
    optimizer's ``head_lr_mult`` multiplies.

    Args:
        module: A SegmentationNet or a module containing one or more.

    Returns:
        Parameter names in ``named_parameters()`` order (empty when ``module`` holds no
        SegmentationNet).
    """
    heads: list[str] = []
    for net_name, net in segmentation_nets(module).items():
        prefix = f"{net_name}." if net_name else ""
        backbone_prefix = f"net.{net.backbone_name}."
        heads.extend(
            prefix + name
            for name, _ in net.named_parameters()
            if not name.startswith(backbone_prefix)
        )
    return heads
