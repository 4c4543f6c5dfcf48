"""torchvision FCN, DeepLabV3 and LR-ASPP models behind the registry contract."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn
from torchvision.models import MobileNet_V3_Large_Weights, ResNet50_Weights, ResNet101_Weights
from torchvision.models import segmentation as tv_segmentation
from torchvision.models._api import WeightsEnum

from bus_seg.errors import ConfigError
from bus_seg.models.input_adapter import adapt_first_conv
from bus_seg.models.pretrained import ensure_torch_hub_file
from bus_seg.models.wrapper import SegmentationNet


@dataclass(frozen=True)
class TorchvisionSpec:
    """How to build one torchvision segmentation model.

    Attributes:
        builder: The torchvision builder (``torchvision.models.segmentation.*``).
        backbone_weights: ImageNet weights of the backbone, used for ``pretrained="imagenet"``.
        default_aux_loss: ``aux_loss`` when the caller passes None; None when the model has no
            auxiliary head.
    """

    builder: Callable[..., nn.Module]
    backbone_weights: WeightsEnum
    default_aux_loss: bool | None


TORCHVISION_MODELS: dict[str, TorchvisionSpec] = {
    # The paper recipe (torchvision references/segmentation) trains FCN/DeepLabV3 ResNets with
    # the auxiliary head, so it is on by default for them.
    "fcn_resnet50": TorchvisionSpec(
        tv_segmentation.fcn_resnet50, ResNet50_Weights.IMAGENET1K_V1, True
    ),
    "fcn_resnet101": TorchvisionSpec(
        tv_segmentation.fcn_resnet101, ResNet101_Weights.IMAGENET1K_V1, True
    ),
    "deeplabv3_resnet50": TorchvisionSpec(
        tv_segmentation.deeplabv3_resnet50, ResNet50_Weights.IMAGENET1K_V1, True
    ),
    "deeplabv3_resnet101": TorchvisionSpec(
        tv_segmentation.deeplabv3_resnet101, ResNet101_Weights.IMAGENET1K_V1, True
    ),
    "deeplabv3_mobilenet_v3_large": TorchvisionSpec(
        tv_segmentation.deeplabv3_mobilenet_v3_large,
        MobileNet_V3_Large_Weights.IMAGENET1K_V1,
        False,
    ),
    "lraspp_mobilenet_v3_large": TorchvisionSpec(
        tv_segmentation.lraspp_mobilenet_v3_large, MobileNet_V3_Large_Weights.IMAGENET1K_V1, None
    ),
}


def _resolve_aux_loss(name: str, spec: TorchvisionSpec, aux_loss: bool | None) -> dict[str, bool]:
    if spec.default_aux_loss is None:
        if aux_loss:
            raise ConfigError(f"model {name!r} has no auxiliary head: set model.aux_loss=null")
        return {}
    return {"aux_loss": spec.default_aux_loss if aux_loss is None else bool(aux_loss)}


def build_torchvision_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int,
    input_mode: str,
    imagenet: bool,
    aux_loss: bool | None,
    **kwargs: Any,
) -> SegmentationNet:
    """Build torchvision model ``name`` wrapped in a :class:`SegmentationNet`.

    Args:
        name: A key of :data:`TORCHVISION_MODELS`.
        num_classes: Output classes.
        in_channels: Image channels (1 or 3).
        input_mode: ``"replicate"`` or ``"adapt_conv"``.
        imagenet: Load the backbone's ImageNet weights (``weights_backbone``) from the torch hub
            cache.
        aux_loss: Auxiliary head on/off; None takes the model's default.
        **kwargs: Not accepted (torchvision models have no further options here).

    Raises:
        ConfigError: Extra options, an auxiliary head the model lacks, or ImageNet weights that
            are neither cached nor downloadable.
    """
    spec = TORCHVISION_MODELS[name]
    if kwargs:
        raise ConfigError(
            f"model {name!r} does not take {sorted(kwargs)}: torchvision models take only "
            f"num_classes, in_channels, pretrained, input_mode and aux_loss "
            f"(encoder_name and decoder options are for smp.* models)"
        )
    weights_backbone = None
    if imagenet:
        ensure_torch_hub_file(spec.backbone_weights.url)
        weights_backbone = spec.backbone_weights
    net = spec.builder(
        weights=None,
        weights_backbone=weights_backbone,
        num_classes=num_classes,
        **_resolve_aux_loss(name, spec, aux_loss),
    )
    if input_mode == "adapt_conv":
        adapt_first_conv(net.backbone, in_channels, pretrained=imagenet)
    return SegmentationNet(net, "backbone", in_channels, input_mode)
