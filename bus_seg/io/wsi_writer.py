"""Write RGB whole-slide images: pyramidal OME-TIFF, pyramidal TIFF with resolution tags, PNG,
and scanner-resolution Aperio SVS / OME-TIFF streamed tile by tile (:func:`write_scanned_slide`).

Every writer is atomic (a temporary file beside the target, then a rename). Pyramid levels are
box-filtered copies of level 0, each ``downsample`` times smaller, down to about
``min_level_size`` pixels; level 0 should be a multiple of the total downsample so that every
level's downsample is exact.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
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
        raise ConfigError(
            f"WSI compression {compression!r} is not one of {', '.join(COMPRESSIONS)}"
        )
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
            path,
            rgb,
            mpp,
            downsample=downsample,
            compression=compression,
            tile_size=tile_size,
            file_uuid=file_uuid,
        )
    if fmt == "tiff":
        return write_pyramidal_tiff(
            path, rgb, mpp, downsample=downsample, compression=compression, tile_size=tile_size
        )
    if fmt == "png":
        return write_wsi_png(path, rgb)
    raise ConfigError(f"unknown WSI format {fmt!r}; choose one of {', '.join(WSI_SUFFIXES)}")


SCANNED_FORMATS = ("svs", "ome_tiff")
SCANNED_SUFFIXES = {"svs": ".svs", "ome_tiff": ".ome.tif"}
APERIO_HEADER = "Aperio Image Library v12.0.15"
_NOISE_TILES = 4


def scanned_levels(
    shape: tuple[int, int], downsample: int, min_level_size: int = 256
) -> list[tuple[int, int]]:
    """``(height, width)`` of each pyramid level of a level 0 of ``shape``: each ``downsample``
    times smaller (rounded down), while the smaller side stays ≥ ``min_level_size``."""
    if downsample < 2:
        raise ConfigError(f"pyramid downsample must be at least 2, got {downsample}")
    levels = [tuple(shape)]
    while min(levels[-1]) // downsample >= min_level_size:
        levels.append((levels[-1][0] // downsample, levels[-1][1] // downsample))
    return levels


class _Resampler:
    """Tiles of one pyramid level, resampled from a coarser (or equal) source image.

    A level finer than the source is interpolated bilinearly, tile by tile (pixel centres
    aligned: level pixel ``i`` samples the source at ``(i + 0.5) / factor - 0.5``), so the level
    is never held whole; a level coarser than the source is box-filtered from it at once (it is
    smaller than the source). A little deterministic noise stands in for the scanner's.
    """

    def __init__(
        self,
        source: np.ndarray,
        shape: tuple[int, int],
        tile: int,
        noise: np.ndarray,
    ) -> None:
        self.source, self.shape, self.tile, self.noise = source, shape, tile, noise
        self.factor = shape[1] / source.shape[1]
        self.image = None
        if self.factor < 1:
            resized = Image.fromarray(source).resize((shape[1], shape[0]), Image.BOX)
            self.image = np.asarray(resized)

    def tiles(self) -> Iterator[np.ndarray]:
        """Every tile, row by row, each ``tile``×``tile``×3 (edge tiles padded with white)."""
        height, width = self.shape
        for row, top in enumerate(range(0, height, self.tile)):
            for col, left in enumerate(range(0, width, self.tile)):
                yield self._tile(top, left, row * 7 + col * 13)

    def _tile(self, top: int, left: int, index: int) -> np.ndarray:
        height, width = self.shape
        size = self.tile
        rows, cols = min(size, height - top), min(size, width - left)
        if self.image is not None:
            part = self.image[top : top + rows, left : left + cols].astype(np.int16)
        else:
            row_weights, row_index = _interpolation(top, rows, self.factor, self.source.shape[0])
            col_weights, col_index = _interpolation(left, cols, self.factor, self.source.shape[1])
            window = self.source[np.ix_(row_index, col_index)].astype(np.float32)
            part = np.einsum("ri,ijc,sj->rsc", row_weights, window, col_weights, optimize=True)
            part = np.rint(part).astype(np.int16)
        part = part + self.noise[index % len(self.noise)][:rows, :cols]
        out = np.full((size, size, 3), 255, dtype=np.uint8)
        out[:rows, :cols] = np.clip(part, 0, 255)
        return out


def _interpolation(
    start: int, count: int, factor: float, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear weights ``(count, n)`` and the ``n`` source indices they apply to, for level
    pixels ``start .. start + count - 1`` (edges clamped)."""
    centres = (np.arange(start, start + count) + 0.5) / factor - 0.5
    centres = np.clip(centres, 0.0, size - 1.0)
    low = np.floor(centres).astype(np.int64)
    first, last = int(low[0]), min(int(low[-1]) + 1, size - 1)
    index = np.arange(first, last + 1)
    weights = np.zeros((count, len(index)), dtype=np.float32)
    frac = (centres - low).astype(np.float32)
    weights[np.arange(count), low - first] += 1.0 - frac
    high = np.minimum(low + 1, size - 1)
    weights[np.arange(count), high - first] += frac
    return weights, index


