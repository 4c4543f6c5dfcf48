"""Albumentations presets: labels resampled nearest, 255 kept, images padded to a square size."""

from __future__ import annotations

import albumentations as A
import cv2

from bus_seg.errors import ConfigError
from bus_seg.labels import DEFAULT_MEAN, DEFAULT_STD, IGNORE_LABEL

SIZE_DIVISOR = 32
PRESETS = ("train", "eval", "none")


def check_image_size(image_size: int) -> None:
    """Raise a ConfigError unless ``image_size`` is a positive multiple of 32 (smp encoders need it)."""
    if image_size <= 0 or image_size % SIZE_DIVISOR:
        lower = max(SIZE_DIVISOR, image_size // SIZE_DIVISOR * SIZE_DIVISOR)
        raise ConfigError(
            f"data.image_size={image_size} must be a positive multiple of {SIZE_DIVISOR} (encoders downsample "
            f"by 32); try data.image_size={lower} or {lower + SIZE_DIVISOR}"
        )


def resize_and_pad(image_size: int) -> list[A.BasicTransform]:
    """Longest side to ``image_size``, then pad to a square (image 0, labels 255 = not labelled)."""
    return [
        A.LongestMaxSize(
            max_size=image_size, interpolation=cv2.INTER_AREA, mask_interpolation=cv2.INTER_NEAREST
        ),
        A.PadIfNeeded(
            min_height=image_size,
            min_width=image_size,
            position="center",
            border_mode=cv2.BORDER_CONSTANT,
            fill=0,
            fill_mask=IGNORE_LABEL,
        ),
    ]


def build_transform(
    preset: str, image_size: int, mean: float = DEFAULT_MEAN, std: float = DEFAULT_STD
) -> A.Compose:
    """The transform of one preset.

    Args:
        preset: ``train`` (flips, small affine, brightness/contrast, gamma, noise), ``eval``
            (resize and pad only) or ``none`` (same as eval: no augmentation).
        image_size: side of the square network input, a multiple of 32.
        mean: intensity mean subtracted after scaling to [0, 1] (default: ImageNet's gray mean).
        std: intensity standard deviation divided by after that.

    Returns:
        An ``A.Compose`` taking ``image`` (H×W uint8), ``mask``, and optionally ``lesion`` and
        ``region`` (H×W uint8, resampled like ``mask``).
    """
    if preset not in PRESETS:
        raise ConfigError(f"data.augment={preset!r} is unknown; choose one of {list(PRESETS)}")
    check_image_size(image_size)
    augment: list[A.BasicTransform] = []
    if preset == "train":
        augment = [
            A.HorizontalFlip(p=0.5),
            A.Affine(
                scale=(0.9, 1.1),
                translate_percent=(-0.05, 0.05),
                rotate=(-10, 10),
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=IGNORE_LABEL,
                p=0.5,
            ),
            A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.5),
            A.RandomGamma(gamma_limit=(85, 115), p=0.3),
            A.GaussNoise(std_range=(0.01, 0.04), p=0.3),
        ]
    return A.Compose(
        [
            *resize_and_pad(image_size),
            *augment,
            A.Normalize(mean=mean, std=std, max_pixel_value=255.0),
        ],
        additional_targets={"lesion": "mask", "region": "mask"},
    )
