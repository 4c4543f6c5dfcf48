"""Micrometres per pixel (MPP) of a whole-slide image, from Aperio, OME-XML or TIFF resolution tags."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import tifffile

from bus_seg.errors import InputError

MPP_RANGE = (0.05, 50.0)
ANISOTROPY_TOLERANCE = 0.01
"""Relative difference of the y and x pixel sizes above which a slide gets a warning."""
"""Plausible µm per pixel of a slide scan; a value outside it is almost always a wrong unit."""

_APERIO_MPP = re.compile(r"(?:^|\|)\s*MPP\s*=\s*([^|\r\n]+)", re.IGNORECASE)

# Length units of OME-XML (UnitsLength) in micrometres.
_OME_UNIT_UM = {
    "pm": 1e-6,
    "Å": 1e-4,
    "nm": 1e-3,
    "µm": 1.0,  # MICRO SIGN
    "μm": 1.0,  # GREEK SMALL LETTER MU
    "um": 1.0,
    "micron": 1.0,
    "mm": 1e3,
    "cm": 1e4,
    "m": 1e6,
    "in": 25400.0,
}
_IMAGEJ_MICRON_UNITS = {"micron", "microns", "um", "µm", "μm", "\\u00B5m"}
_RESOLUTION_UNIT_UM = {2: 25400.0, 3: 10000.0}  # INCH, CENTIMETER; 1 (NONE) has no length


@dataclass(frozen=True)
class FileMpp:
    """An MPP found in a slide file, with where it was found.

    Attributes:
        value: micrometres per level-0 pixel.
        source: ``"aperio"``, ``"ome"`` or ``"tiff-resolution"``.
        detail: the raw metadata it came from, for messages.
    """

    value: float
    source: str
    detail: str


def aperio_mpp(description: str) -> float | None:
    """MPP from an Aperio ImageDescription (``... |MPP = 0.4990|...``), or None if absent."""
    match = _APERIO_MPP.search(description)
    if match is None:
        return None
    try:
        return float(match.group(1).strip())
    except ValueError:
        return None


def ome_mpp(ome_xml: str) -> tuple[float | None, str]:
    """MPP from the first image's ``Pixels/@PhysicalSizeX`` of an OME-XML document.

    Returns:
        ``(mpp, note)``: mpp in µm (None if absent or unusable) and a note that says why it
        is unusable (empty when fine or simply absent).
    """
    try:
        root = ElementTree.fromstring(ome_xml)
    except ElementTree.ParseError as err:
        return None, f"OME-XML cannot be parsed ({err})"
    pixels = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None or pixels.get("PhysicalSizeX") is None:
        return None, ""
    raw, unit = pixels.get("PhysicalSizeX", ""), pixels.get("PhysicalSizeXUnit", "µm")
    try:
        size = float(raw)
    except ValueError:
        return None, f"OME PhysicalSizeX={raw!r} is not a number"
    if unit not in _OME_UNIT_UM:
        return None, f"OME PhysicalSizeXUnit={unit!r} cannot be converted to µm"
    return size * _OME_UNIT_UM[unit], ""


def resolution_mpp(page: tifffile.TiffPage, imagej_unit: str | None = None) -> float | None:
    """MPP from a page's XResolution/ResolutionUnit tags, or None when they give no length.

    Args:
        page: the level-0 page.
        imagej_unit: the ``unit`` of ImageJ metadata; with ResolutionUnit NONE and a micron
            unit, XResolution is pixels per micrometre (how ImageJ/Fiji writes it).
    """
    tag = page.tags.get("XResolution")
    if tag is None:
        return None
    value = tag.value
    pixels_per_unit = value[0] / value[1] if isinstance(value, tuple) and value[1] else value
    if not isinstance(pixels_per_unit, int | float) or pixels_per_unit <= 0:
        return None
    unit_tag = page.tags.get("ResolutionUnit")
    unit = int(unit_tag.value) if unit_tag is not None else 2  # the TIFF default is INCH
    if unit in _RESOLUTION_UNIT_UM:
        return _RESOLUTION_UNIT_UM[unit] / pixels_per_unit
    if unit == 1 and imagej_unit is not None and imagej_unit.strip() in _IMAGEJ_MICRON_UNITS:
        return 1.0 / pixels_per_unit
    return None


def _ome_mpp_y(ome_xml: str) -> float | None:
    """µm per pixel along y (``PhysicalSizeY``) of the first image of an OME-XML document."""
    try:
        root = ElementTree.fromstring(ome_xml)
    except ElementTree.ParseError:
        return None
    pixels = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None or pixels.get("PhysicalSizeY") is None:
        return None
    unit = pixels.get("PhysicalSizeYUnit", "µm")
    try:
        return float(pixels.get("PhysicalSizeY", "")) * _OME_UNIT_UM[unit]
    except (ValueError, KeyError):
        return None


def _resolution_ratio(page: tifffile.TiffPage) -> float | None:
    """XResolution / YResolution (y pixel size over x pixel size), None if either is unusable."""
    values = []
    for name in ("XResolution", "YResolution"):
        tag = page.tags.get(name)
        value = tag.value if tag is not None else None
        if isinstance(value, tuple) and len(value) == 2 and value[1]:
            value = value[0] / value[1]
        if not isinstance(value, int | float) or value <= 0:
            return None
        values.append(float(value))
    return values[0] / values[1]


def anisotropy_warning(tif: tifffile.TiffFile, file_mpp: FileMpp) -> str | None:
    """A warning when the file states different pixel sizes along y and x, else None."""
    if file_mpp.source == "ome" and tif.ome_metadata:
        y_mpp = _ome_mpp_y(tif.ome_metadata)
        ratio = y_mpp / file_mpp.value if y_mpp else None
        detail = f"OME PhysicalSizeX {file_mpp.value:g} µm, PhysicalSizeY {y_mpp} µm"
    elif file_mpp.source == "tiff-resolution":
        ratio = _resolution_ratio(tif.pages.first)
        detail = "TIFF XResolution ≠ YResolution"
    else:
        return None
    if ratio is None or abs(ratio - 1.0) <= ANISOTROPY_TOLERANCE:
        return None
    return (
        f"anisotropic pixels ({detail}: y/x = {ratio:.3f}); bus_seg takes pixels as square with "
        f"the x size {file_mpp.value:g} µm, so lengths along y are off by {abs(ratio - 1):.1%}; "
        "resample the slide to square pixels"
    )


def read_file_mpp(tif: tifffile.TiffFile) -> tuple[FileMpp | None, list[str]]:
    """The MPP a TIFF-family slide states: Aperio, then OME-XML, then resolution tags.

    Returns:
        ``(mpp or None, warnings)``.
    """
    warnings: list[str] = []
    page = tif.pages.first
    if tif.is_svs:
        value = aperio_mpp(page.description)
        if value is not None:
            return FileMpp(value, "aperio", f"Aperio 'MPP = {value}'"), warnings
    if tif.is_ome and tif.ome_metadata:
        value, note = ome_mpp(tif.ome_metadata)
        if note:
            warnings.append(f"{note}; ignored")
        if value is not None:
            return _with_anisotropy(
                tif, FileMpp(value, "ome", f"OME PhysicalSizeX = {value} µm"), warnings
            )
    imagej_unit = None
    if tif.is_imagej and tif.imagej_metadata:
        imagej_unit = str(tif.imagej_metadata.get("unit", "")) or None
    value = resolution_mpp(page, imagej_unit)
    if value is not None:
        res = page.tags["XResolution"].value
        unit = page.tags.get("ResolutionUnit")
        unit_name = tifffile.RESUNIT(unit.value).name if unit is not None else "INCH (default)"
        detail = f"XResolution {res[0] / res[1]:g} per {unit_name}"
        return _with_anisotropy(tif, FileMpp(value, "tiff-resolution", detail), warnings)
    return None, warnings


def _with_anisotropy(
    tif: tifffile.TiffFile, file_mpp: FileMpp, warnings: list[str]
) -> tuple[FileMpp, list[str]]:
    note = anisotropy_warning(tif, file_mpp)
    return file_mpp, warnings + ([note] if note else [])


def mpp_in_range(value: float) -> bool:
    """Whether ``value`` µm/px lies in the plausible range :data:`MPP_RANGE`."""
    return MPP_RANGE[0] <= value <= MPP_RANGE[1]


def check_mpp(value: float, source: str, path: str | Path) -> float:
    """Return ``value`` if it is a plausible MPP, else raise an InputError naming its source.

    Raises:
        InputError: the value is not finite or lies outside :data:`MPP_RANGE`.
    """
    if not mpp_in_range(value):  # also catches NaN
        low, high = MPP_RANGE
        raise InputError(
            f"MPP {value:g} µm/px from {source} is outside {low:g}–{high:g} µm/px: probably a wrong "
            "unit (µm per pixel is expected, not mm, nm or pixels per inch); give the right "
            "wsi_mpp in the manifest",
            path,
        )
    return float(value)
