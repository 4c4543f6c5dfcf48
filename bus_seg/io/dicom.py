"""DICOM ultrasound frames: the pixels as 8-bit gray and the pixel spacing, nothing else.

Privacy: only the tags of the image pixel module, the frame count and the spacing tags are parsed
(``dcmread(specific_tags=...)``), so patient names, ids, dates, UIDs and institution names are
never even decoded. Nothing this module returns, warns or raises carries a tag value other than
the pixels, the spacing and pixel-format facts (bits, frame count); errors name only the file.
"""

from __future__ import annotations

import math
import warnings as py_warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info, read_dataset, read_preamble
from pydicom.pixels import apply_color_lut, pixel_array
from pydicom.tag import Tag

from bus_seg.errors import InputError
from bus_seg.io.files import require_file
from bus_seg.io.images import to_gray
from bus_seg.io.pixel_budget import check_pixel_budget

DICOM_SUFFIXES = {".dcm", ".dicom"}
DICOM_MAGIC_OFFSET = 128
DICOM_MAGIC = b"DICM"

_UNITS_CM = 3  # PhysicalUnitsX/YDirection: 3 = cm
_SPATIAL_FORMAT_2D = 1  # RegionSpatialFormat: 1 = 2-D (tissue or flow)
_PIXEL_TAGS = [
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "NumberOfFrames",
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData",
    "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData",
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
    "PixelData",
]
_SPACING_TAGS = ["SequenceOfUltrasoundRegions", "PixelSpacing", "ImagerPixelSpacing"]
_SIZE_TAGS = ["Rows", "Columns", "SamplesPerPixel", "NumberOfFrames"]
_PIXEL_DATA_TAG = 0x7FE00010
_DEFLATED_HEADER_BYTES = 8 << 20
"""Inflated bytes of a deflated DICOM file searched for the image size before the pixel data."""


@dataclass
class DicomFrame:
    """One frame (or all frames) of a DICOM image with the spacing stored in the file.

    Attributes:
        pixels: H×W uint8 gray (photometric interpretation applied, >8-bit data scaled down),
            or N×H×W for :func:`read_dicom_frames`.
        spacing_xy_mm: ``(x, y)`` pixel size in mm from the file, or None.
        spacing_source: ``"dicom-region"`` or ``"dicom-pixelspacing"``, or None.
        warnings: notes for the report (first frame of a cine loop used, ignored calibration).
    """

    pixels: np.ndarray
    spacing_xy_mm: tuple[float, float] | None
    spacing_source: str | None
    warnings: list[str] = field(default_factory=list)


def is_dicom(path: str | Path) -> bool:
    """Whether ``path`` is a DICOM file: a ``.dcm``/``.dicom`` suffix or ``DICM`` at byte 128."""
    path = Path(path)
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with path.open("rb") as handle:
            handle.seek(DICOM_MAGIC_OFFSET)
            return handle.read(len(DICOM_MAGIC)) == DICOM_MAGIC
    except OSError:
        return False


def read_dicom_frame(
    path: str | Path, frame: int | None = None, use_outside_regions: bool = False
) -> DicomFrame:
    """Read one frame of a DICOM image and the ``(x, y)`` spacing stored in it.

    Args:
        path: the DICOM file.
        frame: 0-based frame of a multi-frame (cine) file; None = frame 0, with a warning when
            the file has several.
        use_outside_regions: use the spacing of an ultrasound region that lies outside the
            pixel matrix (by default such a region is only a warning).

    Raises:
        InputError: the file is missing, not DICOM, holds no decodable image, or ``frame`` is
            out of range.
    """
    path = Path(path)
    dataset, notes = _open(path)
    frames = _int_or(dataset, "NumberOfFrames", 1)
    if frame is None:
        if frames > 1:
            notes.append(
                f"multi-frame DICOM ({frames} frames, a cine loop?): the first frame is used; "
                "choose one with the us_frame column"
            )
        frame = 0
    check_frame(frame, frames, path)
    pixels = _frame_gray_uint8(dataset, path, frame)
    xy_mm, source = _spacing(dataset, notes, use_outside_regions)
    return DicomFrame(pixels, xy_mm, source, notes)


