"""Write RGB whole-slide images: pyramidal OME-TIFF, pyramidal TIFF with resolution tags, PNG.

Every writer is atomic (a temporary file beside the target, then a rename). Pyramid levels are
box-filtered copies of level 0, each ``downsample`` times smaller, down to about
``min_level_size`` pixels; level 0 should be a multiple of the total downsample so that every
level's downsample is exact.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from bus_seg.errors import ConfigError
from bus_seg.io.atomic import atomic_path
from bus_seg.io.images import write_png

COMPRESSIONS = ("jpeg", "zlib", "none")
WSI_SUFFIXES = {"ome_tiff": ".ome.tif", "tiff": ".tif", "png": ".png"}


def pyramid(rgb: np.ndarray, downsample: int = 2, min_level_size: int = 128) -> list[np.ndarray]:
    """Level 0 and its box-filtered reductions while the smaller side stays ≥ ``min_level_size``."""
    if downsample < 2:
        raise ConfigError(f"pyramid downsample must be at least 2, got {downsample}")
    levels = [rgb]
    while min(levels[-1].shape[:2]) // downsample >= min_level_size:
        height, width = levels[-1].shape[:2]
        image = Image.fromarray(levels[-1])
        size = (width // downsample, height // downsample)
        levels.append(np.asarray(image.resize(size, Image.BOX)))
    return levels


def _tiff_options(compression: str, tile_size: int) -> dict:
    if compression not in COMPRESSIONS:
        raise ConfigError(f"WSI compression {compression!r} is not one of {', '.join(COMPRESSIONS)}")
    options: dict = {"photometric": "rgb", "tile": (tile_size, tile_size), "maxworkers": 1}
    if compression == "jpeg":
        options.update(compression="jpeg", compressionargs={"level": 90})
    elif compression == "zlib":
        options.update(compression="zlib", compressionargs={"level": 6})
    return options


def write_ome_tiff(
    path: str | Path,
    rgb: np.ndarray,
    mpp: float,
    *,
    downsample: int = 2,
    compression: str = "jpeg",
    tile_size: int = 256,
    min_level_size: int = 128,
    file_uuid: str | None = None,
) -> Path:
    """Write a tiled pyramidal OME-TIFF (levels in SubIFDs) with PhysicalSizeX/Y in µm.

    Args:
        path: target file (``.ome.tif``).
        rgb: H×W×3 uint8 level 0.
        mpp: µm per level-0 pixel.
        downsample: size ratio of consecutive levels (2 or 4).
        compression: ``jpeg``, ``zlib`` or ``none``.
        tile_size: tile edge in pixels (multiple of 16).
        min_level_size: smallest side of the last level.
        file_uuid: the OME UUID (give one for reproducible files; random otherwise).
    """
    levels = pyramid(rgb, downsample, min_level_size)
    options = _tiff_options(compression, tile_size)
    metadata = {
        "axes": "YXS",
        "PhysicalSizeX": mpp,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": mpp,
        "PhysicalSizeYUnit": "µm",
        "UUID": f"urn:uuid:{file_uuid or uuid.uuid4()}",
    }
    path = Path(path)
    with atomic_path(path) as tmp, tifffile.TiffWriter(tmp, ome=True) as tif:
        tif.write(
            levels[0],
            subifds=len(levels) - 1,
            resolution=(1e4 / mpp, 1e4 / mpp),
            resolutionunit="CENTIMETER",
            metadata=metadata,
            **options,
        )
        for number, level in enumerate(levels[1:], start=1):
            level_mpp = mpp * downsample**number
            tif.write(
                level,
                subfiletype=1,
                resolution=(1e4 / level_mpp, 1e4 / level_mpp),
                resolutionunit="CENTIMETER",
                **options,
            )
    return path


def write_pyramidal_tiff(
    path: str | Path,
    rgb: np.ndarray,
    mpp: float,
    *,
    downsample: int = 2,
    compression: str = "jpeg",
    tile_size: int = 256,
    min_level_size: int = 128,
) -> Path:
    """Write a tiled TIFF whose pages are the pyramid levels, with resolution tags (cm).

    Level 0 is the first page; each further page is a reduced image (``NewSubfileType`` 1).
    The MPP is stated only by XResolution/YResolution with ResolutionUnit CENTIMETER.
    """
    levels = pyramid(rgb, downsample, min_level_size)
    options = _tiff_options(compression, tile_size)
    path = Path(path)
    with atomic_path(path) as tmp, tifffile.TiffWriter(tmp) as tif:
        for number, level in enumerate(levels):
            level_mpp = mpp * downsample**number
            tif.write(
                level,
                subfiletype=1 if number else 0,
                resolution=(1e4 / level_mpp, 1e4 / level_mpp),
                resolutionunit="CENTIMETER",
                metadata=None,
                **options,
            )
    return path


def write_wsi_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write level 0 as a plain RGB PNG (its MPP must go into the manifest)."""
    return write_png(path, rgb)


def write_wsi(
    path: str | Path,
    rgb: np.ndarray,
    mpp: float,
    fmt: str,
    *,
    downsample: int = 2,
    compression: str = "jpeg",
    tile_size: int = 256,
    file_uuid: str | None = None,
) -> Path:
    """Write a slide in ``fmt``: ``ome_tiff``, ``tiff`` or ``png`` (see the writers above)."""
    if fmt == "ome_tiff":
        return write_ome_tiff(
            path, rgb, mpp, downsample=downsample, compression=compression,
            tile_size=tile_size, file_uuid=file_uuid,
        )
    if fmt == "tiff":
        return write_pyramidal_tiff(
            path, rgb, mpp, downsample=downsample, compression=compression, tile_size=tile_size
        )
    if fmt == "png":
        return write_wsi_png(path, rgb)
    raise ConfigError(f"unknown WSI format {fmt!r}; choose one of {', '.join(WSI_SUFFIXES)}")
