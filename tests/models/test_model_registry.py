"""Registry models: one output contract, batch-1 training, 1/3-channel input, aux heads, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bus_seg.errors import ConfigError
from bus_seg.models import SegmentationNet, available_models, build_model, head_parameter_names
from bus_seg.models.input_adapter import GrayToRGB
from bus_seg.models.smp_models import SMP_ARCHITECTURES
from bus_seg.models.torchvision_models import TORCHVISION_MODELS

INPUT_CASES = [(1, "replicate"), (3, "replicate"), (1, "adapt_conv")]
# Representative smp architectures on a small encoder; every architecture runs in the slow test.
SMP_FAST_CASES = [
    ("smp.Unet", "resnet18"),
    ("smp.UnetPlusPlus", "resnet18"),
    ("smp.FPN", "resnet18"),
    ("smp.DeepLabV3", "resnet18"),
    ("smp.DeepLabV3Plus", "resnet18"),
    ("smp.PSPNet", "resnet18"),
    ("smp.PAN", "resnet18"),
    ("smp.Unet", "mobilenet_v2"),
]


def first_conv(module: nn.Module) -> nn.Conv2d:
    return next(layer for layer in module.modules() if isinstance(layer, nn.Conv2d))


def check_forward_backward(
    model: SegmentationNet,
    in_channels: int,
    num_classes: int = 2,
    size: tuple[int, int] = (64, 64),
    batch: int = 1,
    all_parameters_used: bool = True,
) -> dict[str, torch.Tensor]:
    """Train-mode forward/backward on one batch; returns the outputs after checking the contract.

    ``all_parameters_used`` also checks that every parameter gets a gradient (DDP needs that).
    """
    model.train()
    outputs = model(torch.randn(batch, in_channels, *size))
    assert "out" in outputs and set(outputs) <= {"out", "aux"}
    for logits in outputs.values():
        assert logits.shape == (batch, num_classes, *size)
        assert torch.isfinite(logits).all()
    sum(logits.mean() for logits in outputs.values()).backward()
    unused = [name for name, p in model.named_parameters() if p.grad is None]
    assert not (all_parameters_used and unused), unused
    assert any(p.grad.abs().sum() > 0 for p in model.parameters() if p.grad is not None)
    return outputs


def test_available_models_lists_torchvision_and_smp() -> None:
    names = available_models()
    assert names[: len(TORCHVISION_MODELS)] == list(TORCHVISION_MODELS)
    assert {"deeplabv3_resnet101", "fcn_resnet50", "smp.Unet", "smp.DeepLabV3Plus"} <= set(names)
    assert set(SMP_ARCHITECTURES) <= set(names)


@pytest.mark.parametrize(("in_channels", "input_mode"), INPUT_CASES)
@pytest.mark.parametrize("name", list(TORCHVISION_MODELS))
def test_torchvision_models_train_on_one_image(
    name: str, in_channels: int, input_mode: str
) -> None:
    model = build_model(name, in_channels=in_channels, input_mode=input_mode)
    outputs = check_forward_backward(model, in_channels)
    has_aux_by_default = TORCHVISION_MODELS[name].default_aux_loss
    assert ("aux" in outputs) == bool(has_aux_by_default)
    expected_conv_channels = in_channels if input_mode == "adapt_conv" else 3
    assert first_conv(model.net).in_channels == expected_conv_channels


@pytest.mark.parametrize(("in_channels", "input_mode"), INPUT_CASES)
@pytest.mark.parametrize(("name", "encoder_name"), SMP_FAST_CASES)
def test_smp_models_train_on_one_image(
    name: str, encoder_name: str, in_channels: int, input_mode: str
) -> None:
    model = build_model(
        name, in_channels=in_channels, input_mode=input_mode, encoder_name=encoder_name
    )
    outputs = check_forward_backward(model, in_channels)
    assert set(outputs) == {"out"}
    expected_conv_channels = in_channels if input_mode == "adapt_conv" else 3
    assert first_conv(model.net.encoder).in_channels == expected_conv_channels


@pytest.mark.slow
@pytest.mark.parametrize(("in_channels", "input_mode"), INPUT_CASES)
@pytest.mark.parametrize("name", list(SMP_ARCHITECTURES))
def test_every_smp_architecture_trains_on_one_image(
    name: str, in_channels: int, input_mode: str
) -> None:
    # DPT takes only ViT encoders (a tiny one keeps the test fast); smp leaves the ViT's final
    # norm and classifier unused.
    is_dpt = name == "smp.DPT"
    encoder_name = "tu-vit_tiny_patch16_224" if is_dpt else "resnet18"
    model = build_model(
        name, in_channels=in_channels, input_mode=input_mode, encoder_name=encoder_name
    )
    check_forward_backward(model, in_channels, all_parameters_used=not is_dpt)
    check_forward_backward(
        model, in_channels, size=(50, 70), batch=2, all_parameters_used=not is_dpt
    )


def test_eval_mode_batch_of_one() -> None:
    model = build_model("deeplabv3_resnet50").eval()
    with torch.no_grad():
        outputs = model(torch.randn(1, 1, 64, 64))
    assert outputs["out"].shape == (1, 2, 64, 64)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("smp.Unet", {"encoder_name": "resnet18"}), ("smp.FPN", {"encoder_name": "resnet18"})],
)
def test_sizes_the_encoder_cannot_take_are_padded_and_cropped(name: str, kwargs: dict) -> None:
    check_forward_backward(build_model(name, **kwargs), 1, size=(50, 70), batch=2)


def test_three_classes_and_replicated_gray_input() -> None:
    model = build_model(
        "smp.Unet",
        num_classes=3,
        encoder_name="resnet18",
        encoder_depth=3,
        decoder_channels=[32, 16, 8],
    )
    assert isinstance(model.input_adapter, GrayToRGB)
    check_forward_backward(model, 1, num_classes=3)
    gray = torch.randn(1, 1, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(gray)["out"], model.net(gray.repeat(1, 3, 1, 1)))


@pytest.mark.parametrize(
    ("name", "aux_loss", "has_aux"),
    [
        ("deeplabv3_resnet50", None, True),
        ("deeplabv3_resnet50", False, False),
        ("fcn_resnet50", False, False),
        ("deeplabv3_mobilenet_v3_large", None, False),
        ("deeplabv3_mobilenet_v3_large", True, True),
    ],
)
def test_aux_head_switch(name: str, aux_loss: bool | None, has_aux: bool) -> None:
    model = build_model(name, aux_loss=aux_loss).eval()
    with torch.no_grad():
        outputs = model(torch.randn(1, 1, 64, 64))
    assert ("aux" in outputs) is has_aux
    assert (model.net.aux_classifier is not None) is has_aux


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "deeplab"}, "encoder_name"),
        ({"name": "smp.Unet", "encoder_name": "resnet_nope"}, "resnet34"),
        ({"name": "smp.Unet", "encoder_name": "tu-not_a_timm_model"}, "timm"),
        ({"name": "smp.Unet", "in_channels": 2}, "in_channels"),
        ({"name": "smp.Unet", "input_mode": "stack"}, "adapt_conv"),
        ({"name": "smp.Unet", "num_classes": 0}, "num_classes"),
        ({"name": "smp.Unet", "aux_loss": True}, "aux_loss"),
        ({"name": "smp.Unet", "classes": 3}, "num_classes"),
        ({"name": "smp.Unet", "encoder_depth": 9}, "encoder_depth"),
        ({"name": "lraspp_mobilenet_v3_large", "aux_loss": True}, "aux_loss"),
        ({"name": "deeplabv3_resnet50", "encoder_name": "resnet18"}, "smp"),
        ({"name": "smp.Unet", "pretrained": "/no/such/weights.pt"}, "no such file"),
    ],
)
def test_bad_options_raise_config_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_model(**kwargs)


def test_wrong_input_channels_raise_config_error() -> None:
    model = build_model("smp.Unet", encoder_name="resnet18", in_channels=1)
    with pytest.raises(ConfigError, match="in_channels"):
        model(torch.randn(1, 3, 64, 64))


@pytest.mark.parametrize(
    ("name", "kwargs", "head_prefixes"),
    [
        ("deeplabv3_resnet50", {}, ("net.classifier.", "net.aux_classifier.")),
        ("smp.Unet", {"encoder_name": "resnet18"}, ("net.decoder.", "net.segmentation_head.")),
    ],
)
def test_head_parameter_names(name: str, kwargs: dict, head_prefixes: tuple[str, ...]) -> None:
    model = build_model(name, **kwargs)
    heads = head_parameter_names(model)
    all_names = [parameter_name for parameter_name, _ in model.named_parameters()]
    assert heads == [n for n in all_names if n.startswith(head_prefixes)]
    assert heads and len(heads) < len(all_names)

    holder = nn.Module()
    holder.model = model  # as in the LightningModule
    assert head_parameter_names(holder) == [f"model.{n}" for n in heads]
