"""Pretrained weights: state-dict files (full, backbone-only, Lightning), offline ImageNet caches.

Nothing here touches the network: caches point to tmp folders, connections are refused and the
download functions raise.
"""

from __future__ import annotations

import argparse
import json
import socket
import time
from pathlib import Path
from urllib.error import URLError

import huggingface_hub
import pytest
import segmentation_models_pytorch as smp
import timm
import torch
import torchvision
from huggingface_hub import constants as hf_constants
from safetensors.torch import save_file

from bus_seg.errors import ConfigError
from bus_seg.models import build_model

UNET_SMALL = {"encoder_name": "resnet18", "encoder_depth": 3, "decoder_channels": [32, 16, 8]}
SMP_RESNET18 = smp.encoders.encoders["resnet18"]["pretrained_settings"]["imagenet"]


def same_state(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def unet(**kwargs) -> torch.nn.Module:
    return build_model("smp.Unet", **{**UNET_SMALL, **kwargs})


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Empty torch hub and Hugging Face caches, refused connections, failing downloads."""

    def refuse(*args, **kwargs):
        raise URLError("network disabled in tests")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    return tmp_path


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_full_state_dict_round_trip(tmp_path: Path, suffix: str) -> None:
    source = unet(input_mode="adapt_conv")
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        save_file(source.state_dict(), path)
    else:
        torch.save(source.state_dict(), path)
    loaded = unet(input_mode="adapt_conv", pretrained=str(path))
    assert same_state(loaded.state_dict(), source.state_dict())


@pytest.mark.parametrize("attribute", ["net", "model"])
def test_lightning_and_torchvision_reference_checkpoints(tmp_path: Path, attribute: str) -> None:
    source = build_model("deeplabv3_mobilenet_v3_large")
    lightning = {
        "state_dict": {
            "loss.criterion.weight": torch.ones(2),  # LightningModule.loss, not the model
            **{f"{attribute}.{k}": v for k, v in source.state_dict().items()},
        },
        "epoch": 3,
        "pytorch-lightning_version": "2.6.0",
    }
    torch.save(lightning, tmp_path / "last.ckpt")
    loaded = build_model("deeplabv3_mobilenet_v3_large", pretrained=tmp_path / "last.ckpt")
    assert same_state(loaded.state_dict(), source.state_dict())

    # torchvision references/segmentation checkpoints: {"model": <library network state dict>}
    torch.save({"model": source.net.state_dict(), "epoch": 1}, tmp_path / "tv.pth")
    loaded = build_model("deeplabv3_mobilenet_v3_large", pretrained=tmp_path / "tv.pth")
    assert same_state(loaded.state_dict(), source.state_dict())


def test_full_state_dict_of_another_configuration_is_refused(tmp_path: Path) -> None:
    save_file(unet(num_classes=3).state_dict(), tmp_path / "three.safetensors")
    with pytest.raises(ConfigError, match="num_classes"):
        unet(pretrained=tmp_path / "three.safetensors")


def test_backbone_state_dict_loads_into_encoder_with_gray_kernels(tmp_path: Path) -> None:
    resnet = torchvision.models.resnet18().state_dict()  # ImageNet-style: with fc, all stages
    save_file(resnet, tmp_path / "resnet18.safetensors")
    with pytest.warns(UserWarning, match="not used"):
        model = unet(pretrained=tmp_path / "resnet18.safetensors", input_mode="adapt_conv")
    encoder = model.net.encoder.state_dict()
    assert torch.equal(encoder["conv1.weight"], resnet["conv1.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(encoder["layer2.1.conv2.weight"], resnet["layer2.1.conv2.weight"])

    # prefixed keys (a DDP-wrapped or "backbone."-prefixed file) are matched too
    prefixed = {f"module.backbone.{k}": v for k, v in resnet.items()}
    torch.save(prefixed, tmp_path / "prefixed.pth")
    with pytest.warns(UserWarning, match="not used"):
        model = unet(pretrained=tmp_path / "prefixed.pth")
    assert torch.equal(model.net.encoder.conv1.weight, resnet["conv1.weight"])


def test_state_dict_that_fits_nothing_is_refused(tmp_path: Path) -> None:
    save_file({"some.other.weight": torch.zeros(3, 3)}, tmp_path / "other.safetensors")
    with pytest.raises(ConfigError, match="fits this model's backbone"):
        unet(pretrained=tmp_path / "other.safetensors")
    torch.save({"state_dict": {"loss.weight": torch.ones(2)}}, tmp_path / "other.ckpt")
    with pytest.raises(ConfigError, match="not saved by bus_seg"):
        unet(pretrained=tmp_path / "other.ckpt")


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    torch.save({"args": argparse.Namespace(lr=0.1), "w": torch.zeros(1)}, tmp_path / "run.pth")
    with pytest.raises(ConfigError, match="refusing to unpickle .*run.pth: convert it"):
        unet(pretrained=tmp_path / "run.pth")


def test_unknown_weights_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "weights.h5").write_bytes(b"\x89HDF")
    with pytest.raises(ConfigError, match="safetensors"):
        unet(pretrained=tmp_path / "weights.h5")


def test_torchvision_imagenet_offline_fails_fast_naming_the_file(offline: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ConfigError) as error:
        build_model("deeplabv3_resnet101", pretrained="imagenet")
    assert time.monotonic() - start < 5
    expected = offline / "torch" / "hub" / "checkpoints" / "resnet101-63fe2227.pth"
    assert str(expected) in str(error.value)
    assert "https://download.pytorch.org/models/resnet101-63fe2227.pth" in str(error.value)


def test_torchvision_imagenet_download_error_is_reported(
    offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bus_seg.models.pretrained._host_reachable", lambda url: True)
    with pytest.raises(ConfigError, match="network disabled in tests"):
        build_model("fcn_resnet50", pretrained="imagenet")


@pytest.mark.parametrize("input_mode", ["replicate", "adapt_conv"])
def test_torchvision_imagenet_from_cache_without_network(offline: Path, input_mode: str) -> None:
    mobilenet = torchvision.models.mobilenet_v3_large().state_dict()
    cached = offline / "torch" / "hub" / "checkpoints" / "mobilenet_v3_large-8738ca79.pth"
    cached.parent.mkdir(parents=True)
    torch.save(mobilenet, cached)
    model = build_model(
        "deeplabv3_mobilenet_v3_large", pretrained="imagenet", input_mode=input_mode
    )
    backbone = model.net.backbone.state_dict()
    first_conv = mobilenet["features.0.0.weight"]
    if input_mode == "adapt_conv":
        first_conv = first_conv.sum(dim=1, keepdim=True)
    assert torch.equal(backbone["0.0.weight"], first_conv)
    assert torch.equal(backbone["16.0.weight"], mobilenet["features.16.0.weight"])


def test_smp_imagenet_offline_fails_fast_naming_the_files(offline: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ConfigError) as error:
        build_model("smp.Unet", encoder_name="resnet18", pretrained="imagenet")
    assert time.monotonic() - start < 5
    snapshot = (
        offline
        / "hf"
        / "models--smp-hub--resnet18.imagenet"
        / "snapshots"
        / SMP_RESNET18["revision"]
    )
    assert str(snapshot / "model.safetensors") in str(error.value)
    assert str(snapshot / "config.json") in str(error.value)


def test_smp_imagenet_from_cache_without_network(
    offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = (
        offline
        / "hf"
        / "models--smp-hub--resnet18.imagenet"
        / "snapshots"
        / SMP_RESNET18["revision"]
    )
    snapshot.mkdir(parents=True)
    weights = smp.encoders.get_encoder("resnet18").state_dict()
    save_file(weights, snapshot / "model.safetensors")
    (snapshot / "config.json").write_text(json.dumps({"mean": [0.485], "std": [0.229]}))
    # smp reads the files through its own hf_hub_download: allow the cache only.
    real_download = huggingface_hub.file_download.hf_hub_download
    monkeypatch.setattr(
        smp.encoders,
        "hf_hub_download",
        lambda *args, **kwargs: real_download(*args, local_files_only=True, **kwargs),
    )
    model = build_model("smp.Unet", encoder_name="resnet18", pretrained="imagenet")
    assert same_state(model.net.encoder.state_dict(), weights)


def test_timm_encoder_imagenet_from_cache_without_network(offline: Path) -> None:
    repo = offline / "hf" / "models--timm--mobilenetv3_small_050.lamb_in1k"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    weights = timm.create_model("mobilenetv3_small_050").state_dict()
    save_file(weights, repo / "snapshots" / commit / "model.safetensors")
    model = build_model(
        "smp.Unet",
        encoder_name="tu-mobilenetv3_small_050",
        encoder_depth=3,
        decoder_channels=[32, 16, 8],
        pretrained="imagenet",
    )
    encoder = model.net.encoder.state_dict()
    assert torch.equal(encoder["model.conv_stem.weight"], weights["conv_stem.weight"])
