"""Settings of the simulator: frozen dataclasses, validated on construction, built from configs.

Every default lives here, the fault presets (``easy``, ``default``, ``hard``) included
(:data:`FAULT_PRESETS`). ``bus-seg-simulate``'s config (``conf/simulate.yaml``) takes them from
these classes (:func:`bus_seg.config.store_settings_configs`), so it holds only what the command
line adds (``out_dir``, ``workers``, ``progress``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bus_seg.errors import ConfigError
from bus_seg.labels import DEFAULT_CANCER_CLASSES
from bus_seg.settings import (
    build,
    check_choice,
    check_choices,
    check_names,
    check_number,
    check_probability,
    check_range,
    check_weights,
    plain,
)

SIMULATOR_VERSION = 1
"""Bumped whenever the simulator's output for the same settings changes (invalidates caches)."""

GAUGE_DIAMETER_MM = {14: 1.6, 16: 1.2, 18: 0.9}
"""Core diameter of common biopsy needle gauges."""

PROXIMAL_ENDS = ("left", "right", "top", "bottom")
WSI_FORMATS = ("ome_tiff", "tiff", "png", "svs")
SCANNED_FORMATS = ("svs", "ome_tiff")
"""Formats a slide can be written in at ``wsi.scan_mpp``."""
SOURCE_KINDS = ("phantom", "mask_folder")
ENTRY_SIDES = ("left", "right")
COMPRESSIONS = ("jpeg", "zlib", "none")
SPLITS = ("train", "val", "test")
DEBRIS_LIMIT_MM2 = 0.05
"""Pieces at least this large count as core tissue for the default registration."""

Range = tuple[float, float]


@dataclass(frozen=True)
class SourceSettings:
    """Where the ultrasound images and lesion masks come from.

    Attributes:
        kind: ``phantom`` (procedural B-mode images) or ``mask_folder`` (BUSI-style folder).
        path: root of the mask folder (``<path>/<class>/<name>.png`` + ``<name>_mask*.png``).
        classes: class sub-folders to read from a mask folder.
        assumed_spacing_mm: pixel spacing assumed for mask-folder images (BUSI publishes none).
        draw_needle: draw the needle (shaft, tip, reverberation) along the tract.
        limit: read at most this many images of the mask folder (sorted order), None for all.
    """

    kind: str = "phantom"
    path: str | None = None
    classes: tuple[str, ...] = ("malignant",)
    assumed_spacing_mm: float = 0.1
    draw_needle: bool = True
    limit: int | None = None

    def __post_init__(self) -> None:
        check_choice("source.kind", self.kind, SOURCE_KINDS)
        if self.kind == "mask_folder" and not self.path:
            raise ConfigError(
                "source.path is not set: a mask_folder source needs the folder, e.g. "
                "source.path=/data/busi"
            )
        object.__setattr__(self, "classes", check_names("source.classes", self.classes))
        check_number(
            "source.assumed_spacing_mm",
            self.assumed_spacing_mm,
            low=0.0,
            low_open=True,
        )
        if self.limit is not None:
            check_number("source.limit", self.limit, low=1)


