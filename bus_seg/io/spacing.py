"""Pixel spacing of ultrasound images: the file's value against the manifest's, isotropy."""

from __future__ import annotations

import math
from pathlib import Path

from bus_seg.errors import InputError

SPACING_TOLERANCE = 0.01
"""Relative difference above which two spacings disagree (x against y, file against manifest)."""


def relative_difference(a: float, b: float) -> float:
    """``|a - b|`` relative to the larger of the two."""
    return abs(a - b) / max(abs(a), abs(b))


def check_spacing_mm(value: float, path: str | Path) -> float:
    """Return ``value`` as a float if it is a finite positive spacing in mm per pixel.

    Raises:
        InputError: the value is zero, negative, infinite or NaN.
    """
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise InputError(
            f"us_spacing_mm must be a positive number of mm per pixel, got {value!r}; fix the "
            "manifest cell or leave it empty to use the spacing stored in the file",
            path,
        )
    return value


def settle_spacing(
    path: str | Path,
    manifest_mm: float | None,
    file_xy_mm: tuple[float, float] | None,
    file_source: str | None,
) -> tuple[float | None, str | None, list[str]]:
    """Choose the isotropic spacing of an image: the manifest wins over the file.

    Args:
        path: the image file (for messages).
        manifest_mm: ``us_spacing_mm`` from the manifest, or None.
        file_xy_mm: ``(x, y)`` spacing in mm stored in the file, or None.
        file_source: where the file's spacing came from (``"dicom-region"``, ...).

    Returns:
        ``(spacing_mm, spacing_source, warnings)``; ``(None, None, [])`` when neither gives one.

    Raises:
        InputError: the file's spacing is anisotropic and the manifest gives none.
    """
    warnings: list[str] = []
    anisotropic = file_xy_mm is not None and relative_difference(*file_xy_mm) > SPACING_TOLERANCE
    if manifest_mm is not None:
        manifest_mm = check_spacing_mm(manifest_mm, path)
        if file_xy_mm is not None and anisotropic:
            warnings.append(
                f"the file's pixel spacing is anisotropic (x {file_xy_mm[0]:g} mm, y "
                f"{file_xy_mm[1]:g} mm, from {file_source}); us_spacing_mm {manifest_mm:g} mm "
                "from the manifest is used for both axes"
            )
        elif file_xy_mm is not None:
            file_mm = (file_xy_mm[0] + file_xy_mm[1]) / 2
            if relative_difference(file_mm, manifest_mm) > SPACING_TOLERANCE:
                warnings.append(
                    f"us_spacing_mm {manifest_mm:g} mm in the manifest differs from the file's "
                    f"{file_mm:g} mm ({file_source}); the manifest value is used"
                )
        return manifest_mm, "manifest", warnings
    if file_xy_mm is None:
        return None, None, warnings
    if anisotropic:
        raise InputError(
            f"the pixel spacing stored in the file is anisotropic (x {file_xy_mm[0]:g} mm, "
            f"y {file_xy_mm[1]:g} mm, from {file_source}); bus_seg needs square pixels: resample "
            "the image, or give us_spacing_mm in the manifest to use one value for both axes",
            path,
        )
    return (file_xy_mm[0] + file_xy_mm[1]) / 2, file_source, warnings