def read_dicom_frames(path: str | Path, use_outside_regions: bool = False) -> DicomFrame:
    """Read every frame of a DICOM image (N×H×W uint8 gray) and its ``(x, y)`` spacing.

    Raises:
        InputError: the file is missing, not DICOM, or holds no decodable image.
    """
    path = Path(path)
    dataset, notes = _open(path)
    count = max(_int_or(dataset, "NumberOfFrames", 1), 1)
    pixels = np.stack([_frame_gray_uint8(dataset, path, index) for index in range(count)])
    xy_mm, source = _spacing(dataset, notes, use_outside_regions)
    return DicomFrame(pixels, xy_mm, source, notes)


def dicom_frame_count(path: str | Path) -> int:
    """``NumberOfFrames`` of a DICOM file (1 when absent), read without the pixel data."""
    with py_warnings.catch_warnings():
        py_warnings.simplefilter("ignore")
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["NumberOfFrames"])
    return max(_int_or(header, "NumberOfFrames", 1), 1)


def check_frame(frame: int, frames: int, path: Path) -> None:
    """Raise unless ``frame`` is a valid 0-based index among ``frames`` frames of ``path``."""
    if not 0 <= frame < frames:
        raise InputError(
            f"us_frame={frame} is out of range: the file has {frames} frame"
            f"{'s' if frames != 1 else ''} (us_frame counts from 0, so 0–{frames - 1}); fix "
            "us_frame in the manifest",
            path,
        )


def _open(path: Path) -> tuple[Dataset, list[str]]:
    require_file(path, "DICOM file", "check us_path in the manifest")
    _check_size(path)
    return _read_dataset(path), []


def _spacing(
    dataset: Dataset, notes: list[str], use_outside_regions: bool
) -> tuple[tuple[float, float] | None, str | None]:
    spacing = _region_spacing(dataset, notes, use_outside_regions) or _pixel_spacing(dataset, notes)
    return spacing if spacing is not None else (None, None)


def _check_size(path: Path) -> None:
    """Refuse an image whose header declares more pixel values than the pixel budget.

    Only the size tags are read; a deflated file is inflated only as far as its header, so a
    small file that inflates to gigabytes is refused before it is inflated.
    """
    try:
        with py_warnings.catch_warnings():
            py_warnings.simplefilter("ignore")
            header = _size_header(path)
    except InputError:
        raise
    except Exception:  # unreadable: _read_dataset reports it without quoting values
        return
    if header is None or "Rows" not in header or "Columns" not in header:
        return
    check_pixel_budget(
        path,
        "the DICOM pixel data (frames × rows × columns × samples)",
        max(_int_or(header, "NumberOfFrames", 1), 1),
        _int_or(header, "Rows", 0),
        _int_or(header, "Columns", 0),
        max(_int_or(header, "SamplesPerPixel", 1), 1),
    )


def _size_header(path: Path) -> Dataset | None:
    """The size tags of a DICOM file, read without its pixel data (None if not Part 10)."""
    with path.open("rb") as handle:
        if read_preamble(handle, False) is None:
            return None
        meta = _read_file_meta_info(handle)
        if meta.get("TransferSyntaxUID") != pydicom.uid.DeflatedExplicitVRLittleEndian:
            return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_SIZE_TAGS)
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        head = inflater.decompress(handle.read(_DEFLATED_HEADER_BYTES), _DEFLATED_HEADER_BYTES)
    header = read_dataset(
        DicomBytesIO(head),
        False,
        True,
        stop_when=lambda tag, vr, length: tag == _PIXEL_DATA_TAG,
        specific_tags=[Tag(keyword) for keyword in _SIZE_TAGS],
    )
    if "Rows" not in header or "Columns" not in header:
        raise InputError(
            "the deflated DICOM file states no image size in its first "
            f"{_DEFLATED_HEADER_BYTES >> 20} MB; export the frame again without deflate",
            path,
        )
    return header


