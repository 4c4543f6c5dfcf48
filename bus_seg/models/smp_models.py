"""segmentation-models-pytorch architectures (``smp.<Arch>``) behind the registry contract."""

from __future__ import annotations

import inspect
from typing import Any

import segmentation_models_pytorch as smp
import timm
import torch
from torch import nn

from bus_seg.errors import ConfigError
from bus_seg.models.input_adapter import backbone_in_channels
from bus_seg.models.pretrained import IMAGENET, ensure_hf_files, ensure_torch_hub_file
from bus_seg.models.wrapper import SegmentationNet

SMP_PREFIX = "smp."
SMP_ARCHITECTURES: dict[str, type[smp.base.SegmentationModel]] = {
    SMP_PREFIX + architecture.__name__: architecture
    for architecture in smp.MODEL_ARCHITECTURES_MAPPING.values()
}
"""Every architecture smp provides, e.g. ``smp.Unet``, ``smp.DeepLabV3Plus``, ``smp.Segformer``."""
TIMM_PREFIX = "tu-"
INPUT_SIZE_RULES: dict[str, tuple[int, int]] = {
    # PAN's Feature Pyramid Attention max-pools the deepest features three more times.
    "smp.PAN": (1, 8),
    # DPT fuses its ViT features at four scales, one of them half the token grid.
    "smp.DPT": (2, 1),
}
"""(multiple, minimum) of the input size per architecture, in units of the encoder's output
stride, beyond smp's own divisibility rule; inputs are padded to meet them."""
OWN_ARGUMENTS = {
    "encoder_weights": "pretrained",
    "in_channels": "in_channels",
    "classes": "num_classes",
}
"""smp arguments that build_model sets itself, with the build_model argument to use instead."""


def default_encoder_name(architecture: type[smp.base.SegmentationModel]) -> str:
    """The architecture's own default encoder (``resnet34`` for all but ViT-only ``DPT``)."""
    return inspect.signature(architecture).parameters["encoder_name"].default


def validate_encoder_name(encoder_name: str) -> None:
    """Check that smp knows ``encoder_name`` (an smp encoder or ``tu-<timm model>``).

    Raises:
        ConfigError: Unknown encoder; the message lists smp's encoder names.
    """
    if encoder_name.startswith(TIMM_PREFIX):
        if not timm.is_model(encoder_name.removeprefix(TIMM_PREFIX)):
            raise ConfigError(
                f"model.encoder_name={encoder_name!r}: timm has no model "
                f"{encoder_name.removeprefix(TIMM_PREFIX)!r} (see timm.list_models())"
            )
        return
    names = smp.encoders.get_encoder_names()
    if encoder_name not in names:
        raise ConfigError(
            f"model.encoder_name={encoder_name!r} is not an smp encoder. Valid names: "
            f"{', '.join(names)}; or 'tu-<timm model name>' for any timm model"
        )


def _smp_imagenet_weights(encoder_name: str) -> str:
    """Make sure smp's ImageNet encoder files are in the Hugging Face cache; return the tag."""
    settings = smp.encoders.encoders[encoder_name]["pretrained_settings"]
    if IMAGENET not in settings:
        raise ConfigError(
            f"smp encoder {encoder_name!r} has no ImageNet weights (it has {sorted(settings)}): "
            f"set model.pretrained to a weights file or null"
        )
    repo_id, revision = settings[IMAGENET]["repo_id"], settings[IMAGENET]["revision"]
    ensure_hf_files(repo_id, ["config.json", "model.safetensors"], revision)
    return IMAGENET


def _timm_pretrained_overlay(encoder_name: str) -> dict[str, str]:
    """Cache timm's default pretrained file for a ``tu-`` encoder; return the config overlay."""
    model_name = encoder_name.removeprefix(TIMM_PREFIX)
    pretrained_cfg = timm.models.get_pretrained_cfg(model_name)
    if pretrained_cfg is not None and pretrained_cfg.hf_hub_id:
        filename = pretrained_cfg.hf_hub_filename or "model.safetensors"
        (weights_file,) = ensure_hf_files(pretrained_cfg.hf_hub_id, [filename])
    elif pretrained_cfg is not None and pretrained_cfg.url:
        weights_file = ensure_torch_hub_file(pretrained_cfg.url)
    else:
        raise ConfigError(
            f"timm model {model_name!r} has no pretrained weights: set model.pretrained=null"
        )
    # A file source makes timm load this file instead of asking the hub again.
    return {"file": str(weights_file), "source": ""}


class SkippedStage(nn.Module):
    """Stand-in for a dropped encoder stage: passes its first input through.

    Some smp encoders still call their deeper blocks (with extra arguments) before slicing the
    features to ``encoder_depth``; the stand-in keeps those calls working at no cost.
    """

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return x


