"""The model registry: names to builders, and :func:`build_model`, the one entry point.

Style of ``segmentation_models_pytorch.encoders``: a dict from names to builders, and errors that
list the valid names. Every model is a :class:`~bus_seg.models.wrapper.SegmentationNet`:
``forward(x) -> {"out": logits, "aux": logits?}`` at the input resolution.

Names: torchvision models by their torchvision name (``deeplabv3_resnet101``, ...), smp
architectures as ``smp.<Arch>`` (``smp.Unet``, ...) with the encoder in ``encoder_name``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from bus_seg.errors import ConfigError
from bus_seg.models.input_adapter import validate_input_options
from bus_seg.models.pretrained import IMAGENET, load_weights_file, parse_pretrained
from bus_seg.models.smp_models import SMP_ARCHITECTURES, build_smp_model
from bus_seg.models.torchvision_models import TORCHVISION_MODELS, build_torchvision_model
from bus_seg.models.wrapper import SegmentationNet

ModelBuilder = Callable[..., SegmentationNet]

MODEL_BUILDERS: dict[str, ModelBuilder] = {
    **{name: partial(build_torchvision_model, name) for name in TORCHVISION_MODELS},
    **{name: partial(build_smp_model, name) for name in SMP_ARCHITECTURES},
}


def available_models() -> list[str]:
    """Names accepted by :func:`build_model` (torchvision names, then ``smp.<Arch>``)."""
    return list(MODEL_BUILDERS)


def _plain(value: Any) -> Any:
    """OmegaConf containers (from Hydra) as plain lists/dicts, which the libraries expect."""
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


def build_model(
    name: str,
    num_classes: int = 2,
    in_channels: int = 1,
    pretrained: str | Path | None = None,
    input_mode: str = "replicate",
    aux_loss: bool | None = None,
    **kwargs: Any,
) -> SegmentationNet:
    """Build a registry model.

    Args:
        name: One of :func:`available_models`.
        num_classes: Output classes (2: non-cancer, cancer).
        in_channels: Image channels, 1 (gray ultrasound) or 3.
        pretrained: None (random init), ``"imagenet"`` (ImageNet backbone/encoder from the
            libraries' caches; fails fast with the file to place when offline) or the path of a
            full-model or backbone-only state dict (see :mod:`bus_seg.models.pretrained`).
        input_mode: ``"replicate"`` (repeat a gray channel to RGB) or ``"adapt_conv"`` (first
            convolution takes ``in_channels``; pretrained RGB kernels are summed).
        aux_loss: Auxiliary head (torchvision FCN/DeepLabV3) on/off; None takes the default
            (on for the ResNet FCN/DeepLabV3 models, off otherwise).
        **kwargs: smp options: ``encoder_name`` (default ``resnet34``), ``encoder_depth``,
            ``decoder_channels``, ...; torchvision models take none.

    Returns:
        The model; ``forward(x)`` returns ``{"out": N×num_classes×H×W, "aux": ...?}``.

    Raises:
        ConfigError: Unknown name, encoder or option; bad ``in_channels``/``input_mode``/
            ``num_classes``; unusable pretrained weights.
    """
    if name not in MODEL_BUILDERS:
        raise ConfigError(
            f"model.name={name!r} is unknown. Valid names: {', '.join(available_models())}. "
            f"smp architectures take any smp encoder in model.encoder_name (default resnet34)"
        )
    validate_input_options(in_channels, input_mode)
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"model.num_classes={num_classes!r} must be a positive integer")
    weights = parse_pretrained(pretrained)
    model = MODEL_BUILDERS[name](
        num_classes=num_classes,
        in_channels=in_channels,
        input_mode=input_mode,
        imagenet=weights == IMAGENET,
        aux_loss=aux_loss,
        **{key: _plain(value) for key, value in kwargs.items()},
    )
    if isinstance(weights, Path):
        load_weights_file(model, weights)
    return model