@dataclass(frozen=True)
class PhantomSettings:
    """The procedural B-mode phantom.

    Attributes:
        image_size: ``(height, width)`` in pixels.
        spacing_mm: isotropic pixel size.
        lesions: range of the number of lesions per patient.
        lesion_diameter_mm: range of the lesions' mean diameter.
        irregular_probability: chance that a lesion is irregular/spiculated (else oval).
        hole_probability: chance that a lesion holds a non-lesion inclusion (a hole in its mask).
        dynamic_range_db: log-compression dynamic range.
        psf_axial_mm: axial standard deviation of the point-spread function.
        psf_lateral_mm: lateral standard deviation of the point-spread function.
        view_shift_mm: range of the probe's lateral shift between images of one patient.
    """

    image_size: tuple[int, int] = (256, 256)
    spacing_mm: float = 0.15
    lesions: tuple[int, int] = (1, 1)
    lesion_diameter_mm: Range = (7.0, 16.0)
    irregular_probability: float = 0.6
    hole_probability: float = 0.15
    dynamic_range_db: float = 50.0
    psf_axial_mm: float = 0.18
    psf_lateral_mm: float = 0.35
    view_shift_mm: Range = (-3.0, 3.0)

    def __post_init__(self) -> None:
        size = check_range("phantom.image_size", self.image_size, low=64, integer=True)
        object.__setattr__(self, "image_size", size)
        check_number("phantom.spacing_mm", self.spacing_mm, low=0.0, low_open=True)
        lesions = check_range("phantom.lesions", self.lesions, low=1, high=4, integer=True)
        object.__setattr__(self, "lesions", lesions)
        diameter = check_range("phantom.lesion_diameter_mm", self.lesion_diameter_mm, low=0.5)
        object.__setattr__(self, "lesion_diameter_mm", diameter)
        check_probability("phantom.irregular_probability", self.irregular_probability)
        check_probability("phantom.hole_probability", self.hole_probability)
        check_number("phantom.dynamic_range_db", self.dynamic_range_db, low=10, high=120)
        check_number("phantom.psf_axial_mm", self.psf_axial_mm, low=0.0, low_open=True)
        check_number("phantom.psf_lateral_mm", self.psf_lateral_mm, low=0.0, low_open=True)
        shift = check_range("phantom.view_shift_mm", self.view_shift_mm)
        object.__setattr__(self, "view_shift_mm", shift)

    @property
    def field_of_view_mm(self) -> tuple[float, float]:
        """``(depth, width)`` of the image in millimetres."""
        return self.image_size[0] * self.spacing_mm, self.image_size[1] * self.spacing_mm


@dataclass(frozen=True)
class TractSettings:
    """Choice of the needle tract and its sampled segment.

    Attributes:
        angle_deg: range of the needle's angle below the horizontal.
        entry_sides: sides of the image the needle may enter from.
        segment_length_mm: range of the sampled segment's length (the core's length in vivo).
        margin_mm: least distance between the strip (and the needle tip) and the image border.
        cancer_fraction: range of the lesion's share of the sampled segment (it must straddle
            lesion and normal tissue).
        gauge: needle gauge(s) to draw from (14, 16 or 18 -> core diameter 1.6, 1.2, 0.9 mm).
        tip_length_mm: range of the needle's length beyond the sampled segment.
        attempts: candidate tracts tried per image before it is skipped.
    """

    angle_deg: Range = (5.0, 35.0)
    entry_sides: tuple[str, ...] = ENTRY_SIDES
    segment_length_mm: Range = (8.0, 16.0)
    margin_mm: float = 1.0
    cancer_fraction: Range = (0.2, 0.8)
    gauge: tuple[int, ...] = (14,)
    tip_length_mm: Range = (2.0, 5.0)
    attempts: int = 400

    def __post_init__(self) -> None:
        angle = check_range("tract.angle_deg", self.angle_deg, low=0.0, high=80.0)
        object.__setattr__(self, "angle_deg", angle)
        sides = check_choices("tract.entry_sides", self.entry_sides, ENTRY_SIDES)
        object.__setattr__(self, "entry_sides", sides)
        length = check_range("tract.segment_length_mm", self.segment_length_mm, low=0.5)
        object.__setattr__(self, "segment_length_mm", length)
        check_number("tract.margin_mm", self.margin_mm, low=0.0)
        fraction = check_range("tract.cancer_fraction", self.cancer_fraction, low=0.0, high=1.0)
        if fraction[0] <= 0.0 or fraction[1] >= 1.0:
            raise ConfigError(
                f"tract.cancer_fraction={list(fraction)!r} must lie strictly inside (0, 1): the "
                "segment must straddle lesion and normal tissue"
            )
        object.__setattr__(self, "cancer_fraction", fraction)
        gauges = (self.gauge,) if isinstance(self.gauge, int) else tuple(self.gauge)
        if not gauges or any(g not in GAUGE_DIAMETER_MM for g in gauges):
            raise ConfigError(
                f"tract.gauge={self.gauge!r} is unknown; choose from "
                f"{sorted(GAUGE_DIAMETER_MM)} (core diameters {GAUGE_DIAMETER_MM} mm)"
            )
        object.__setattr__(self, "gauge", gauges)
        tip = check_range("tract.tip_length_mm", self.tip_length_mm, low=0.0)
        object.__setattr__(self, "tip_length_mm", tip)
        check_number("tract.attempts", self.attempts, low=1)