def drop_unused_encoder_stages(encoder: nn.Module) -> None:
    """Replace the encoder stages deeper than ``encoder_depth`` by :class:`SkippedStage`.

    smp builds the whole backbone and only skips its deeper stages in ``forward`` (e.g. ResNet
    ``layer3``/``layer4`` for ``encoder_depth=3``, PSPNet's default). Their parameters would never
    get gradients, which breaks DDP (unused parameters) and bloats checkpoints. The stages come
    from smp's own ``get_stages()`` (output stride to modules); encoders without it, and timm
    encoders (built truncated already), are left as they are.
    """
    get_stages = getattr(encoder, "get_stages", None)
    depth = getattr(encoder, "_depth", 5)
    if get_stages is None or depth >= 5:
        return
    try:
        stages = get_stages()
    except NotImplementedError:
        return
    unused = [
        module for stride, modules in stages.items() if stride > 2**depth for module in modules
    ]
    # A stage may be a slice of an nn.Sequential (mobilenet's features[7:14]): its children are
    # the registered modules.
    unused_ids = {id(module) for module in unused}
    unused_ids |= {id(child) for module in unused for child in module.children()}
    replaced: list[str] = []
    for name, module in list(encoder.named_modules()):
        inside_replaced = any(name.startswith(f"{parent}.") for parent in replaced)
        if id(module) in unused_ids and not inside_replaced:
            encoder.set_submodule(name, SkippedStage())
            replaced.append(name)


def build_smp_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int,
    input_mode: str,
    imagenet: bool,
    aux_loss: bool | None,
    encoder_name: str | None = None,
    **kwargs: Any,
) -> SegmentationNet:
    """Build smp architecture ``name`` (``smp.<Arch>``) wrapped in a :class:`SegmentationNet`.

    Args:
        name: A key of :data:`SMP_ARCHITECTURES`.
        num_classes: Output classes (smp's ``classes``).
        in_channels: Image channels (1 or 3).
        input_mode: ``"replicate"`` or ``"adapt_conv"`` (smp's ``in_channels``).
        imagenet: Load the encoder's ImageNet weights (smp's ``encoder_weights="imagenet"``; for
            ``tu-`` encoders timm's default pretrained weights).
        aux_loss: Must be None or False: smp models have no auxiliary segmentation head.
        encoder_name: Any smp encoder or ``tu-<timm model>``; None takes the architecture's
            default (``resnet34``).
        **kwargs: Passed to the smp architecture (``encoder_depth``, ``decoder_channels``, ...).

    Raises:
        ConfigError: Unknown encoder or option, ``aux_loss=True``, or ImageNet weights that are
            neither cached nor downloadable.
    """
    architecture = SMP_ARCHITECTURES[name]
    if aux_loss:
        raise ConfigError(
            f"model {name!r} has no auxiliary segmentation head: set model.aux_loss=null"
        )
    for smp_argument, own_argument in OWN_ARGUMENTS.items():
        if smp_argument in kwargs:
            raise ConfigError(f"model.{smp_argument} is set by build_model: use {own_argument}")
    encoder_name = encoder_name or default_encoder_name(architecture)
    validate_encoder_name(encoder_name)
    if name == "smp.DPT":
        # Any (padded) input size instead of the ViT's pretraining size only.
        kwargs.setdefault("dynamic_img_size", True)
    encoder_weights: str | bool | None = None
    if imagenet and encoder_name.startswith(TIMM_PREFIX):
        encoder_weights = True
        kwargs["pretrained_cfg_overlay"] = _timm_pretrained_overlay(encoder_name)
    elif imagenet:
        encoder_weights = _smp_imagenet_weights(encoder_name)
    try:
        net = architecture(
            encoder_name=encoder_name,
            encoder_weights=encoder_weights,
            in_channels=backbone_in_channels(in_channels, input_mode),
            classes=num_classes,
            **kwargs,
        )
    except (TypeError, ValueError, KeyError, AssertionError, RuntimeError) as error:
        raise ConfigError(
            f"cannot build {name}(encoder_name={encoder_name!r}, {kwargs}): {error}. "
            f"Check the options against the smp documentation of {architecture.__name__}"
        ) from error
    drop_unused_encoder_stages(net.encoder)
    output_stride = net.encoder.output_stride
    multiple, minimum = INPUT_SIZE_RULES.get(name, (1, 1))
    return SegmentationNet(
        net,
        "encoder",
        in_channels,
        input_mode,
        size_multiple=multiple * output_stride if net.requires_divisible_input_shape else 1,
        min_size=minimum * output_stride if name in INPUT_SIZE_RULES else 1,
    )
