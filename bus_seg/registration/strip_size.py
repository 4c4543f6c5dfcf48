"""Whether a tract's labelled strip is big enough to score: no empty strip may pass as "ok".

A core diameter or an ultrasound spacing in the wrong unit (``us_spacing_mm`` in µm or cm,
``core_diameter_mm`` in cm) makes a strip that is under one pixel wide, or that covers almost
none of the pixels it should. Such a case would register with nothing labelled and score as
perfect, so registration fails it and validation reports it, both with this module's message.
"""

from __future__ import annotations

MIN_STRIP_WIDTH_PX = 1.0
"""Narrowest strip (core diameter in ultrasound pixels) that is registered."""
MIN_STRIP_PIXELS = 20
"""Fewest labelled pixels of a registered strip."""
MIN_STRIP_FRACTION = 0.01
"""Smallest share of the expected strip area (tract length × core diameter) that is labelled."""


def expected_strip_pixels(length_px: float, diameter_mm: float, spacing_mm: float) -> float:
    """Area of the strip in pixels: tract length × core diameter, both in pixels."""
    return length_px * diameter_mm / spacing_mm


def strip_size_problem(
    length_px: float, diameter_mm: float, spacing_mm: float, labelled: int | None = None
) -> str | None:
    """Why the strip is too small to score, or None when it is fine.

    Args:
        length_px: tract length in ultrasound pixels.
        diameter_mm: core diameter (the strip's width).
        spacing_mm: ultrasound pixel size.
        labelled: pixels actually labelled (None: check the expected size only, as
            validation does from the manifest).
    """
    width_px = diameter_mm / spacing_mm
    expected = expected_strip_pixels(length_px, diameter_mm, spacing_mm)
    hint = (
        f"check us_spacing_mm ({spacing_mm:g} mm per pixel: millimetres, not µm or cm) and "
        f"core_diameter_mm ({diameter_mm:g} mm)"
    )
    if width_px < MIN_STRIP_WIDTH_PX:
        return (
            f"the labelled strip would be {width_px:.3g} px wide (core_diameter_mm / "
            f"us_spacing_mm), under {MIN_STRIP_WIDTH_PX:g} px: nothing to score; {hint}"
        )
    if expected < MIN_STRIP_PIXELS:
        return (
            f"the labelled strip would cover {expected:.3g} px (tract {length_px:.3g} px × "
            f"{width_px:.3g} px), under {MIN_STRIP_PIXELS} px: nothing to score; {hint}"
        )
    if labelled is not None and labelled < max(MIN_STRIP_PIXELS, MIN_STRIP_FRACTION * expected):
        return (
            f"only {labelled} pixels are labelled, under {MIN_STRIP_FRACTION:.0%} of the "
            f"{expected:.0f} px the strip should cover (tract {length_px:.3g} px × {width_px:.3g} "
            f"px), so the case would score as perfect with nothing to score; {hint}"
        )
    return None