def _read_dataset(path: Path) -> Dataset:
    try:
        with py_warnings.catch_warnings():  # pydicom's warnings may quote tag values
            py_warnings.simplefilter("ignore")
            dataset = pydicom.dcmread(path, specific_tags=_PIXEL_TAGS + _SPACING_TAGS)
    except InvalidDicomError:
        raise InputError(
            "not a DICOM file (no 'DICM' marker after the 128-byte preamble); export the image "
            "again as DICOM Part 10, or as PNG/TIFF with us_spacing_mm in the manifest",
            path,
        ) from None
    except Exception as err:  # any parse failure; its message may quote values
        raise InputError(
            f"cannot parse the DICOM file ({type(err).__name__}); it is probably truncated or "
            "corrupt: export it again",
            path,
        ) from None
    if "PixelData" not in dataset:
        raise InputError(
            "the DICOM file holds no image (no Pixel Data); give the file of the B-mode frame, "
            "not a report or presentation state",
            path,
        )
    return dataset


def _frame_gray_uint8(dataset: Dataset, path: Path, index: int) -> np.ndarray:
    """Decode one frame, apply the photometric interpretation, convert to 8-bit gray."""
    if _int_or(dataset, "PixelRepresentation", 0) != 0:
        raise InputError(
            "signed pixel data is not a B-mode image format bus_seg reads; export the frame as "
            "unsigned 8-bit DICOM or PNG",
            path,
        )
    try:
        with py_warnings.catch_warnings():
            py_warnings.simplefilter("ignore")
            # raw=False: pydicom converts YBR_FULL/YBR_FULL_422 to RGB (convert_color_space).
            array = pixel_array(dataset, index=index)
    except Exception as err:  # decoder plugins raise many types
        raise InputError(_decode_failure(dataset, err), path) from None
    interpretation = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    bits = _int_or(dataset, "BitsStored", array.dtype.itemsize * 8)
    if interpretation == "MONOCHROME1":  # 0 is white: invert within the stored range
        array = (2**bits - 1) - np.minimum(array.astype(np.int64), 2**bits - 1)
    elif interpretation == "PALETTE COLOR":
        array = apply_color_lut(array, dataset)
        bits = int(dataset.RedPaletteColorLookupTableDescriptor[2])
    if array.ndim == 3:
        array = to_gray(array)
    if array.ndim != 2:
        raise InputError(
            f"frame {index} has shape {array.shape}, not a 2-D image; export a single B-mode frame",
            path,
        )
    return _scale_to_uint8(array, bits)


def _scale_to_uint8(array: np.ndarray, bits: int) -> np.ndarray:
    """Map ``0 … 2**bits - 1`` linearly onto ``0 … 255``; 8-bit data passes unchanged."""
    if bits <= 8:
        return np.clip(array, 0, 255).astype(np.uint8)
    scaled = np.rint(array.astype(np.float64) * (255.0 / (2**bits - 1)))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _decode_failure(dataset: Dataset, err: Exception) -> str:
    syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and syntax.is_compressed:
        return (
            f"cannot decode the compressed pixel data ({syntax.name}; {type(err).__name__}); "
            "install a decoder (pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg) or "
            "export the frame uncompressed"
        )
    return (
        f"cannot decode the pixel data ({type(err).__name__}); the file is probably truncated "
        "or corrupt: export it again"
    )


