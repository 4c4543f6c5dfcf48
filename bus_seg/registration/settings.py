"""Registration settings: one flat, validated dataclass shared by the CLI, configs and DataModules."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bus_seg.errors import ConfigError
from bus_seg.io.annotations import DEFAULT_CANCER_CLASSES, DEFAULT_OBJECT_TYPES
from bus_seg.io.slide_backends import DEFAULT_BACKEND, SLIDE_BACKENDS

PLACEMENTS = ("fit_tract", "physical")
PROJECTIONS = ("profile", "area")
TISSUE_METHODS = ("od", "saturation")
ANCHORS = ("proximal", "distal")
NEEDLE_MODES = ("manual", "auto")

QC_ONLY = frozenset({"qc", "qc_dpi"})
"""Settings that change only the QC pictures, never the label maps."""
NOT_PER_CASE = frozenset({"allow_outside_paths"})
"""Settings that act on the manifest as a whole, not on the registration of a case."""


@dataclass(frozen=True)
class RegistrationSettings:
    """How a biopsy-core WSI is registered onto the needle tract (see the cohort format page).

    Attributes:
        placement: ``fit_tract`` (stretch the core over the segment) or ``physical`` (place it
            at its physical length from ``anchor``; the rest of the segment stays 255).
        projection: ``profile`` (one label per position along the tract, the ≥ threshold
            rule across the core) or ``area`` (the lateral layout of the tissue is kept).
        tissue_method: foreground score: ``od`` (summed optical density) or ``saturation``
            (HSV saturation).
        tissue_threshold: fixed score threshold; None = Otsu's threshold of the score.
        tissue_min_threshold: floor under Otsu's threshold (keeps faint background out when
            the slide holds little tissue).
        tissue_mpp: micrometres per pixel at which tissue is detected (the coarsest pyramid
            level at least this fine, block-averaged down to about this size).
        tissue_close_um: radius of the morphological closing of the tissue mask (µm).
        fill_holes: count holes inside a tissue piece as tissue.
        tissue_regions: find the tissue on a coarse level first and read only its bounding
            boxes at ``tissue_mpp`` (fast on scanner-resolution slides); false decodes the
            whole level (or ``wsi_roi``) at ``tissue_mpp``.
        min_fragment_area_mm2: pieces smaller than this are debris and are dropped.
        cancer_classes: annotation class names that count as cancer (case-insensitive), in
            every annotation format (QuPath GeoJSON, ImageScope XML, ASAP XML).
        annotation_object_types: QuPath object types read from a GeoJSON (``annotation``;
            add ``detection``/``cell``/``tile`` to read those too); features without an
            ``objectType`` are always read.
        slide_backend: the WSI reader: ``tifffile``, ``openslide``, ``tiffslide`` or ``auto``
            (by file type, see :mod:`bus_seg.io.slide_backends`).
        use_outside_dicom_regions: use the spacing of a DICOM ultrasound region that lies
            outside the pixel matrix (by default it is a warning and not used).
        profile_threshold: a position along the tract is cancer when at least this fraction
            of the tissue across the core is cancer.
        core_diameter_mm_override: strip width used for every case instead of the manifest's
            ``core_diameter_mm``; None keeps the manifest's.
        shrinkage: fraction by which fixed tissue is shorter than in vivo (``physical`` only).
        anchor: the end of the segment the core is placed from (``physical`` only).
        needle: ``manual`` (tract points from the manifest) or ``auto`` (found in the image for
            rows without tract points).
        throw_length_mm: length of the sampled segment ending at the needle tip (``auto``).
        min_needle_confidence: automatic needles less confident than this fail the case.
        allow_outside_paths: allow manifest paths outside the manifest's folder.
        qc: write the quality-control pictures.
        qc_dpi: resolution of the quality-control pictures.
    """

    placement: str = "fit_tract"
    projection: str = "profile"
    tissue_method: str = "od"
    tissue_threshold: float | None = None
    tissue_min_threshold: float = 0.08
    tissue_mpp: float = 4.0
    tissue_close_um: float = 10.0
    fill_holes: bool = True
    tissue_regions: bool = True
    min_fragment_area_mm2: float = 0.05
    cancer_classes: tuple[str, ...] = field(default=DEFAULT_CANCER_CLASSES)
    annotation_object_types: tuple[str, ...] = field(default=DEFAULT_OBJECT_TYPES)
    slide_backend: str = DEFAULT_BACKEND
    use_outside_dicom_regions: bool = False
    profile_threshold: float = 0.5
    core_diameter_mm_override: float | None = None
    shrinkage: float = 0.0
    anchor: str = "proximal"
    needle: str = "manual"
    throw_length_mm: float = 20.0
    min_needle_confidence: float = 0.5
    allow_outside_paths: bool = False
    qc: bool = True
    qc_dpi: int = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "cancer_classes", tuple(str(c) for c in self.cancer_classes))
        object.__setattr__(
            self, "annotation_object_types", tuple(str(t) for t in self.annotation_object_types)
        )
        _choice("slide_backend", self.slide_backend, SLIDE_BACKENDS)
        _choice("placement", self.placement, PLACEMENTS)
        _choice("projection", self.projection, PROJECTIONS)
        _choice("tissue_method", self.tissue_method, TISSUE_METHODS)
        _choice("anchor", self.anchor, ANCHORS)
        _choice("needle", self.needle, NEEDLE_MODES)
        _positive("tissue_mpp", self.tissue_mpp)
        _positive("throw_length_mm", self.throw_length_mm)
        _positive("qc_dpi", self.qc_dpi)
        _at_least_zero("tissue_close_um", self.tissue_close_um)
        _at_least_zero("min_fragment_area_mm2", self.min_fragment_area_mm2)
        _at_least_zero("tissue_min_threshold", self.tissue_min_threshold)
        if self.tissue_threshold is not None:
            _at_least_zero("tissue_threshold", self.tissue_threshold)
        if self.core_diameter_mm_override is not None:
            _positive("core_diameter_mm_override", self.core_diameter_mm_override)
        _in_range("profile_threshold", self.profile_threshold, 0.0, 1.0, low_open=True)
        _in_range("shrinkage", self.shrinkage, 0.0, 1.0, high_open=True)
        _in_range("min_needle_confidence", self.min_needle_confidence, 0.0, 1.0)
        if not self.cancer_classes:
            raise ConfigError(
                "registration.cancer_classes is empty: list the annotation classes that count "
                "as cancer, e.g. [Tumor, DCIS]"
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> RegistrationSettings:
        """Build from a flat mapping (a ``conf/registration`` option or a plain dict).

        Raises:
            ConfigError: an unknown key or a value of the wrong type or out of range.
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in dict(config or {}).items():
            if key not in known:
                raise ConfigError(
                    f"registration.{key} is not a registration setting; valid settings: "
                    + ", ".join(sorted(known))
                )
            values[key] = _coerce(key, value, cls.__dataclass_fields__[key].default)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-able values."""
        values = dataclasses.asdict(self)
        values["cancer_classes"] = list(self.cancer_classes)
        values["annotation_object_types"] = list(self.annotation_object_types)
        return values

    def label_settings(self) -> dict[str, Any]:
        """The settings that can change a case's label map and report row (the cache key)."""
        return {k: v for k, v in self.to_dict().items() if k not in QC_ONLY | NOT_PER_CASE}

    def qc_settings(self) -> dict[str, Any]:
        """The settings that change only the QC picture."""
        return {k: v for k, v in self.to_dict().items() if k in QC_ONLY}


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Convert a config value (OmegaConf containers, ints for floats) to the field's type."""
    if key in ("cancer_classes", "annotation_object_types"):
        if isinstance(value, str):
            return (value,)
        try:
            return tuple(str(v) for v in value)
        except TypeError as err:
            raise ConfigError(f"registration.{key}={value!r} must be a list of names") from err
    if value is None:
        return None
    if isinstance(default, bool) or key in {"fill_holes", "allow_outside_paths", "qc"}:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"registration.{key}={value!r} must be true or false")
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        raise ConfigError(f"registration.{key}={value!r} must be a string")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"registration.{key}={value!r} must be a number")
    if isinstance(default, int):
        if float(value) != int(value):
            raise ConfigError(f"registration.{key}={value!r} must be a whole number")
        return int(value)
    return float(value)


def _choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"registration.{key}={value!r} is unknown; choose one of {list(choices)}")


def _finite(key: str, value: float) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"registration.{key}={value!r} must be a finite number")


def _positive(key: str, value: float) -> None:
    _finite(key, value)
    if value <= 0:
        raise ConfigError(f"registration.{key}={value!r} must be greater than 0")


def _at_least_zero(key: str, value: float) -> None:
    _finite(key, value)
    if value < 0:
        raise ConfigError(f"registration.{key}={value!r} must be 0 or more")


def _in_range(
    key: str,
    value: float,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    _finite(key, value)
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"registration.{key}={value!r} must lie in {interval}")