def _noise_tiles(tile: int, seed: int, amplitude: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-amplitude, amplitude + 1, (_NOISE_TILES, tile, tile, 3), dtype=np.int16)


def _small_image(rgb: np.ndarray, longest: int) -> np.ndarray:
    """``rgb`` shrunk (box filter) so that its longer side is about ``longest`` pixels."""
    height, width = rgb.shape[:2]
    scale = min(1.0, longest / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BOX))


def _label_image(seed: int) -> np.ndarray:
    """A slide label: white with a dark bar pattern (a stand-in for the barcode)."""
    rng = np.random.default_rng(seed)
    label = np.full((384, 384, 3), 245, dtype=np.uint8)
    bars = rng.integers(0, 2, 48).astype(bool)
    for index in np.flatnonzero(bars):
        label[40:160, 48 + 6 * index : 51 + 6 * index] = 20
    return label


def _macro_image(rgb: np.ndarray, label: np.ndarray) -> np.ndarray:
    """An overview of the whole glass slide: the label, then the scanned area."""
    macro = np.full((463, 1280, 3), 235, dtype=np.uint8)
    macro[40:423, 20:403] = np.asarray(Image.fromarray(label).resize((383, 383)))
    scan = _small_image(rgb, 820)[:423, :840]
    macro[20 : 20 + scan.shape[0], 430 : 430 + scan.shape[1]] = scan
    return macro


def write_scanned_slide(
    path: str | Path,
    source: np.ndarray,
    source_mpp: float,
    mpp: float,
    fmt: str,
    *,
    downsample: int = 4,
    compression: str = "jpeg",
    tile_size: int = 256,
    seed: int = 0,
    file_uuid: str | None = None,
) -> Path:
    """Write a slide as a scanner would at ``mpp`` µm/px, streamed tile by tile.

    Level 0 is ``source_mpp / mpp`` (a whole number) times larger than ``source`` and is
    never held in memory: every level is resampled from ``source`` tile by tile (see
    :class:`_Resampler`) and handed to the writer as a tile iterator.

    Args:
        path: target file.
        source: H×W×3 uint8 slide at ``source_mpp``.
        source_mpp: µm per pixel of ``source``.
        mpp: µm per level-0 pixel of the written slide (e.g. 0.25 for 40×, 0.5 for 20×).
        fmt: ``svs`` (Aperio: level 0, thumbnail, pyramid levels, label and macro images, MPP
            in the ImageDescription) or ``ome_tiff`` (levels in SubIFDs, OME PhysicalSizeX).
        downsample: size ratio of consecutive levels (2 or 4).
        compression: ``jpeg``, ``zlib`` or ``none``.
        tile_size: tile edge (multiple of 16).
        seed: seed of the scanner noise and the label.
        file_uuid: the OME UUID (random when None).

    Raises:
        ConfigError: ``source_mpp / mpp`` is not a whole number ≥ 1, or an unknown format.
    """
    ratio = source_mpp / mpp
    if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-6:
        raise ConfigError(
            f"the slide is simulated at {source_mpp:g} µm/px and cannot be scanned at {mpp:g} "
            "µm/px: wsi.mpp / wsi.scan_mpp must be a whole number (e.g. mpp 2 with scan_mpp 0.5 "
            "or 0.25)"
        )
    if fmt not in SCANNED_FORMATS:
        raise ConfigError(
            f"scanned slide format {fmt!r} is not one of {', '.join(SCANNED_FORMATS)}"
        )
    ratio = round(ratio)
    shapes = scanned_levels((source.shape[0] * ratio, source.shape[1] * ratio), downsample)
    options = _tiff_options(compression, tile_size)
    options.pop("tile")
    noise = _noise_tiles(tile_size, seed)
    path = Path(path)
    with (
        atomic_path(path) as tmp,
        tifffile.TiffWriter(tmp, bigtiff=True, ome=fmt == "ome_tiff") as tif,
    ):
        if fmt == "svs":
            _write_svs(tif, source, shapes, mpp, tile_size, noise, options, seed)
        else:
            _write_ome(tif, source, shapes, mpp, tile_size, noise, options, file_uuid)
    return path