@dataclass(frozen=True)
class FaultSettings:
    """What happens to the core between the needle and the slide (the Hydra group ``simulation``).

    Attributes:
        difficulty: name of the preset these values came from (written to the manifest).
        shrinkage: range of the fixed tissue's uniform shrinkage fraction.
        fragments: range of the number of pieces the core breaks into (cuts lose no tissue).
        gap_mm: range of the gaps between consecutive fragments on the slide.
        bend_deg: range of each fragment's bend (angle between its end tangents).
        core_rotation_deg: largest rotation of the whole core on the slide (either sign).
        fragment_rotation_deg: largest extra rotation of each fragment (either sign).
        lateral_offset_mm: largest sideways misalignment of a fragment (either sign).
        edge_roughness: relative waviness of the core's long edges.
        debris: range of the number of debris specks on the slide.
        debris_area_mm2: range of a speck's area (below the 0.05 mm² debris limit).
        serial_section_probability: chance of a second section of the core on the slide.
    """

    difficulty: str
    shrinkage: Range
    fragments: tuple[int, int]
    gap_mm: Range
    bend_deg: Range
    core_rotation_deg: float
    fragment_rotation_deg: float
    lateral_offset_mm: float
    edge_roughness: float
    debris: tuple[int, int]
    debris_area_mm2: Range
    serial_section_probability: float

    def __post_init__(self) -> None:
        if not isinstance(self.difficulty, str) or not self.difficulty:
            raise ConfigError(f"faults.difficulty={self.difficulty!r} must be a preset name")
        shrink = check_range("faults.shrinkage", self.shrinkage, low=0.0, high=0.5)
        object.__setattr__(self, "shrinkage", shrink)
        pieces = check_range("faults.fragments", self.fragments, low=1, high=20, integer=True)
        object.__setattr__(self, "fragments", pieces)
        gap = check_range("faults.gap_mm", self.gap_mm, low=0.05, high=10.0)
        object.__setattr__(self, "gap_mm", gap)
        bend = check_range("faults.bend_deg", self.bend_deg, low=0.0, high=30.0)
        object.__setattr__(self, "bend_deg", bend)
        check_number("faults.core_rotation_deg", self.core_rotation_deg, low=0.0, high=45.0)
        check_number("faults.fragment_rotation_deg", self.fragment_rotation_deg, low=0.0, high=30.0)
        check_number("faults.lateral_offset_mm", self.lateral_offset_mm, low=0.0, high=2.0)
        check_number("faults.edge_roughness", self.edge_roughness, low=0.0, high=0.2)
        debris = check_range("faults.debris", self.debris, low=0, high=100, integer=True)
        object.__setattr__(self, "debris", debris)
        area = check_range("faults.debris_area_mm2", self.debris_area_mm2, low=1e-5)
        if area[1] >= DEBRIS_LIMIT_MM2:
            raise ConfigError(
                f"faults.debris_area_mm2={list(area)!r}: {area[1]:g} mm² is not below the "
                f"{DEBRIS_LIMIT_MM2} mm² debris limit; larger pieces would count as core tissue"
            )
        object.__setattr__(self, "debris_area_mm2", area)
        check_probability("faults.serial_section_probability", self.serial_section_probability)

    @classmethod
    def preset(cls, name: str) -> FaultSettings:
        """The fault preset ``name`` of :data:`FAULT_PRESETS`.

        Raises:
            ConfigError: no such preset.
        """
        if not isinstance(name, str) or name not in FAULT_PRESETS:
            raise ConfigError(
                f"faults.difficulty={name!r} is not a fault preset; choose one of "
                f"{sorted(FAULT_PRESETS)} (simulation=<preset> on the command line)"
            )
        return cls(difficulty=name, **FAULT_PRESETS[name])


