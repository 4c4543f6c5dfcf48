"""The conf/model options instantiate through Hydra into registry models that follow the contract."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from bus_seg.config import compose_config
from bus_seg.models import SegmentationNet
from bus_seg.paths import config_dir

MODEL_CONFIGS = sorted(
    path.stem for path in (config_dir() / "model").glob("*.yaml") if not path.stem.startswith("_")
)
EXPECTED_CONFIGS = {
    "fcn_resnet50",
    "fcn_resnet101",
    "deeplabv3_resnet50",
    "deeplabv3_resnet101",
    "deeplabv3_mobilenet_v3_large",
    "unet",
    "unetplusplus",
    "fpn",
    "deeplabv3plus",
    "tiny",
}


def test_expected_model_configs_exist() -> None:
    assert set(MODEL_CONFIGS) >= EXPECTED_CONFIGS


@pytest.mark.parametrize("config_name", MODEL_CONFIGS)
def test_model_config_builds_a_gray_two_class_model(config_name: str) -> None:
    cfg = compose_config([f"model={config_name}"]).model
    assert cfg.pretrained is None and cfg.in_channels == 1 and cfg.num_classes == 2
    model = instantiate(cfg)
    assert isinstance(model, SegmentationNet)
    model.eval()
    with torch.no_grad():
        outputs = model(torch.randn(1, 1, 64, 64))
    assert outputs["out"].shape == (1, 2, 64, 64)
    assert ("aux" in outputs) == bool(cfg.get("aux_loss"))


def test_tiny_model_is_cpu_sized() -> None:
    model = instantiate(compose_config(["model=tiny"]).model)
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    model.train()
    model(torch.randn(8, 1, 128, 128))["out"].mean().backward()
    assert all(p.grad is not None for p in model.parameters())  # no unused stages (DDP-safe)
