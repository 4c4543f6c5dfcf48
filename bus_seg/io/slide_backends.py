"""Slide-reader backends: which library decodes a whole-slide image.

``tifffile`` (the default) reads Aperio SVS, OME-TIFF and generic pyramidal or plain TIFF with
no extra package. ``openslide`` (extra ``bus_seg[openslide]``: the ``openslide-bin`` and
``openslide-python`` wheels) adds Hamamatsu NDPI, 3DHistech MRXS, Leica SCN, Ventana BIF and
Philips TIFF. ``tiffslide`` (extra ``bus_seg[tiffslide]``) is a pure-Python OpenSlide look-alike
for TIFF-based formats. ``auto`` picks by file type: the OpenSlide formats go to ``openslide``,
everything else to ``tifffile``.

Both optional backends give the same pixels as ``tifffile`` where both read a file: a region
is read at the level pixel grid exactly (OpenSlide resamples a region whose level-0 origin
does not fall on a level pixel, so on a level whose downsample is not a whole number its pixels
are decoded once for the whole level, within the pixel budget, and regions are cut from it).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from bus_seg.errors import ConfigError, InputError
from bus_seg.io.pixel_budget import check_pixel_budget
from bus_seg.io.reader_options import (
    AUTO,
    OPENSLIDE,
    SLIDE_BACKENDS,
    TIFFFILE,
    TIFFSLIDE,
)
from bus_seg.io.wsi_metadata import FileMpp

OPENSLIDE_SUFFIXES = frozenset({".ndpi", ".mrxs", ".scn", ".bif", ".vms", ".vmu", ".svslide"})
"""Formats only OpenSlide reads (``auto`` sends them to ``openslide``)."""
UNREADABLE_FORMATS = {".isyntax": "Philips iSyntax", ".kfb": "KFBIO KFB"}
"""Scanner formats no supported backend reads: they must be converted first."""
_TIFF_SUFFIXES = frozenset({".tif", ".tiff"})
_MODULES = {OPENSLIDE: "openslide", TIFFSLIDE: "tiffslide"}
_PACKAGES = {OPENSLIDE: "openslide-bin and openslide-python", TIFFSLIDE: "tiffslide"}
_MPP_TOLERANCE = 0.01
Roi = tuple[int, int, int, int]


def resolve_backend(name: str, path: Path) -> str:
    """The backend that reads ``path``: ``name``, or the one ``auto`` picks for the file type.

    Raises:
        ConfigError: ``name`` is not a known backend.
        InputError: the file is in a format no backend reads (iSyntax, KFB).
    """
    if path.suffix.lower() in UNREADABLE_FORMATS:
        raise InputError(
            f"{UNREADABLE_FORMATS[path.suffix.lower()]} slides are read by none of bus_seg's "
            "backends (tifffile, OpenSlide, tiffslide); convert the slide to a pyramidal TIFF or "
            "OME-TIFF with the scanner vendor's software and give that file",
            path,
        )
    if name not in SLIDE_BACKENDS:
        raise ConfigError(
            f"slide_backend={name!r} is unknown; choose one of {list(SLIDE_BACKENDS)} "
            "(see docs/inputs.md)"
        )
    if name != AUTO:
        return name
    suffix = path.suffix.lower()
    if suffix in OPENSLIDE_SUFFIXES or (suffix in _TIFF_SUFFIXES and _is_vendor_tiff(path)):
        return OPENSLIDE
    return TIFFFILE


@dataclass
class OpenedSlide:
    """A slide opened through an optional backend, ready for :class:`bus_seg.io.wsi.WSI`.

    Attributes:
        levels: one reader per pyramid level, level 0 first.
        file_mpp: the MPP the backend found in the file, or None.
        warnings: notes for the report.
        handle: the backend's slide object (closed with the WSI).
    """

    levels: list[BackendLevel]
    file_mpp: FileMpp | None
    warnings: list[str]
    handle: Any


def open_with_backend(path: Path, backend: str) -> OpenedSlide:
    """Open ``path`` through ``openslide`` or ``tiffslide``.

    Raises:
        InputError: the backend is not installed (the message names the extra to install) or
            cannot open the file.
    """
    module = _import(backend, path)
    opener: Callable[[str], Any] = (
        module.OpenSlide if backend == OPENSLIDE else module.TiffSlide  # type: ignore[attr-defined]
    )
    try:
        slide = opener(str(path))
    except Exception as err:  # each backend raises its own types on unsupported or broken files
        raise InputError(
            f"{backend} cannot open the slide ({type(err).__name__}: {err}); is the file "
            f"complete and a format {backend} reads? Try slide_backend=tifffile or auto",
            path,
        ) from None
    try:
        levels = [BackendLevel(slide, backend, level, path) for level in range(slide.level_count)]
        warnings: list[str] = []
        file_mpp = _file_mpp(slide.properties, backend, warnings)
    except BaseException:
        slide.close()
        raise
    return OpenedSlide(levels, file_mpp, warnings, slide)


class BackendLevel:
    """One pyramid level of a slide opened through OpenSlide or tiffslide, read as RGB."""

    def __init__(self, slide: Any, backend: str, level: int, path: Path) -> None:
        width, height = slide.level_dimensions[level]
        self.shape = (int(height), int(width))
        self.channels, self.extra_planes = 3, 1
        self.path, self.backend, self.level = path, backend, level
        self._slide = slide
        self._downsample = float(slide.level_downsamples[level])
        self._whole: np.ndarray | None = None
        properties = slide.properties
        tile_h = properties.get(f"{backend}.level[{level}].tile-height")
        tile_w = properties.get(f"{backend}.level[{level}].tile-width")
        self.tile_shape = (int(tile_h), int(tile_w)) if tile_h and tile_w else self.shape
        background = str(properties.get(f"{backend}.background-color") or "FFFFFF")
        try:
            self._background = np.array(
                [int(background[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float32
            )
        except ValueError:
            self._background = np.full(3, 255, dtype=np.float32)

    def read(self, window: Roi) -> np.ndarray:
        """Decode the level-pixel window ``(x, y, w, h)`` as H×W×3 uint8 RGB."""
        x, y, w, h = window
        if self._whole is not None:
            return self._whole[y : y + h, x : x + w]
        origin = self._origin(x), self._origin(y)
        if origin[0] is None or origin[1] is None:
            height, width = self.shape
            check_pixel_budget(
                self.path,
                f"level {self.level} (decoded whole: its downsample {self._downsample:g} is "
                f"not a whole number, so {self.backend} cannot read a region of it exactly)",
                height,
                width,
                3,
            )
            self._whole = self._region((0, 0), (width, height))
            return self._whole[y : y + h, x : x + w]
        check_pixel_budget(self.path, "the region read from the slide", h, w, 3)
        return self._region(origin, (w, h))  # type: ignore[arg-type]

    def _origin(self, coordinate: int) -> int | None:
        """The level-0 coordinate the backend maps exactly onto level pixel ``coordinate``."""
        if coordinate == 0 or self._downsample == 1.0:
            return coordinate
        scaled = coordinate * self._downsample
        if self.backend == TIFFSLIDE:  # tiffslide starts at int(X / downsample)
            candidates = [math.ceil(scaled), math.floor(scaled) + 1]
            return next((c for c in candidates if int(c / self._downsample) == coordinate), None)
        # OpenSlide paints from X / downsample, resampling unless that is a whole level pixel.
        candidate = round(scaled)
        return candidate if candidate / self._downsample == coordinate else None

    def _region(self, origin: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
        try:
            if self.backend == TIFFSLIDE:
                rgba = np.asarray(self._slide.read_region(origin, self.level, size, as_array=True))
            else:
                rgba = np.asarray(self._slide.read_region(origin, self.level, size))
        except MemoryError:
            raise
        except Exception as err:  # backends raise their own types on corrupt tiles
            raise InputError(
                f"{self.backend} cannot decode level {self.level} ({type(err).__name__}: "
                f"{err}); the file is probably truncated or corrupt: copy or export it again",
                self.path,
            ) from None
        return self._to_rgb(rgba)

    def _to_rgb(self, array: np.ndarray) -> np.ndarray:
        """RGB(A) of any backend to H×W×3 uint8; transparent pixels become the background."""
        if array.ndim == 2:
            array = array[:, :, None]
        if array.shape[2] < 3:
            array = np.repeat(array[:, :, :1], 3, axis=2)
        if array.shape[2] == 4 and (array[:, :, 3] < 255).any():
            alpha = array[:, :, 3:].astype(np.float32) / 255.0
            blended = array[:, :, :3] * alpha + self._background * (1.0 - alpha)
            return np.rint(blended).astype(np.uint8)
        return np.ascontiguousarray(array[:, :, :3], dtype=np.uint8)


def _import(backend: str, path: Path) -> Any:
    try:
        return importlib.import_module(_MODULES[backend])
    except ImportError as err:  # also a missing libopenslide behind openslide-python
        kind = f"a {path.suffix.lower()} slide, which" if path.suffix else "this slide, which"
        raise InputError(
            f"{kind} is read with slide_backend={backend}, needs {_PACKAGES[backend]}, which "
            f"cannot be imported ({err}); install the extra: pip install 'bus_seg[{backend}]'"
            + (", or set slide_backend=tifffile" if backend == TIFFSLIDE else ""),
            path,
        ) from None


def _file_mpp(properties: Any, backend: str, warnings: list[str]) -> FileMpp | None:
    """The file's MPP from the backend's ``<backend>.mpp-x``/``-y`` properties, or None."""
    values = {}
    for axis in ("x", "y"):
        raw = properties.get(f"{backend}.mpp-{axis}")
        try:
            number = float(raw) if raw not in (None, "") else None
        except (TypeError, ValueError):
            number = None
        if number is not None and math.isfinite(number) and number > 0:
            values[axis] = number
    if "x" not in values:
        return None
    if "y" in values and abs(values["y"] - values["x"]) > _MPP_TOLERANCE * values["x"]:
        warnings.append(
            f"the slide's pixels are not square ({backend}.mpp-x {values['x']:g}, mpp-y "
            f"{values['y']:g} µm/px); the x value is used"
        )
    return FileMpp(values["x"], backend, f"{backend}.mpp-x = {values['x']:g}")


def _is_vendor_tiff(path: Path) -> bool:
    """Whether a ``.tif``/``.tiff`` file is a Philips or Leica slide (OpenSlide formats)."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            software = str(page.software or "")
            description = str(page.description or "")[:4096]
    except Exception:  # unreadable here: tifffile reports it properly when it opens the file
        return False
    return software.startswith("Philips") or "leica-microsystems.com/scn" in description
