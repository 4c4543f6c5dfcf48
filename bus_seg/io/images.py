"""Plain raster images (PNG, JPEG, TIFF): read as gray or label arrays, write atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from bus_seg.errors import InputError
from bus_seg.io.atomic import atomic_path
from bus_seg.io.files import require_file
from bus_seg.io.pixel_budget import check_pixel_budget

TIFF_SUFFIXES = {".tif", ".tiff"}


def read_array(path: str | Path) -> np.ndarray:
    """Read a PNG/JPEG/TIFF into an array as stored (H×W, H×W×3 or H×W×4).

    Raises:
        InputError: the file is missing or cannot be decoded.
    """
    path = Path(path)
    require_file(
        path,
        "file",
        "check the path (relative paths are resolved against the manifest or data folder)",
    )
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                check_pixel_budget(path, "the image", *series.shape)
                return np.asarray(series.asarray())
        with Image.open(path) as img:
            check_pixel_budget(path, "the image", img.height, img.width, len(img.getbands()))
            if img.mode == "P":
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            elif img.mode in ("1", "LA", "CMYK", "YCbCr"):
                img = img.convert("L" if img.mode in ("1", "LA") else "RGB")
            return np.asarray(img)
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        ValueError,
        IndexError,
        tifffile.TiffFileError,
    ) as err:
        raise InputError(
            f"cannot decode image ({err.__class__.__name__}: {err}); is the file complete and a PNG/JPEG/TIFF?",
            path,
        ) from err


def to_gray(array: np.ndarray) -> np.ndarray:
    """Convert H×W×C (RGB or RGBA) to H×W luminance with ITU-R 601 weights; gray passes through."""
    if array.ndim == 2:
        return array
    if array.ndim == 3 and array.shape[2] in (3, 4):
        rgb = array[..., :3].astype(np.float32)
        gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.clip(
            np.rint(gray), 0, np.iinfo(array.dtype).max if array.dtype.kind == "u" else None
        ).astype(array.dtype)
    if array.ndim == 3 and array.shape[2] == 1:
        return array[..., 0]
    raise ValueError(f"expected a gray or RGB(A) image, got shape {array.shape}")


def read_gray(path: str | Path) -> np.ndarray:
    """Read an image as a 2-D gray array (uint8 or uint16 kept; RGB converted to luminance)."""
    array = read_array(path)
    try:
        return to_gray(array)
    except ValueError as err:
        raise InputError(str(err), path) from err


def read_label_map(path: str | Path) -> np.ndarray:
    """Read a single-channel 8-bit label map (0, 1, 255) as uint8 without any conversion."""
    array = read_array(path)
    if array.ndim != 2:
        raise InputError(f"label map must be single-channel, got shape {array.shape}", path)
    return array.astype(np.uint8, copy=False)


def write_png(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8/uint16 gray or uint8 RGB(A) array to PNG atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG")
    return path