def _region_spacing(
    dataset: Dataset, notes: list[str], use_outside: bool
) -> tuple[tuple[float, float], str] | None:
    """``(x, y)`` mm of the largest 2-D ultrasound region calibrated in cm, if any.

    A region that does not lie inside the pixel matrix (the image was resized after it was
    calibrated) is a warning and is not used unless ``use_outside``.
    """
    regions = dataset.get("SequenceOfUltrasoundRegions")
    if not regions:
        return None
    rows, columns = _int_or(dataset, "Rows", 0), _int_or(dataset, "Columns", 0)
    usable: list[tuple[int, tuple[float, float]]] = []
    refused = 0
    for number, region in enumerate(regions):
        calibration = _region_calibration(region)
        if calibration is None:
            continue
        (x0, y0, x1, y1), spacing = calibration
        if not (0 <= x0 <= x1 < columns and 0 <= y0 <= y1 < rows):
            notes.append(
                f"ultrasound region {number} (x {x0}–{x1}, y {y0}–{y1}) lies outside the "
                f"{columns}×{rows} pixel matrix (was the image resized after calibration?); "
                + (
                    f"its spacing ({spacing[0]:g} mm per pixel) is used, as "
                    "use_outside_dicom_regions asks"
                    if use_outside
                    else f"its spacing ({spacing[0]:g} mm per pixel) is not used: give "
                    "us_spacing_mm, or set use_outside_dicom_regions=true to trust it"
                )
            )
            if not use_outside:
                refused += 1
                continue
        usable.append(((x1 - x0 + 1) * (y1 - y0 + 1), spacing))
    if not usable:
        if not refused:
            notes.append(
                "the ultrasound regions of the DICOM file carry no 2-D calibration in cm; the "
                "spacing is taken from PixelSpacing, or must be given as us_spacing_mm"
            )
        return None
    area, spacing = max(usable, key=lambda item: item[0])
    if len({item[1] for item in usable}) > 1:
        notes.append(
            f"the DICOM file has {len(usable)} calibrated 2-D regions whose spacings disagree; "
            f"the largest ({area} px, {spacing[0]:g} mm per pixel) is used"
        )
    return spacing, "dicom-region"


def _region_calibration(
    region: Dataset,
) -> tuple[tuple[int, int, int, int], tuple[float, float]] | None:
    """``((x0, y0, x1, y1), (x, y) mm)`` of a 2-D region calibrated in cm, else None."""
    if _int_or(region, "RegionSpatialFormat", 0) != _SPATIAL_FORMAT_2D:
        return None
    if (
        _int_or(region, "PhysicalUnitsXDirection", 0) != _UNITS_CM
        or _int_or(region, "PhysicalUnitsYDirection", 0) != _UNITS_CM
    ):
        return None
    delta_x = _positive_or_none(region.get("PhysicalDeltaX"))
    delta_y = _positive_or_none(region.get("PhysicalDeltaY"))
    if delta_x is None or delta_y is None:
        return None
    box = tuple(
        _int_or(region, keyword, 0)
        for keyword in (
            "RegionLocationMinX0",
            "RegionLocationMinY0",
            "RegionLocationMaxX1",
            "RegionLocationMaxY1",
        )
    )
    return box, (delta_x * 10.0, delta_y * 10.0)  # type: ignore[return-value]


def _pixel_spacing(dataset: Dataset, notes: list[str]) -> tuple[tuple[float, float], str] | None:
    """``(x, y)`` mm from PixelSpacing or ImagerPixelSpacing (stored as row, column)."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = dataset.get(keyword)
        if value is None:
            continue
        try:
            row_mm, column_mm = (_positive_or_none(v) for v in value)
        except (TypeError, ValueError):
            row_mm = column_mm = None
        if row_mm is None or column_mm is None:
            notes.append(f"{keyword} of the DICOM file is not two positive numbers; it is ignored")
            continue
        return (column_mm, row_mm), "dicom-pixelspacing"
    return None


def _positive_or_none(value: object) -> float | None:
    try:
        number = abs(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _int_or(dataset: Dataset, keyword: str, default: int) -> int:
    try:
        value = dataset.get(keyword)
        return default if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return default