FAULT_PRESETS: dict[str, dict[str, Any]] = {
    # Easy cores: little shrinkage, at most two fragments, no bends, hardly any rotation or debris.
    "easy": {
        "shrinkage": (0.0, 0.1),
        "fragments": (1, 2),
        "gap_mm": (0.3, 0.8),
        "bend_deg": (0.0, 0.0),
        "core_rotation_deg": 3.0,
        "fragment_rotation_deg": 1.5,
        "lateral_offset_mm": 0.03,
        "edge_roughness": 0.01,
        "debris": (0, 1),
        "debris_area_mm2": (0.001, 0.01),
        "serial_section_probability": 0.0,
    },
    # The default simulated cohort.
    "default": {
        "shrinkage": (0.0, 0.2),
        "fragments": (1, 4),
        "gap_mm": (0.2, 1.0),
        "bend_deg": (0.0, 4.0),
        "core_rotation_deg": 8.0,
        "fragment_rotation_deg": 4.0,
        "lateral_offset_mm": 0.1,
        "edge_roughness": 0.03,
        "debris": (0, 4),
        "debris_area_mm2": (0.001, 0.02),  # below the registration's 0.05 mm² debris limit
        "serial_section_probability": 0.2,
    },
    # Hard cores: strong shrinkage, up to five tilted and bent fragments, debris, serial sections.
    "hard": {
        "shrinkage": (0.05, 0.2),
        "fragments": (2, 5),
        "gap_mm": (0.15, 1.5),
        "bend_deg": (0.0, 8.0),
        "core_rotation_deg": 15.0,
        "fragment_rotation_deg": 8.0,
        "lateral_offset_mm": 0.2,
        "edge_roughness": 0.05,
        "debris": (2, 8),
        "debris_area_mm2": (0.001, 0.03),
        "serial_section_probability": 0.5,
    },
}
"""The fault presets by ``difficulty`` (the Hydra group ``simulation`` of ``bus-seg-simulate``):
what happens to a core between the needle and the slide (fields of :class:`FaultSettings`)."""


