"""Ultrasound B-mode frames (PNG, JPEG, TIFF, DICOM) as 8-bit gray with their pixel spacing.

Bit depth: 8-bit images pass unchanged. A 16-bit PNG/TIFF whose values exceed 255 is scaled
linearly onto 0–255 by dividing by 257 (65535 → 255) and rounding; one whose values all fit in
8 bits is taken as is. DICOM data with more than 8 stored bits is scaled by
``255 / (2**BitsStored - 1)``. RGB(A) is converted to luminance (ITU-R 601).

Spacing: ``spacing_mm`` from the manifest wins over the file (a disagreement above 1 % is a
warning). The file's spacing comes from DICOM (ultrasound regions, else PixelSpacing) or from
TIFF resolution tags in centimetres (or an ImageJ calibration in mm/µm/cm); resolutions in inches
are ignored, since they are almost always a nominal screen or print DPI, not a physical size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from bus_seg.errors import InputError
from bus_seg.io.dicom import is_dicom, read_dicom_frame
from bus_seg.io.images import TIFF_SUFFIXES, read_array, to_gray
from bus_seg.io.pixel_budget import check_pixel_budget
from bus_seg.io.spacing import check_spacing_mm, settle_spacing

_RESOLUTION_UNIT_CM = 3
_IMAGEJ_UNIT_MM = {"mm": 1.0, "millimeter": 1.0, "cm": 10.0, "centimeter": 10.0}
_IMAGEJ_UNIT_MM.update({unit: 1e-3 for unit in ("um", "µm", "\\u00B5m", "micron", "micrometer")})


@dataclass
class UltrasoundImage:
    """One ultrasound frame ready for registration and training.

    Attributes:
        pixels: H×W uint8 gray.
        spacing_mm: isotropic pixel size in mm actually used, or None when nothing gives one.
        spacing_source: ``"manifest"``, ``"dicom-region"``, ``"dicom-pixelspacing"``,
            ``"tiff-resolution"`` or None.
        warnings: notes for the report (spacing disagreement, first frame of a cine loop used).
    """

    pixels: np.ndarray
    spacing_mm: float | None
    spacing_source: str | None
    warnings: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])


def read_ultrasound(path: str | Path, spacing_mm: float | None = None) -> UltrasoundImage:
    """Read an ultrasound frame as 8-bit gray and settle its pixel spacing.

    Args:
        path: PNG, JPEG, TIFF (8/16-bit, gray/RGB/RGBA) or DICOM (by suffix ``.dcm``/``.dicom``
            or by the ``DICM`` marker at byte 128, so suffix-less DICOM files work).
        spacing_mm: ``us_spacing_mm`` from the manifest; it wins over the file's value.

    Raises:
        InputError: the file is missing or undecodable, ``spacing_mm`` is not positive, or the
            file's spacing is anisotropic and ``spacing_mm`` is not given.
    """
    path = Path(path)
    if spacing_mm is not None:
        spacing_mm = check_spacing_mm(spacing_mm, path)
    if not path.is_file():
        raise InputError("ultrasound image not found; check us_path in the manifest", path)
    if is_dicom(path):
        frame = read_dicom_frame(path)
        pixels, file_xy_mm, source, notes = (
            frame.pixels,
            frame.spacing_xy_mm,
            frame.spacing_source,
            frame.warnings,
        )
    elif path.suffix.lower() in TIFF_SUFFIXES:
        pixels, file_xy_mm, notes = _read_tiff(path)
        source = "tiff-resolution" if file_xy_mm is not None else None
    else:
        pixels, file_xy_mm, source, notes = _gray_uint8(read_array(path), path), None, None, []
    used_mm, used_source, spacing_notes = settle_spacing(path, spacing_mm, file_xy_mm, source)
    return UltrasoundImage(pixels, used_mm, used_source, notes + spacing_notes)


def _read_tiff(path: Path) -> tuple[np.ndarray, tuple[float, float] | None, list[str]]:
    """First page of a TIFF as uint8 gray, its spacing in mm, and notes."""
    notes: list[str] = []
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            check_pixel_budget(path, "the first TIFF page", *page.shape)
            array = page.asarray()
            axes = page.axes
            pages = len(tif.pages)
            spacing = _tiff_spacing_mm(page, tif.imagej_metadata)
    except InputError:
        raise
    except Exception as err:  # tifffile and codecs raise many types
        raise InputError(
            f"cannot decode TIFF ({type(err).__name__}: {err}); is the file complete? Export it "
            "again as PNG or TIFF",
            path,
        ) from err
    if pages > 1:
        notes.append(f"TIFF with {pages} pages (a cine loop?): the first page is used")
    array = _channels_last(array, axes)
    return _gray_uint8(array, path), spacing, notes


def _channels_last(array: np.ndarray, axes: str) -> np.ndarray:
    """Reduce a page array to Y×X or Y×X×S (first plane of any other axis)."""
    index = tuple(slice(None) if axis in "YXS" else 0 for axis in axes)
    kept = [axis for axis in axes if axis in "YXS"]
    array = array[index]
    order = [kept.index(axis) for axis in "YXS" if axis in kept]
    return np.transpose(array, order)


def _tiff_spacing_mm(
    page: tifffile.TiffPage, imagej_metadata: dict | None
) -> tuple[float, float] | None:
    """``(x, y)`` mm per pixel from resolution tags in cm or an ImageJ calibration, else None."""
    x_res, y_res = page.resolution
    if not (x_res > 0 and y_res > 0):
        return None
    if int(page.resolutionunit) == _RESOLUTION_UNIT_CM:
        return 10.0 / x_res, 10.0 / y_res
    unit = str((imagej_metadata or {}).get("unit", "")).strip().lower()
    if unit in _IMAGEJ_UNIT_MM:
        return _IMAGEJ_UNIT_MM[unit] / x_res, _IMAGEJ_UNIT_MM[unit] / y_res
    return None


def _gray_uint8(array: np.ndarray, path: Path) -> np.ndarray:
    """H×W uint8 gray from gray/RGB/RGBA (or gray+alpha) 8- or 16-bit data."""
    if array.ndim == 3 and array.shape[2] == 2:  # gray + alpha
        array = array[..., 0]
    try:
        array = to_gray(array)
    except ValueError as err:
        raise InputError(f"{err}; give a single gray or RGB B-mode frame", path) from None
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype.kind not in "ui" or array.dtype.itemsize > 2:
        raise InputError(
            f"pixel type {array.dtype} is not an 8- or 16-bit image; export the frame as 8-bit "
            "PNG or TIFF",
            path,
        )
    if array.min() < 0:
        raise InputError("signed pixel data with negative values; export as unsigned 8-bit", path)
    if array.max() <= 255:
        return array.astype(np.uint8)
    return np.clip(np.rint(array.astype(np.float32) / 257.0), 0, 255).astype(np.uint8)
