"""Transforms keep 255, resample labels nearest and check the image size."""

from __future__ import annotations

import numpy as np
import pytest

from bus_seg.data.transforms import build_transform
from bus_seg.errors import ConfigError


@pytest.mark.parametrize("preset", ["train", "eval"])
def test_labels_stay_in_0_1_255_and_padding_is_ignored(preset: str) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (60, 100), dtype=np.uint8)
    labels = np.full((60, 100), 255, np.uint8)
    labels[20:40, 10:90] = rng.integers(0, 2, (20, 80))
    out = build_transform(preset, 64)(image=image, mask=labels, lesion=labels)
    assert out["image"].shape == (64, 64)
    assert set(np.unique(out["mask"])) <= {0, 1, 255}
    if preset == "eval":
        assert (out["mask"][:6] == 255).all(), "padding rows must be 'not labelled'"


def test_size_not_multiple_of_32_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="data.image_size=100 must be a positive multiple of 32"):
        build_transform("eval", 100)


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="data.augment='fancy'"):
        build_transform("fancy", 64)