@dataclass(frozen=True)
class WsiSettings:
    """The simulated whole-slide image of each core.

    Attributes:
        mpp: micrometres per level-0 pixel.
        formats: relative weights of ``ome_tiff`` (pyramidal OME-TIFF), ``tiff`` (pyramidal
            TIFF with resolution tags), ``png`` (MPP in the manifest only) and ``svs`` (Aperio,
            with ``scan_mpp`` only).
        scan_mpp: µm per level-0 pixel of the written slide, as a 20× (0.5) or 40× (0.25)
            scanner gives; the slide is simulated at ``mpp`` (a whole multiple of it) and
            resampled tile by tile, so level 0 is never held in memory. Only ``svs`` and
            ``ome_tiff`` formats, and GeoJSON annotations. None writes at ``mpp``.
        compression: tile compression of the TIFF formats: ``jpeg``, ``zlib`` or ``none``.
        tile_size: TIFF tile edge in pixels (a multiple of 16).
        level_downsamples: downsample factors per pyramid level to draw from (2 and/or 4).
        manifest_mpp_probability: chance that a TIFF-format row also states wsi_mpp.
        margin_mm: blank slide around the tissue.
        texture_sources: H&E images whose patches texture the cancer (empty: procedural only).
        texture_source_mpp: µm per pixel of the texture source images.
        stain_variation: relative slide-to-slide variation of the stains.
    """

    mpp: float = 4.0
    scan_mpp: float | None = None
    formats: Mapping[str, float] = field(
        default_factory=lambda: {"ome_tiff": 0.7, "tiff": 0.2, "png": 0.1}
    )
    compression: str = "jpeg"
    tile_size: int = 256
    level_downsamples: tuple[int, ...] = (2, 4)
    manifest_mpp_probability: float = 0.5
    margin_mm: float = 0.5
    texture_sources: tuple[str, ...] = ()
    texture_source_mpp: float = 0.5
    stain_variation: float = 0.1

    def __post_init__(self) -> None:
        check_number("wsi.mpp", self.mpp, low=0.1, high=20.0)
        object.__setattr__(self, "formats", check_weights("wsi.formats", self.formats, WSI_FORMATS))
        self._check_scan()
        check_choice("wsi.compression", self.compression, COMPRESSIONS)
        if not isinstance(self.tile_size, int) or self.tile_size < 16 or self.tile_size % 16:
            raise ConfigError(f"wsi.tile_size={self.tile_size!r} must be a multiple of 16")
        downsamples = tuple(self.level_downsamples)
        if not downsamples or any(d not in (2, 4) for d in downsamples):
            raise ConfigError(
                f"wsi.level_downsamples={list(downsamples)!r} must hold 2 and/or 4 only"
            )
        object.__setattr__(self, "level_downsamples", downsamples)
        check_probability("wsi.manifest_mpp_probability", self.manifest_mpp_probability)
        check_number("wsi.margin_mm", self.margin_mm, low=0.05, high=10.0)
        sources = (
            (self.texture_sources,)
            if isinstance(self.texture_sources, str)
            else tuple(self.texture_sources)
        )
        object.__setattr__(self, "texture_sources", tuple(str(s) for s in sources))
        check_number("wsi.texture_source_mpp", self.texture_source_mpp, low=0.05, high=20.0)
        check_number("wsi.stain_variation", self.stain_variation, low=0.0, high=0.5)

    def _check_scan(self) -> None:
        """``scan_mpp`` goes with the scanner formats, and divides ``mpp`` a whole number of times."""
        weighted = {name for name, weight in self.formats.items() if weight > 0}
        if self.scan_mpp is None:
            if "svs" in weighted:
                raise ConfigError(
                    "wsi.formats: svs slides are written at a scanner's "
                    "resolution only; set wsi.scan_mpp (e.g. 0.25) or drop svs"
                )
            return
        check_number("wsi.scan_mpp", self.scan_mpp, low=0.1, high=20.0)
        ratio = self.mpp / self.scan_mpp
        if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-6:
            raise ConfigError(
                f"wsi.scan_mpp={self.scan_mpp!r}: wsi.mpp {self.mpp:g} / scan_mpp "
                f"{self.scan_mpp:g} must be a whole number (e.g. mpp 2 with scan_mpp 0.5 or 0.25)"
            )
        if not weighted <= set(SCANNED_FORMATS):
            raise ConfigError(
                "wsi.formats: with wsi.scan_mpp only "
                f"{' and '.join(SCANNED_FORMATS)} can be written; e.g. on the command line "
                "+wsi.formats.svs=0.5 wsi.formats.ome_tiff=0.5 wsi.formats.tiff=0 "
                "wsi.formats.png=0"
            )


@dataclass(frozen=True)
class AnnotationSettings:
    """The pathologist's annotation of each slide.

    Attributes:
        label_image_probability: chance of a level-0 label image instead of QuPath GeoJSON.
        cancer_classes: class names given to cancer polygons (one is drawn per slide).
        stroma_probability: chance that a GeoJSON also outlines some non-cancer tissue.
        annotate_serial_section: also annotate the second section when there is one.
    """

    label_image_probability: float = 0.2
    cancer_classes: tuple[str, ...] = DEFAULT_CANCER_CLASSES
    stroma_probability: float = 0.3
    annotate_serial_section: bool = True

    def __post_init__(self) -> None:
        check_probability("annotation.label_image_probability", self.label_image_probability)
        names = check_names("annotation.cancer_classes", self.cancer_classes)
        object.__setattr__(self, "cancer_classes", names)
        check_probability("annotation.stroma_probability", self.stroma_probability)


def _default_faults() -> FaultSettings:
    return FaultSettings.preset("default")


