"""The files of one prediction: probability map, label map and overlay, at the original size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from matplotlib.colors import to_rgb
from skimage.segmentation import find_boundaries

from bus_seg.evaluation.figures import OKABE_ITO
from bus_seg.io.atomic import atomic_path
from bus_seg.io.images import read_array, write_png

PROBABILITY_FORMATS = {"png16": ".png", "tiff": ".tif"}
PNG16_MAX = 65535
OVERLAY_COLOR = np.array(to_rgb(OKABE_ITO["vermillion"])) * 255
OVERLAY_ALPHA = 0.45


def write_probability_map(path_without_suffix: Path, probability: np.ndarray, fmt: str) -> Path:
    """Write the cancer probability as a 16-bit PNG (``p · 65535``) or a float32 TIFF.

    Returns:
        The written file (suffix ``.png`` or ``.tif`` added).
    """
    path = path_without_suffix.with_name(path_without_suffix.name + PROBABILITY_FORMATS[fmt])
    if fmt == "png16":
        return write_png(
            path, np.round(np.clip(probability, 0.0, 1.0) * PNG16_MAX).astype(np.uint16)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, probability.astype(np.float32), compression="zlib")
    return path


def read_probability_map(path: str | Path) -> np.ndarray:
    """Read a map written by :func:`write_probability_map` back as float32 in [0, 1]."""
    path = Path(path)
    if path.suffix == PROBABILITY_FORMATS["tiff"]:
        return tifffile.imread(path).astype(np.float32)
    return read_array(path).astype(np.float32) / PNG16_MAX


def overlay(pixels: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """RGB picture of the ultrasound with predicted cancer filled (vermillion) and outlined."""
    rgb = np.repeat(pixels[..., None].astype(np.float32), 3, axis=2)
    cancer = labels == 1
    rgb[cancer] = (1 - OVERLAY_ALPHA) * rgb[cancer] + OVERLAY_ALPHA * OVERLAY_COLOR
    rgb[find_boundaries(cancer, mode="inner")] = OVERLAY_COLOR
    return np.round(rgb).astype(np.uint8)
