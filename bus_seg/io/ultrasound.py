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
from bus_seg.io.dicom import (
    check_frame,
    dicom_frame_count,
    is_dicom,
    read_dicom_frame,
    read_dicom_frames,
)
from bus_seg.io.files import require_file
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


def read_ultrasound(
    path: str | Path,
    spacing_mm: float | None = None,
    frame: int | None = None,
    use_outside_regions: bool = False,
) -> UltrasoundImage:
    """Read an ultrasound frame as 8-bit gray and settle its pixel spacing.

    Args:
        path: PNG, JPEG, TIFF (8/16-bit, gray/RGB/RGBA, planar or interleaved, one or more
            pages) or DICOM (by suffix ``.dcm``/``.dicom`` or by the ``DICM`` marker at byte
            128, so suffix-less DICOM files work).
        spacing_mm: ``us_spacing_mm`` from the manifest; it wins over the file's value.
        frame: ``us_frame`` from the manifest: the 0-based frame of a cine loop (multi-frame
            DICOM or multi-page TIFF); None = frame 0, with a warning when there are several.
        use_outside_regions: use a DICOM calibration region that lies outside the pixel matrix
            (by default it is only a warning).

    Raises:
        InputError: the file is missing or undecodable, ``spacing_mm`` is not positive,
            ``frame`` is out of range, or the file's spacing is anisotropic and ``spacing_mm``
            is not given.
    """
    path = Path(path)
    if spacing_mm is not None:
        spacing_mm = check_spacing_mm(spacing_mm, path)
    pixels, file_xy_mm, source, notes = _decode(path, frame, use_outside_regions, every=False)
    used_mm, used_source, spacing_notes = settle_spacing(path, spacing_mm, file_xy_mm, source)
    return UltrasoundImage(pixels, used_mm, used_source, notes + spacing_notes)


def read_ultrasound_pixels(path: str | Path, frame: int | None = None) -> np.ndarray:
    """The H×W uint8 gray pixels :func:`read_ultrasound` gives, without settling a spacing.

    The one ultrasound pixel reader: training datasets use it, so a model trains on exactly
    the pixels that registration, validation and inference see.

    Raises:
        InputError: the file is missing or undecodable, or ``frame`` is out of range.
    """
    return _decode(Path(path), frame, use_outside_regions=False, every=False)[0]


def read_ultrasound_frames(
    path: str | Path, spacing_mm: float | None = None, use_outside_regions: bool = False
) -> list[UltrasoundImage]:
    """Every frame of a cine loop (multi-frame DICOM, multi-page TIFF); one for other images.

    Frames share the spacing settled as in :func:`read_ultrasound`; the notes go with frame 0.

    Raises:
        InputError: as :func:`read_ultrasound`, or the pages of a TIFF differ in size.
    """
    path = Path(path)
    if spacing_mm is not None:
        spacing_mm = check_spacing_mm(spacing_mm, path)
    stack, file_xy_mm, source, notes = _decode(path, None, use_outside_regions, every=True)
    used_mm, used_source, spacing_notes = settle_spacing(path, spacing_mm, file_xy_mm, source)
    return [
        UltrasoundImage(pixels, used_mm, used_source, notes + spacing_notes if index == 0 else [])
        for index, pixels in enumerate(stack)
    ]


def frame_count(path: str | Path) -> int:
    """Frames of a cine loop (multi-frame DICOM, multi-page TIFF) from its header; 1 otherwise.

    An unreadable header counts as 1 frame: reading the image then reports the problem.
    """
    path = Path(path)
    try:
        if is_dicom(path):
            return dicom_frame_count(path)
        if path.suffix.lower() in TIFF_SUFFIXES:
            with tifffile.TiffFile(path) as tif:
                return max(len(tif.pages), 1)
    except Exception:  # any failure is reported by the read that follows
        return 1
    return 1


def _decode(
    path: Path, frame: int | None, use_outside_regions: bool, every: bool
) -> tuple[np.ndarray, tuple[float, float] | None, str | None, list[str]]:
    """Pixels (H×W, or N×H×W when ``every``), the file's ``(x, y)`` mm, its source, notes."""
    require_file(path, "ultrasound image", "check us_path in the manifest")
    if is_dicom(path):
        if every:
            dicom = read_dicom_frames(path, use_outside_regions)
        else:
            dicom = read_dicom_frame(path, frame, use_outside_regions)
        return dicom.pixels, dicom.spacing_xy_mm, dicom.spacing_source, dicom.warnings
    if path.suffix.lower() in TIFF_SUFFIXES:
        pixels, file_xy_mm, notes = _read_tiff(path, frame, every)
        return pixels, file_xy_mm, "tiff-resolution" if file_xy_mm is not None else None, notes
    if frame is not None:
        check_frame(frame, 1, path)
    pixels = _gray_uint8(read_array(path), path)
    return (pixels[None] if every else pixels), None, None, []


def _read_tiff(
    path: Path, frame: int | None, every: bool
) -> tuple[np.ndarray, tuple[float, float] | None, list[str]]:
    """One page (or every page) of a TIFF as uint8 gray, its spacing in mm, and notes."""
    notes: list[str] = []
    try:
        with tifffile.TiffFile(path) as tif:
            pages = len(tif.pages)
            if not pages:
                raise ValueError("the file holds no image page")
            if frame is None and pages > 1 and not every:
                notes.append(
                    f"TIFF with {pages} pages (a cine loop?): the first page is used; choose "
                    "one with the us_frame column"
                )
            check_frame(frame or 0, pages, path)
            indices = range(pages) if every else [frame or 0]
            arrays = []
            for index in indices:
                page = tif.pages[index]
                check_pixel_budget(path, f"TIFF page {index}", *page.shape)
                arrays.append(_gray_uint8(_channels_last(page.asarray(), page.axes), path))
            spacing = _tiff_spacing_mm(tif.pages[indices[0]], tif.imagej_metadata)
    except InputError:
        raise
    except Exception as err:  # tifffile and codecs raise many types
        raise InputError(
            f"cannot decode TIFF ({type(err).__name__}: {err}); is the file complete? Export it "
            "again as PNG or TIFF",
            path,
        ) from err
    if not every:
        return arrays[0], spacing, notes
    if len({array.shape for array in arrays}) > 1:
        raise InputError(
            "the TIFF pages differ in size, so they are not the frames of one cine loop; "
            "save the loop's frames at one size",
            path,
        )
    return np.stack(arrays), spacing, notes


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
