"""The readers' option names and defaults, light to import.

Settings (:class:`~bus_seg.registration.RegistrationSettings`) and the configs built from them name
these before any reader (numpy, tifffile, shapely, …) is loaded, e.g. when a command line is
checked.
"""

from __future__ import annotations

TIFFFILE, OPENSLIDE, TIFFSLIDE, AUTO = "tifffile", "openslide", "tiffslide", "auto"
SLIDE_BACKENDS: tuple[str, ...] = (TIFFFILE, OPENSLIDE, TIFFSLIDE, AUTO)
"""Slide readers (:mod:`bus_seg.io.slide_backends`)."""
DEFAULT_BACKEND = TIFFFILE

DEFAULT_OBJECT_TYPES: tuple[str, ...] = ("annotation",)
"""QuPath object types read from a GeoJSON unless configured otherwise; add ``detection``,
``cell`` or ``tile`` for more (features without an ``objectType`` are always read;
:mod:`bus_seg.io.annotations`)."""
