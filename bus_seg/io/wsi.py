"""Whole-slide images (Aperio SVS, OME-TIFF, pyramidal/plain TIFF, PNG/JPEG) as RGB pyramids.

Pyramid levels are read lazily: opening a slide reads metadata only, and a level is decoded when
it is asked for. A region of a tiled or striped TIFF level decodes only the tiles it touches.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from bus_seg.errors import InputError
from bus_seg.io.files import require_file
from bus_seg.io.images import read_array
from bus_seg.io.pixel_budget import check_pixel_budget
from bus_seg.io.reader_options import DEFAULT_BACKEND, TIFFFILE
from bus_seg.io.slide_backends import BackendLevel, open_with_backend, resolve_backend
from bus_seg.io.wsi_metadata import FileMpp, check_mpp, mpp_in_range, read_file_mpp

PIL_SUFFIXES = {".png", ".jpg", ".jpeg"}
MPP_TOLERANCE = 0.01
"""Relative difference between manifest and file MPP above which a warning is given."""

BAND_PIXELS = 2**24
"""Level pixels :meth:`WSI.read_reduced` decodes at once (about 50 MB of RGB)."""

_NOT_PYRAMID_SERIES = {"label", "macro", "thumbnail", "overview"}
_CHANNEL_AXES = "SC"
_JPEG_COMPRESSIONS = {6, 7, 33007, 34892}

Roi = tuple[int, int, int, int]

# What tifffile and the imagecodecs decoders raise on truncated or corrupt data.
_DECODE_ERRORS = (tifffile.TiffFileError, OSError, EOFError, ValueError, RuntimeError, KeyError)


class _TiffLevel:
    """One pyramid level stored in a TIFF series: its shape and how to decode it."""

    def __init__(self, series: tifffile.TiffPageSeries) -> None:
        self.series = series
        axes, shape = series.axes, series.shape
        self.shape = (shape[axes.index("Y")], shape[axes.index("X")])
        self.channels = math.prod(
            n for ax, n in zip(axes, shape, strict=True) if ax in _CHANNEL_AXES
        )
        self.extra_planes = math.prod(
            n for ax, n in zip(axes, shape, strict=True) if ax not in "YX" + _CHANNEL_AXES
        )
        self.keyframe = series.keyframe

    def read(self, window: Roi) -> np.ndarray:
        """Decode the level-pixel window ``(x, y, w, h)`` as H×W×C (C may be 1)."""
        x, y, w, h = window
        path = self.series.parent.filehandle.path
        if self._segments_readable() and (w, h) != (self.shape[1], self.shape[0]):
            check_pixel_budget(path, "the region read from the slide", h, w, self.channels)
            return self._read_segments(window)
        check_pixel_budget(path, "a whole level of the slide", *self.series.shape)
        array = self._plane(self.series.asarray())
        return array[y : y + h, x : x + w]

    def _plane(self, array: np.ndarray) -> np.ndarray:
        """Reduce a series array to H×W×C: first plane of extra axes, channel axes last."""
        axes = self.series.axes
        index = tuple(slice(None) if ax in "YX" + _CHANNEL_AXES else 0 for ax in axes)
        kept = [ax for ax in axes if ax in "YX" + _CHANNEL_AXES]
        array = array[index]
        order = [kept.index("Y"), kept.index("X")] + [
            i for i, ax in enumerate(kept) if ax not in "YX"
        ]
        array = np.transpose(array, order)
        return array.reshape(array.shape[0], array.shape[1], -1)

    @property
    def tile_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the blocks decoded one by one: tiles, strips or the level."""
        if not self._segments_readable():
            return self.shape
        page = self.keyframe
        if page.is_tiled:
            return page.tilelength, page.tilewidth
        return min(page.rowsperstrip, self.shape[0]), self.shape[1]

    def _segments_readable(self) -> bool:
        """Whether the level is one page whose tiles/strips can be decoded one by one."""
        page = self.keyframe
        if len(self.series.pages) != 1 or page.imagedepth != 1 or self.extra_planes != 1:
            return False
        if page.bitspersample not in (8, 16, 32, 64):  # packed bits: let tifffile unpack
            return False
        return len(page.dataoffsets) == page.shaped[0] * math.prod(self._grid())

    def _grid(self) -> tuple[int, int]:
        page = self.keyframe
        height, width = self.shape
        if page.is_tiled:
            return math.ceil(height / page.tilelength), math.ceil(width / page.tilewidth)
        return math.ceil(height / page.rowsperstrip), 1

    def _read_segments(self, window: Roi) -> np.ndarray:
        """Decode only the tiles (or strips) of the single page that overlap ``window``."""
        page = self.series.pages[0]
        keyframe = self.keyframe
        x, y, w, h = window
        separate, _, _, _, contig = keyframe.shaped
        seg_h, seg_w = (
            (keyframe.tilelength, keyframe.tilewidth)
            if keyframe.is_tiled
            else (keyframe.rowsperstrip, self.shape[1])
        )
        rows, cols = self._grid()
        wanted = [
            (plane * rows + r) * cols + c
            for plane in range(separate)
            for r in range(y // seg_h, (y + h - 1) // seg_h + 1)
            for c in range(x // seg_w, (x + w - 1) // seg_w + 1)
        ]
        out = np.zeros((h, w, separate * contig), dtype=keyframe.dtype)
        decodeargs = {}
        if keyframe.compression in _JPEG_COMPRESSIONS:
            decodeargs = {"jpegtables": page.jpegtables, "jpegheader": keyframe.jpegheader}
        fh = page.parent.filehandle
        offsets = [page.dataoffsets[i] for i in wanted]
        bytecounts = [page.databytecounts[i] for i in wanted]
        for data, index in fh.read_segments(offsets, bytecounts, indices=wanted, lock=fh.lock):
            segment, (plane, _, top, left, _), _ = keyframe.decode(data, index, **decodeargs)
            if segment is None:  # an empty tile keeps the fill value 0
                continue
            segment = segment[0]  # decoded tiles are cropped at the image's edges
            y0, y1 = max(top, y), min(top + segment.shape[0], y + h, self.shape[0])
            x0, x1 = max(left, x), min(left + segment.shape[1], x + w, self.shape[1])
            if y0 >= y1 or x0 >= x1:
                continue
            channels = slice(plane * contig, (plane + 1) * contig)
            out[y0 - y : y1 - y, x0 - x : x1 - x, channels] = segment[
                y0 - top : y1 - top, x0 - left : x1 - left
            ]
        return out


class _PilLevel:
    """The single level of a PNG/JPEG slide, decoded once through PIL when first read."""

    def __init__(self, path: Path, shape: tuple[int, int], channels: int) -> None:
        self.path, self.shape, self.channels, self.extra_planes = path, shape, channels, 1
        self._array: np.ndarray | None = None

    @property
    def tile_shape(self) -> tuple[int, int]:
        """The whole level: PIL decodes it at once."""
        return self.shape

    def read(self, window: Roi) -> np.ndarray:
        if self._array is None:
            try:
                array = read_array(self.path)
            except Image.DecompressionBombError as err:
                raise InputError(_too_large_message(err), self.path) from err
            self._array = array.reshape(array.shape[0], array.shape[1], -1)
        x, y, w, h = window
        return self._array[y : y + h, x : x + w]


_Level = _TiffLevel | _PilLevel | BackendLevel


class WSI:
    """An open whole-slide image: level shapes, MPP, and lazy RGB reads of levels and regions.

    Build it with :func:`open_wsi`. Coordinates of regions are ``(x, y, w, h)`` in level-0
    pixels; shapes are ``(height, width)``.

    Attributes:
        path: the slide file.
        mpp: micrometres per level-0 pixel actually used (the manifest value wins).
        mpp_source: ``"manifest"``, ``"aperio"``, ``"ome"`` or ``"tiff-resolution"``.
        warnings: notes for the report (MPP disagreement, ignored metadata, extra planes).
        level_shapes: ``(height, width)`` of each level, level 0 first.
        level_downsamples: level-0 pixels per level pixel along x, 1.0 for level 0.
    """

    def __init__(
        self,
        path: Path,
        levels: list[_Level],
        mpp: float,
        mpp_source: str,
        warnings: list[str],
        tif: tifffile.TiffFile | None = None,
    ) -> None:
        self.path = path
        self.mpp = mpp
        self.mpp_source = mpp_source
        self.warnings = warnings
        self._levels = levels
        self._tif = tif
        self.level_shapes = [level.shape for level in levels]
        width0 = self.level_shapes[0][1]
        self.level_downsamples = [width0 / width for _, width in self.level_shapes]

    def __repr__(self) -> str:
        return (
            f"WSI({self.path.name!r}, levels={self.level_shapes}, mpp={self.mpp:g} "
            f"({self.mpp_source}))"
        )

    def __enter__(self) -> WSI:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file; later reads fail."""
        if self._tif is not None:
            self._tif.close()
            self._tif = None
        self._levels = []

    @property
    def level_count(self) -> int:
        """Number of pyramid levels."""
        return len(self.level_shapes)

    def level_mpp(self, level: int) -> float:
        """Micrometres per pixel of ``level`` (along x)."""
        return self.mpp * self.level_downsamples[self._check_level(level)]

    def best_level(self, target_mpp: float) -> int:
        """The coarsest level whose MPP is at most ``target_mpp`` (1 % slack); 0 if none."""
        fitting = [
            level
            for level in range(self.level_count)
            if self.level_mpp(level) <= target_mpp * (1 + MPP_TOLERANCE)
        ]
        return max(fitting, key=self.level_mpp, default=0)

    def roi_to_level(self, level: int, roi: Roi | None) -> Roi:
        """Map a level-0 region ``(x, y, w, h)`` to the level's pixels, clipped to the level.

        The level window covers every level pixel that overlaps the region, so its level-0
        origin is ``(x * downsample_x, y * downsample_y)`` with the level's own downsamples.

        Raises:
            InputError: the region is empty or lies outside the slide.
        """
        height, width = self.level_shapes[self._check_level(level)]
        if roi is None:
            return 0, 0, width, height
        x, y, w, h = (float(v) for v in roi)
        height0, width0 = self.level_shapes[0]
        scale_x, scale_y = width / width0, height / height0
        x0, y0 = max(math.floor(x * scale_x), 0), max(math.floor(y * scale_y), 0)
        x1 = min(math.ceil((x + w) * scale_x), width)
        y1 = min(math.ceil((y + h) * scale_y), height)
        if w <= 0 or h <= 0 or x1 <= x0 or y1 <= y0:
            raise InputError(
                f"region x,y,w,h = {x:g},{y:g},{w:g},{h:g} is empty or lies outside the slide "
                f"(level-0 size {width0}×{height0}); fix wsi_roi in the manifest",
                self.path,
            )
        return x0, y0, x1 - x0, y1 - y0

    def read_level(self, level: int, roi: Roi | None = None) -> np.ndarray:
        """Decode a level (or the part of it covering a level-0 region) as H×W×3 uint8 RGB.

        Args:
            level: pyramid level, 0 = full resolution.
            roi: ``(x, y, w, h)`` in level-0 pixels, mapped to the level with
                :meth:`roi_to_level`; None reads the whole level.

        Raises:
            InputError: the file cannot be decoded (truncated, corrupt, missing codec).
        """
        window = self.roi_to_level(level, roi)
        source = self._levels[level]
        try:
            array = source.read(window)
        except InputError:
            raise
        except MemoryError as err:
            raise InputError(
                f"level {level} ({window[2]}×{window[3]} px) does not fit in memory; read a "
                "coarser level or a smaller region",
                self.path,
            ) from err
        except _DECODE_ERRORS as err:
            raise InputError(
                f"cannot decode level {level} ({type(err).__name__}: {err}); the file is "
                "probably truncated or corrupt: copy or export it again",
                self.path,
            ) from err
        return _to_rgb_uint8(array, invert=_is_min_is_white(source))

    def tile_shape(self, level: int) -> tuple[int, int]:
        """``(height, width)`` of the blocks ``level`` is decoded in (tiles, strips, or the whole
        level when it cannot be read in parts); regions aligned to them decode nothing extra."""
        return self._levels[self._check_level(level)].tile_shape

    def read_reduced(
        self, level: int, block: int, roi: Roi | None = None, band_pixels: int | None = None
    ) -> tuple[np.ndarray, Roi]:
        """Read a level (or the window covering a level-0 region) averaged over ``block``-pixel
        squares, band by band, so that at most about ``band_pixels`` (default
        :data:`BAND_PIXELS`) level pixels are decoded at once (a large single-level file is
        never held whole).

        Returns:
            ``(rgb, window)``: ``block_mean(read_level(level, roi), block)``, and the level
            window ``(x, y, w, h)`` read (see :meth:`roi_to_level`).
        """
        window = self.roi_to_level(level, roi)
        x, y, w, h = window
        # what is kept: the reduced grid (the bands decoded are each within the budget too)
        check_pixel_budget(
            self.path,
            f"level {level} averaged over {block}×{block} pixels",
            math.ceil(h / block),
            math.ceil(w / block),
            3,
        )
        tile_h = self.tile_shape(level)[0]
        band_pixels = band_pixels or BAND_PIXELS
        if tile_h >= h or w * h <= band_pixels:
            return block_mean(self.read_level(level, roi), block), window
        rows = max(band_pixels // w, tile_h, block)
        rows = math.ceil(rows / math.lcm(block, tile_h)) * math.lcm(block, tile_h)
        height0, width0 = self.level_shapes[0]
        height, width = self.level_shapes[level]
        scale_x, scale_y = width0 / width, height0 / height
        bands = []
        for top in range(y, y + h, rows):
            band_h = min(rows, y + h - top)
            # a quarter pixel inside the window's edges: rounding cannot add a row or column
            band_roi = (
                (x + 0.25) * scale_x,
                (top + 0.25) * scale_y,
                (w - 0.5) * scale_x,
                (band_h - 0.5) * scale_y,
            )
            band = self.read_level(level, band_roi)
            bands.append(block_mean(band, block))
        return np.concatenate(bands, axis=0), window

    def read_at_mpp(self, target_mpp: float, roi: Roi | None = None) -> tuple[np.ndarray, float]:
        """Read the coarsest level at least as fine as ``target_mpp``.

        Returns:
            ``(rgb, mpp)``: the H×W×3 uint8 array and the MPP of the level it came from.
        """
        level = self.best_level(target_mpp)
        return self.read_level(level, roi), self.level_mpp(level)

    def _check_level(self, level: int) -> int:
        if not self._levels:
            raise ValueError(f"{self.path}: the WSI is closed")
        if not 0 <= level < self.level_count:
            raise IndexError(
                f"level {level} does not exist: {self.path.name} has levels 0–{self.level_count - 1}"
            )
        return level


def open_wsi(path: str | Path, mpp: float | None = None, backend: str = DEFAULT_BACKEND) -> WSI:
    """Open a whole-slide image and settle its MPP.

    Args:
        path: Aperio SVS, OME-TIFF, pyramidal or plain TIFF, PNG or JPEG; through the
            ``openslide`` backend also NDPI, MRXS, SCN, BIF and Philips TIFF.
        mpp: ``wsi_mpp`` from the manifest; it wins over the file's value (a disagreement
            above 1 % is a warning). Required when the file states none.
        backend: ``tifffile``, ``openslide``, ``tiffslide`` or ``auto``
            (:mod:`bus_seg.io.slide_backends`); PNG and JPEG are always read with PIL.

    Raises:
        InputError: the file is missing, empty, not an image, needs a missing codec or
            backend, or no plausible MPP is known.
        ConfigError: ``backend`` is unknown.
    """
    path = Path(path)
    require_file(path, "WSI file", "check wsi_path in the manifest")
    if path.stat().st_size == 0:
        raise InputError("WSI file is empty (0 bytes); copy or export it again", path)
    if path.suffix.lower() in PIL_SUFFIXES:
        level = _open_pil_level(path)
        return WSI(path, [level], _settle_mpp(path, mpp, None, []), "manifest", [])
    chosen = resolve_backend(backend, path)
    if chosen != TIFFFILE:
        slide = open_with_backend(path, chosen)
        try:
            used_mpp = _settle_mpp(path, mpp, slide.file_mpp, slide.warnings)
        except BaseException:
            slide.handle.close()
            raise
        source = "manifest" if slide.file_mpp is None or mpp is not None else slide.file_mpp.source
        return WSI(path, slide.levels, used_mpp, source, slide.warnings, slide.handle)
    tif = _open_tiff(path)
    try:
        levels = [_TiffLevel(series) for series in _pyramid_series(tif)]
        _check_codecs(path, levels)
        _check_complete(path, levels)
        file_mpp, warnings = read_file_mpp(tif)
        used_mpp = _settle_mpp(path, mpp, file_mpp, warnings)
        warnings.extend(_layout_warnings(levels))
    except BaseException:
        tif.close()
        raise
    source = "manifest" if mpp is not None else file_mpp.source
    return WSI(path, levels, used_mpp, source, warnings, tif)


def _open_tiff(path: Path) -> tifffile.TiffFile:
    tif = None
    try:
        tif = tifffile.TiffFile(path)
        series = tif.series  # parsing the series touches every IFD: a broken file fails here
    except Exception as err:  # tifffile raises many types on broken files; none may escape
        if tif is not None:
            tif.close()
        raise InputError(
            f"cannot read as a TIFF/SVS slide ({type(err).__name__}: {err}); is it a complete "
            "Aperio SVS, OME-TIFF or TIFF file? Copy or export it again",
            path,
        ) from err
    if not series or not {"Y", "X"} <= set(series[0].axes):
        tif.close()
        raise InputError("TIFF file holds no 2-D image; export the slide again", path)
    return tif


def _pyramid_series(tif: tifffile.TiffFile) -> list[tifffile.TiffPageSeries]:
    """The series that form the pyramid, finest first.

    Aperio: the levels of the baseline series (label/macro/thumbnail are separate series).
    Otherwise also later series that are reduced copies of level 0 with the same aspect ratio
    and channels (OME pyramids stored as several images, multi-page TIFFs of shrinking pages).
    """
    base = tif.series[0]
    levels = list(base.levels)
    if tif.is_svs:
        return levels
    for series in tif.series[1:]:
        if series.name.lower() in _NOT_PYRAMID_SERIES:
            continue
        if not _is_reduced_copy(levels[0], levels[-1], series):
            break
        levels.append(series)
    return levels


def _is_reduced_copy(
    base: tifffile.TiffPageSeries,
    previous: tifffile.TiffPageSeries,
    series: tifffile.TiffPageSeries,
) -> bool:
    if "Y" not in series.axes or "X" not in series.axes:
        return False
    shape0, shape_prev, shape = (_TiffLevel(s) for s in (base, previous, series))
    (h0, w0), (hp, wp), (h, w) = shape0.shape, shape_prev.shape, shape.shape
    if not (h < hp and w < wp) or shape.channels != shape0.channels:
        return False
    downsample = w0 / w
    return abs(h0 / downsample - h) <= 1.0 + 0.01 * h


def _check_codecs(path: Path, levels: list[_TiffLevel]) -> None:
    for compression in {level.keyframe.compression for level in levels}:
        try:
            tifffile.TIFF.DECOMPRESSORS[compression]
        except KeyError as err:
            name = _compression_name(compression)
            if "imagecodecs" in str(err):
                raise InputError(
                    f"the slide is compressed with {name}, which tifffile decodes only with the "
                    "imagecodecs package: pip install imagecodecs",
                    path,
                ) from err
            raise InputError(
                f"the slide's compression {name} is not supported by tifffile; convert it to a "
                "JPEG- or LZW-compressed pyramidal TIFF (e.g. with vips tiffsave or bfconvert)",
                path,
            ) from err


def _check_complete(path: Path, levels: list[_TiffLevel]) -> None:
    """Raise if the image data of a level extends past the end of the file (a cut copy)."""
    size = path.stat().st_size
    for number, level in enumerate(levels):
        end = max(
            (
                o + n
                for page in level.series.pages
                for o, n in zip(page.dataoffsets, page.databytecounts, strict=True)
            ),
            default=0,
        )
        if end > size:
            raise InputError(
                f"the file is truncated: level {number} needs {end} bytes but the file has "
                f"{size}; copy it again",
                path,
            )


def _compression_name(compression: int) -> str:
    try:
        return f"{tifffile.COMPRESSION(compression).name} ({compression})"
    except ValueError:
        return str(compression)


def _layout_warnings(levels: list[_TiffLevel]) -> list[str]:
    warnings = []
    level0 = levels[0]
    if level0.extra_planes > 1:
        warnings.append(
            f"level 0 holds {level0.extra_planes} planes (axes {level0.series.axes}); "
            "only the first is used"
        )
    if level0.channels > 4:
        warnings.append(f"level 0 has {level0.channels} channels; the first three are read as RGB")
    if len(levels) == 1 and max(level0.shape) > 20000:
        warnings.append(
            f"no pyramid levels below level 0 ({level0.shape[1]}×{level0.shape[0]} px): every "
            "read decodes full resolution; a pyramidal TIFF is much faster"
        )
    return warnings


def _open_pil_level(path: Path) -> _PilLevel:
    try:
        with Image.open(path) as img:
            width, height = img.size
            channels = len(img.getbands())
    except Image.DecompressionBombError as err:
        raise InputError(_too_large_message(err), path) from err
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InputError(
            f"cannot read as a PNG/JPEG slide ({type(err).__name__}: {err}); is the file "
            "complete? Export it again",
            path,
        ) from err
    return _PilLevel(path, (height, width), channels)


def _too_large_message(err: Exception) -> str:
    return (
        f"image is too large for PIL ({err}); save the slide as a tiled pyramidal TIFF instead "
        "(e.g. vips tiffsave in.png out.tif --tile --pyramid)"
    )


def _settle_mpp(
    path: Path, mpp: float | None, file_mpp: FileMpp | None, warnings: list[str]
) -> float:
    """The MPP to use: the manifest's, else the file's; checks plausibility and agreement."""
    if mpp is not None:
        used = check_mpp(float(mpp), f"the manifest (wsi_mpp={mpp})", path)
        if file_mpp is None:
            return used
        if not mpp_in_range(file_mpp.value):
            warnings.append(
                f"the file's MPP {file_mpp.value:g} µm/px ({file_mpp.detail}) is implausible "
                "and ignored; using the manifest's wsi_mpp"
            )
        elif abs(used - file_mpp.value) > MPP_TOLERANCE * file_mpp.value:
            warnings.append(
                f"manifest wsi_mpp {used:g} µm/px differs from the file's {file_mpp.value:g} "
                f"µm/px ({file_mpp.detail}) by "
                f"{100 * abs(used - file_mpp.value) / file_mpp.value:.1f} %; using the manifest"
            )
        return used
    if file_mpp is None:
        raise InputError(
            "no MPP in the file: give wsi_mpp in the manifest (micrometres per level-0 pixel)",
            path,
        )
    return check_mpp(file_mpp.value, f"the file ({file_mpp.source}: {file_mpp.detail})", path)


def _is_min_is_white(level: _Level) -> bool:
    return isinstance(level, _TiffLevel) and level.keyframe.photometric == 0


def block_mean(rgb: np.ndarray, block: int) -> np.ndarray:
    """Average ``block``×``block`` pixel blocks of an H×W×3 array (the edge padded with
    white) as uint8, rounded half up."""
    if block == 1:
        return rgb
    height, width = rgb.shape[:2]
    pad_h, pad_w = (-height) % block, (-width) % block
    if pad_h or pad_w:
        rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), constant_values=255)
    if block == 2:
        # OpenCV's 2×2 area reduction is (a + b + c + d + 2) >> 2: the same numbers, ~10× faster
        shape = (rgb.shape[1] // 2, rgb.shape[0] // 2)
        return cv2.resize(np.ascontiguousarray(rgb), shape, interpolation=cv2.INTER_AREA)
    wide = np.uint16 if block <= 16 else np.uint32
    rows = rgb[0::block].astype(wide)
    for row in range(1, block):
        rows += rgb[row::block]
    sums = rows[:, 0::block].copy()
    for col in range(1, block):
        sums += rows[:, col::block]
    sums += block * block // 2
    sums //= block * block
    return sums.astype(np.uint8)


def _to_rgb_uint8(array: np.ndarray, invert: bool = False) -> np.ndarray:
    """H×W×C array of any numeric dtype to H×W×3 uint8 RGB.

    Unsigned integers are scaled from their full range, signed integers from their positive
    range, floats are taken as 0–1, booleans as 0/255. One or two channels (gray, gray+alpha)
    become gray RGB; four or more keep the first three (RGBA drops alpha).
    """
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype.kind in "ui" and array.dtype != np.uint8:
        scale = np.float32(255.0 / np.iinfo(array.dtype).max)
        array = np.rint(np.clip(array, 0, None).astype(np.float32) * scale).astype(np.uint8)
    elif array.dtype.kind == "f":
        array = np.rint(np.clip(np.nan_to_num(array), 0.0, 1.0) * 255.0).astype(np.uint8)
    if invert:
        array = 255 - array
    channels = array.shape[2]
    if channels < 3:
        return np.repeat(array[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])
