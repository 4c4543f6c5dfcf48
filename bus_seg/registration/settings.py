"""Registration settings: one flat, validated dataclass shared by the CLI, configs and DataModules."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bus_seg.errors import ConfigError
from bus_seg.io.reader_options import DEFAULT_BACKEND, DEFAULT_OBJECT_TYPES, SLIDE_BACKENDS
from bus_seg.labels import DEFAULT_CANCER_CLASSES
from bus_seg.settings import (
    build,
    check_choice,
    check_flag,
    check_names,
    check_number,
    check_optional_number,
    check_probability,
)

PLACEMENTS = ("fit_tract", "physical")
PROJECTIONS = ("profile", "area")
TISSUE_METHODS = ("od", "saturation")
ANCHORS = ("proximal", "distal")
NEEDLE_MODES = ("manual", "auto")

QC_ONLY = frozenset({"qc", "qc_dpi"})
"""Settings that change only the QC pictures, never the label maps."""
NOT_PER_CASE = frozenset({"allow_outside_paths"})
"""Settings that act on the manifest as a whole, not on the registration of a case."""
READER_SETTINGS = ("slide_backend", "annotation_object_types", "use_outside_dicom_regions")
"""How slides, annotations and DICOM files are read: ``bus-seg-validate`` takes them too."""


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
        def option(name: str) -> str:
            return f"registration.{name}"

        def fix(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for name, choices in (
            ("placement", PLACEMENTS),
            ("projection", PROJECTIONS),
            ("tissue_method", TISSUE_METHODS),
            ("slide_backend", SLIDE_BACKENDS),
            ("anchor", ANCHORS),
            ("needle", NEEDLE_MODES),
        ):
            check_choice(option(name), getattr(self, name), choices)
        for name in (
            "fill_holes",
            "tissue_regions",
            "use_outside_dicom_regions",
            "allow_outside_paths",
            "qc",
        ):
            check_flag(option(name), getattr(self, name))
        positive = {"low": 0.0, "low_open": True}
        for name in ("tissue_mpp", "throw_length_mm"):
            fix(name, check_number(option(name), getattr(self, name), **positive))
        for name in ("tissue_close_um", "min_fragment_area_mm2", "tissue_min_threshold"):
            fix(name, check_number(option(name), getattr(self, name), low=0.0))
        fix("qc_dpi", check_number(option("qc_dpi"), self.qc_dpi, integer=True, **positive))
        fix(
            "tissue_threshold",
            check_optional_number(option("tissue_threshold"), self.tissue_threshold, low=0.0),
        )
        fix(
            "core_diameter_mm_override",
            check_optional_number(
                option("core_diameter_mm_override"), self.core_diameter_mm_override, **positive
            ),
        )
        fix(
            "profile_threshold",
            check_number(
                option("profile_threshold"),
                self.profile_threshold,
                low=0.0,
                high=1.0,
                low_open=True,
            ),
        )
        fix(
            "shrinkage",
            check_number(option("shrinkage"), self.shrinkage, low=0.0, high=1.0, high_open=True),
        )
        fix(
            "min_needle_confidence",
            check_probability(option("min_needle_confidence"), self.min_needle_confidence),
        )
        fix(
            "annotation_object_types",
            check_names(
                option("annotation_object_types"), self.annotation_object_types, allow_empty=True
            ),
        )
        fix(
            "cancer_classes",
            check_names(option("cancer_classes"), self.cancer_classes, allow_empty=True),
        )
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
        return build(cls, config, "registration.", "registration")

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