def _write_level(
    tif: tifffile.TiffWriter,
    source: np.ndarray,
    shape: tuple[int, int],
    tile_size: int,
    noise: np.ndarray,
    options: dict,
    **extra: object,
) -> None:
    tiles = _Resampler(source, shape, tile_size, noise).tiles()
    tif.write(
        tiles,
        shape=(*shape, 3),
        dtype=np.uint8,
        tile=(tile_size, tile_size),
        **options,
        **extra,
    )


def _write_svs(
    tif: tifffile.TiffWriter,
    source: np.ndarray,
    shapes: list[tuple[int, int]],
    mpp: float,
    tile_size: int,
    noise: np.ndarray,
    options: dict,
    seed: int,
) -> None:
    """Aperio layout: level 0, thumbnail (stripped), levels 1.., label, macro."""
    height, width = shapes[0]
    magnification = round(10.0 / mpp)
    quality = "Q=90" if options.get("compression") == "jpeg" else "RAW"
    base = f"{width}x{height} [0,0 {width}x{height}] ({tile_size}x{tile_size})"
    fields = f"AppMag = {magnification}|MPP = {mpp:.4f}|Filename = slide|ScanScope ID = SIM"
    still = {k: v for k, v in options.items() if k != "maxworkers"}
    _write_level(
        tif,
        source,
        shapes[0],
        tile_size,
        noise,
        options,
        description=f"{APERIO_HEADER}\r\n{base} JPEG/RGB {quality}|{fields}",
        metadata=None,
    )
    thumbnail = _small_image(source, 768)
    tif.write(
        thumbnail,
        description=f"{APERIO_HEADER}\r\n{width}x{height} -> "
        f"{thumbnail.shape[1]}x{thumbnail.shape[0]} - |{fields}",
        metadata=None,
        **still,
    )
    for shape in shapes[1:]:
        _write_level(
            tif,
            source,
            shape,
            tile_size,
            noise,
            options,
            description=f"{APERIO_HEADER}\r\n{base} -> {shape[1]}x{shape[0]} JPEG/RGB {quality}",
            metadata=None,
        )
    label = _label_image(seed)
    tif.write(
        label,
        subfiletype=1,
        description=f"{APERIO_HEADER}\r\nlabel {label.shape[1]}x{label.shape[0]}",
        metadata=None,
        **still,
    )
    macro = _macro_image(source, label)
    tif.write(
        macro,
        subfiletype=9,
        description=f"{APERIO_HEADER}\r\nmacro {macro.shape[1]}x{macro.shape[0]}",
        metadata=None,
        **still,
    )


def _write_ome(
    tif: tifffile.TiffWriter,
    source: np.ndarray,
    shapes: list[tuple[int, int]],
    mpp: float,
    tile_size: int,
    noise: np.ndarray,
    options: dict,
    file_uuid: str | None,
) -> None:
    """OME-TIFF: level 0 with the reduced levels in its SubIFDs."""
    metadata = {
        "axes": "YXS",
        "PhysicalSizeX": mpp,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": mpp,
        "PhysicalSizeYUnit": "µm",
        "UUID": f"urn:uuid:{file_uuid or uuid.uuid4()}",
    }
    resolution = (1e4 / mpp, 1e4 / mpp)
    _write_level(
        tif,
        source,
        shapes[0],
        tile_size,
        noise,
        options,
        subifds=len(shapes) - 1,
        resolution=resolution,
        resolutionunit="CENTIMETER",
        metadata=metadata,
    )
    for shape in shapes[1:]:
        scale = shapes[0][1] / shape[1]
        _write_level(
            tif,
            source,
            shape,
            tile_size,
            noise,
            options,
            subfiletype=1,
            resolution=(resolution[0] / scale, resolution[1] / scale),
            resolutionunit="CENTIMETER",
        )