@dataclass(frozen=True)
class SimulationSettings:
    """Everything that decides a simulated cohort (same settings and seed -> same files).

    Attributes:
        source: where images and lesion masks come from.
        num_cases: number of phantom cases (a mask folder gives one case per usable image).
        seed: seed of every random choice.
        images_per_patient: range of phantom images (cores) per patient.
        split: optional fractions ``{train, val, test}`` that fill the manifest's split column
            (by patient); None leaves it empty.
        proximal_ends: slide edges the cores' proximal ends may face.
        phantom, tract, faults, wsi, annotation: the sections above.
    """

    source: SourceSettings = field(default_factory=SourceSettings)
    num_cases: int = 40
    seed: int = 0
    images_per_patient: tuple[int, int] = (1, 3)
    split: Mapping[str, float] | None = None
    proximal_ends: tuple[str, ...] = PROXIMAL_ENDS
    phantom: PhantomSettings = field(default_factory=PhantomSettings)
    tract: TractSettings = field(default_factory=TractSettings)
    faults: FaultSettings = field(default_factory=_default_faults)
    wsi: WsiSettings = field(default_factory=WsiSettings)
    annotation: AnnotationSettings = field(default_factory=AnnotationSettings)

    def __post_init__(self) -> None:
        check_number("num_cases", self.num_cases, low=1)
        if not isinstance(self.num_cases, int):
            raise ConfigError(f"num_cases={self.num_cases!r} must be a whole number")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed={self.seed!r} must be a whole number ≥ 0")
        per_patient = check_range(
            "images_per_patient", self.images_per_patient, low=1, integer=True
        )
        object.__setattr__(self, "images_per_patient", per_patient)
        if self.split is not None:
            weights = check_weights("split", self.split, SPLITS)
            object.__setattr__(self, "split", weights)
        ends = check_choices("proximal_ends", self.proximal_ends, PROXIMAL_ENDS)
        object.__setattr__(self, "proximal_ends", ends)

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any] | SimulationSettings | None = None
    ) -> SimulationSettings:
        """Build settings from a (Hydra or plain) mapping; missing keys keep their defaults.

        ``source`` may be a kind name (``"phantom"``) or a mapping; ``difficulty`` (or
        ``faults.difficulty``) picks a fault preset that ``faults`` then overrides. Keys that
        are not settings (``out_dir``, ``workers``, ``progress``) are ignored.

        Raises:
            ConfigError: an unknown key or a bad value, naming the option.
        """
        if isinstance(config, SimulationSettings):
            return config
        values = plain(config or {})
        if not isinstance(values, dict):
            raise ConfigError(f"simulation settings must be a mapping, got {type(config).__name__}")
        for key in ("out_dir", "workers", "progress", "hydra"):
            values.pop(key, None)
        source = values.pop("source", {})
        if isinstance(source, str):
            source = {"kind": source}
        faults = values.pop("faults", None) or {}
        difficulty = values.pop("difficulty", None) or faults.get("difficulty", "default")
        preset = dataclasses.asdict(FaultSettings.preset(difficulty))
        preset.update(faults)
        preset["difficulty"] = difficulty
        sections = {
            "phantom": PhantomSettings,
            "tract": TractSettings,
            "wsi": WsiSettings,
            "annotation": AnnotationSettings,
        }
        kwargs: dict[str, Any] = {
            "source": build(SourceSettings, source, "source.", "simulation"),
            "faults": build(FaultSettings, preset, "faults.", "simulation"),
        }
        for name, section in sections.items():
            kwargs[name] = build(section, values.pop(name, None) or {}, f"{name}.", "simulation")
        return build(cls, {**values, **kwargs}, "", "simulation")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every setting."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))

    def settings_hash(self) -> str:
        """SHA-256 of the settings and the simulator version (identifies a cached cohort)."""
        payload = json.dumps(
            {"settings": self.to_dict(), "version": SIMULATOR_VERSION}, sort_keys=True
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    @property
    def difficulty(self) -> str:
        """Name of the fault preset."""
        return self.faults.difficulty
