"""A run's eval-time preprocessing, and its inverse that brings maps back to the original size."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bus_seg.data.transforms import build_transform
from bus_seg.labels import DEFAULT_MEAN, DEFAULT_STD, IGNORE_LABEL


@dataclass(frozen=True)
class Preprocessing:
    """How a run fed images to its network (the ``eval`` preset of :mod:`bus_seg.data.transforms`).

    Attributes:
        image_size: side of the square network input: the longest image side is resized to it
            (area interpolation) and the image centred on a zero-padded square.
        mean: intensity mean subtracted after scaling to [0, 1].
        std: intensity standard deviation divided by after that.
        in_channels: channels the network takes (the gray image is repeated).
    """

    image_size: int
    mean: float = DEFAULT_MEAN
    std: float = DEFAULT_STD
    in_channels: int = 1

    @classmethod
    def from_run_config(cls, cfg: Mapping[str, Any]) -> Preprocessing:
        """Read it from a run's resolved config (``data`` and ``model`` sections)."""
        data, model = cfg["data"], cfg["model"]
        return cls(
            image_size=int(data["image_size"]),
            mean=float(data.get("mean", DEFAULT_MEAN)),
            std=float(data.get("std", DEFAULT_STD)),
            in_channels=int(model.get("in_channels", 1)),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Letterbox:
    """Where an image of ``height``×``width`` pixels sits inside the square network input.

    The resized image fills rows ``y0:y1`` and columns ``x0:x1``; the rest is padding.
    """

    y0: int
    y1: int
    x0: int
    x1: int
    height: int
    width: int


class Preprocessor:
    """Turn an H×W uint8 image into the network input and remember its :class:`Letterbox`.

    The transform is the training code's own ``eval`` preset, so predictions see exactly what
    the test stage saw; the letterbox is read off a mask of ones sent through the same transform
    (its padding is marked 255), so it is exact whatever rounding the resize uses.
    """

    def __init__(self, preprocessing: Preprocessing) -> None:
        self.preprocessing = preprocessing
        self.transform = build_transform(
            "eval", preprocessing.image_size, preprocessing.mean, preprocessing.std
        )

    def __call__(self, pixels: np.ndarray) -> tuple[torch.Tensor, Letterbox]:
        """Return the ``in_channels``×S×S float tensor and the letterbox of ``pixels``."""
        out = self.transform(image=pixels, mask=np.ones(pixels.shape, dtype=np.uint8))
        inside = out["mask"] != IGNORE_LABEL
        rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
        box = Letterbox(
            int(rows[0]),
            int(rows[-1]) + 1,
            int(cols[0]),
            int(cols[-1]) + 1,
            int(pixels.shape[0]),
            int(pixels.shape[1]),
        )
        image = torch.from_numpy(np.ascontiguousarray(out["image"])).float().unsqueeze(0)
        return image.expand(self.preprocessing.in_channels, -1, -1).contiguous(), box


def restore_size(logits: torch.Tensor, box: Letterbox) -> torch.Tensor:
    """Undo the letterbox: crop the padding off C×S×S logits, resize them (bilinear) to C×H×W."""
    cropped = logits[None, :, box.y0 : box.y1, box.x0 : box.x1].float()
    return F.interpolate(
        cropped, size=(box.height, box.width), mode="bilinear", align_corners=False
    )[0]
