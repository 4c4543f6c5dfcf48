"""Pathologist annotations of a WSI: QuPath GeoJSON, ImageScope or ASAP XML, or a label image.

The format is recognised by content (a label image by its PNG/TIFF signature, GeoJSON by its
leading ``{``/``[``, XML by ``<`` and its root element), else by suffix. Polygon vertices are
level-0 pixel coordinates with QuPath's corner origin (the centre of pixel (0, 0) is
(0.5, 0.5)), in every format. :meth:`Annotation.cancer_mask` samples any kind at the pixel
centres of any pyramid level or region. One list of cancer classes applies to every format.

From a QuPath GeoJSON only ``annotation`` objects (and features without an ``objectType``) are
read by default: detections and cells, exported with "all objects", are skipped with a note.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
import tifffile
from PIL import Image
from shapely.geometry.base import BaseGeometry

from bus_seg.errors import InputError
from bus_seg.io.annotation_xml import read_xml_regions
from bus_seg.io.files import require_file
from bus_seg.io.images import read_array
from bus_seg.io.pixel_budget import check_pixel_budget
from bus_seg.io.reader_options import DEFAULT_OBJECT_TYPES
from bus_seg.labels import DEFAULT_CANCER_CLASSES

GEOJSON_SUFFIXES = {".geojson", ".json"}
XML_SUFFIXES = {".xml"}
_LABEL_IMAGE_SIGNATURES = (b"\x89PNG", b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_QUPATH_LEGACY_TYPES = {  # QuPath 0.2 wrote the object type as the feature's id
    "PathAnnotationObject": "annotation",
    "PathDetectionObject": "detection",
    "PathCellObject": "cell",
    "PathTileObject": "tile",
    "TMACoreObject": "tma_core",
}
LABEL_IMAGE_SUFFIXES = {".png", ".tif", ".tiff"}
_POLYGONAL = {"Polygon", "MultiPolygon"}


@dataclass
class Annotation:
    """What the pathologist marked on one WSI.

    Attributes:
        path: the annotation file.
        kind: ``"geojson"``, ``"imagescope"``, ``"asap"`` or ``"label_image"``.
        cancer: union of the cancer polygons in level-0 pixels (corner origin); None when there
            are none or for a label image.
        other: union of the polygons of the other classes (for QC pictures), or None.
        warnings: notes for the report (skipped, repaired, clipped or unclassified features).
        labels: the level-0 label image (possibly memory-mapped) for ``"label_image"``, else None.
    """

    path: Path
    kind: str
    cancer: BaseGeometry | None
    other: BaseGeometry | None
    warnings: list[str] = field(default_factory=list)
    labels: np.ndarray | None = field(default=None, repr=False)

    @property
    def has_cancer(self) -> bool:
        """Whether any cancer is annotated."""
        if self.labels is not None:
            return bool(_any_nonzero(self.labels))
        return self.cancer is not None and not self.cancer.is_empty

    def cancer_mask(
        self,
        shape: tuple[int, int],
        downsample: float = 1.0,
        offset: tuple[float, float] = (0.0, 0.0),
    ) -> np.ndarray:
        """Boolean H×W cancer mask sampled at the pixel centres of a level or region.

        Pixel ``(r, c)`` is cancer iff its centre, in level-0 corner coordinates
        ``((c + 0.5) * downsample + offset[0], (r + 0.5) * downsample + offset[1])``, lies
        inside a cancer polygon (holes excluded), or, for a label image, iff the level-0 label
        pixel holding that centre is non-zero (nearest-neighbour sampling).

        Args:
            shape: ``(height, width)`` of the mask.
            downsample: level-0 pixels per mask pixel.
            offset: ``(x, y)`` of the mask's top-left corner in level-0 pixels (ROI origin).
        """
        if self.labels is not None:
            return _sample_labels(self.labels, shape, downsample, offset)
        if self.cancer is None:
            return np.zeros(shape, dtype=bool)
        return rasterize(self.cancer, shape, downsample, offset)


def read_annotation(
    path: str | Path,
    level0_shape: tuple[int, int],
    cancer_classes: Sequence[str] = DEFAULT_CANCER_CLASSES,
    object_types: Sequence[str] = DEFAULT_OBJECT_TYPES,
) -> Annotation:
    """Read a QuPath GeoJSON, an ImageScope or ASAP XML, or a level-0 label image.

    Args:
        path: the annotation, recognised by content (else by suffix): QuPath GeoJSON,
            Aperio ImageScope XML, ASAP XML, or a PNG/TIFF label image.
        level0_shape: ``(height, width)`` of WSI level 0.
        cancer_classes: class names that count as cancer (case-insensitive; a derived class
            such as ``"Tumor: Positive"`` or a nested ASAP group counts when its base does).
        object_types: QuPath object types read from a GeoJSON (case-insensitive); features
            without an ``objectType`` are always read.

    Raises:
        InputError: the file is missing, malformed, of the wrong size, lies outside the WSI,
            or is an XML without regions.
    """
    path = Path(path)
    require_file(path, "annotation file", "check annotation_path in the manifest")
    kind = _sniff(path)
    if kind == "label_image":
        return _read_label_image(path, level0_shape)
    if kind == "geojson":
        return _read_geojson(path, level0_shape, cancer_classes, object_types)
    if kind == "xml":
        xml_kind, regions, notes = read_xml_regions(path)
        return _assemble(path, xml_kind, regions, notes, level0_shape, cancer_classes)
    raise InputError(
        f"unknown annotation format {path.suffix.lower()!r}; give a QuPath GeoJSON "
        "(.geojson/.json), an ImageScope or ASAP XML, or a label image (.png/.tif/.tiff) of the "
        "WSI's level-0 size",
        path,
    )


def rasterize(
    geometry: BaseGeometry,
    shape: tuple[int, int],
    downsample: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Boolean H×W mask of the pixels whose centres lie inside polygonal ``geometry``.

    Pixel centres follow :meth:`Annotation.cancer_mask`. A scanline fill with the even-odd
    rule over all rings, so holes subtract; the polygons must not overlap (a union does not).
    A centre exactly on a vertical edge counts as inside on the left edge and outside on the
    right one; on a horizontal edge, inside on the top edge and outside on the bottom one.
    Cost grows with the ring lengths and the mask rows they cross, not with the mask area.
    """
    height, width = shape
    rings = shapely.get_rings(shapely.get_parts(geometry))
    coords, ring_index = shapely.get_coordinates(rings, return_index=True)
    if len(coords) == 0:
        return np.zeros(shape, dtype=bool)
    # Level-0 corner coordinates -> mask pixel coordinates with centres at integers.
    cols = (coords[:, 0] - offset[0]) / downsample - 0.5
    rows = (coords[:, 1] - offset[1]) / downsample - 0.5
    same_ring = ring_index[:-1] == ring_index[1:]  # consecutive vertices of one ring = an edge
    x0, y0 = cols[:-1][same_ring], rows[:-1][same_ring]
    x1, y1 = cols[1:][same_ring], rows[1:][same_ring]
    # An edge crosses the centre line of row r when min(y) <= r < max(y) (half-open: shared
    # vertices are counted once, horizontal edges never).
    first = np.clip(np.ceil(np.minimum(y0, y1)), 0, height).astype(np.int64)
    stop = np.clip(np.ceil(np.maximum(y0, y1)), 0, height).astype(np.int64)
    counts = np.maximum(stop - first, 0)
    edge = np.repeat(np.arange(len(counts)), counts)
    if len(edge) == 0:
        return np.zeros(shape, dtype=bool)
    row = first[edge] + np.arange(len(edge)) - np.repeat(np.cumsum(counts) - counts, counts)
    x_cross = x0[edge] + (row - y0[edge]) * (x1[edge] - x0[edge]) / (y1[edge] - y0[edge])
    order = np.lexsort((x_cross, row))
    row, x_cross = row[order], x_cross[order]
    # Each row holds an even number of crossings; consecutive pairs bound the inside spans,
    # which cover the columns c with left <= c < right.
    span_row = row[0::2]
    start = np.clip(np.ceil(x_cross[0::2]), 0, width).astype(np.int64)
    end = np.clip(np.ceil(x_cross[1::2]), 0, width).astype(np.int64)
    keep = start < end
    span_row, start, end = span_row[keep], start[keep], end[keep]
    steps = np.zeros((height, width + 1), dtype=np.int8)
    np.add.at(steps, (span_row, start), 1)
    np.add.at(steps, (span_row, end), -1)
    inside = np.cumsum(steps[:, :width], axis=1, dtype=np.int8)
    return inside > 0


def _sniff(path: Path) -> str | None:
    """``"label_image"``, ``"geojson"`` or ``"xml"`` by the file's first bytes, else suffix."""
    with path.open("rb") as handle:
        head = handle.read(64)
    if head.startswith(_LABEL_IMAGE_SIGNATURES):
        return "label_image"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text[:1] in (b"{", b"["):
        return "geojson"
    if text[:1] == b"<":
        return "xml"
    suffix = path.suffix.lower()
    if suffix in LABEL_IMAGE_SUFFIXES:
        return "label_image"
    if suffix in GEOJSON_SUFFIXES:
        return "geojson"
    return "xml" if suffix in XML_SUFFIXES else None


def _read_geojson(
    path: Path,
    level0_shape: tuple[int, int],
    cancer_classes: Sequence[str],
    object_types: Sequence[str],
) -> Annotation:
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise InputError(
            f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); export the "
            "annotation again from QuPath (File > Export objects as GeoJSON)",
            path,
        ) from err
    except UnicodeDecodeError as err:
        raise InputError(
            f"not a UTF-8 text file ({err}); give a QuPath GeoJSON export or a label image", path
        ) from err
    except RecursionError:
        raise InputError(
            "the JSON is nested too deeply to be an annotation (a corrupt or crafted file); "
            "export the annotation again from QuPath",
            path,
        ) from None
    features = _features(document, path)
    kept_types = {name.strip().casefold() for name in object_types}
    notes: Counter[str] = Counter()
    regions: list[tuple[str, str | None, BaseGeometry]] = []
    for number, feature in enumerate(features):
        object_type = _object_type(feature)
        if object_type is not None and object_type.casefold() not in kept_types:
            notes[
                f"QuPath {object_type} objects skipped (only {', '.join(object_types) or 'none'} "
                "read; add the type to registration.annotation_object_types to read them)"
            ] += 1
            continue
        geometry = _polygonal_geometry(feature, number, path, notes)
        if geometry is not None:
            regions.append((f"feature {number}", _class_name(feature), geometry))
    if not features:
        return Annotation(
            path,
            "geojson",
            None,
            None,
            ["the annotation holds no features: the whole core counts as non-cancer"],
        )
    return _assemble(path, "geojson", regions, notes, level0_shape, cancer_classes)


def _assemble(
    path: Path,
    kind: str,
    regions: list[tuple[str, str | None, BaseGeometry]],
    notes: Counter[str],
    level0_shape: tuple[int, int],
    cancer_classes: Sequence[str],
) -> Annotation:
    """Clip ``(where, class, polygon)`` regions to the slide and union them by cancer class."""
    wanted = {name.strip().casefold() for name in cancer_classes}
    height, width = level0_shape
    slide = shapely.box(0, 0, width, height)
    cancer, other = [], []
    found: set[str] = set()
    for where, name, geometry in regions:
        if not geometry.intersects(slide) or geometry.intersection(slide).area == 0:
            xmin, ymin, xmax, ymax = geometry.bounds
            raise InputError(
                f"{where}: annotation lies outside the WSI (level-0 size "
                f"{width}×{height}): are the coordinates at level 0? (its bounds are x "
                f"{xmin:g}–{xmax:g}, y {ymin:g}–{ymax:g})",
                path,
            )
        if not geometry.within(slide):
            geometry = _polygonal_part(geometry.intersection(slide))
            notes["polygons partly outside the WSI, clipped to it"] += 1
        if name is None:
            notes["features without a classification, counted as non-cancer"] += 1
        else:
            found.add(name)
        (cancer if _is_cancer(name, wanted) else other).append(geometry)
    warnings = [f"{count} {what}" for what, count in notes.items()]
    if not cancer:
        warnings.append(
            f"no feature has a cancer class ({', '.join(cancer_classes)}); classes found: "
            f"{', '.join(sorted(found)) or 'none'}; the whole core counts as non-cancer"
        )
    return Annotation(path, kind, _union(cancer), _union(other), warnings)


def _object_type(feature: dict) -> str | None:
    """The QuPath object type (``properties.objectType``, or a QuPath 0.2 feature ``id``)."""
    properties = feature.get("properties")
    value = properties.get("objectType") if isinstance(properties, dict) else None
    if isinstance(value, str) and value.strip():
        return value.strip()
    legacy = feature.get("id")
    return _QUPATH_LEGACY_TYPES.get(legacy) if isinstance(legacy, str) else None


def _features(document: object, path: Path) -> list[dict]:
    """The features of a FeatureCollection, a bare list of features or a single Feature."""
    if isinstance(document, dict) and document.get("type") == "FeatureCollection":
        features = document.get("features")
    elif isinstance(document, dict) and document.get("type") == "Feature":
        features = [document]
    else:
        features = document
    if not isinstance(features, list) or not all(
        isinstance(f, dict) and f.get("type") == "Feature" for f in features
    ):
        raise InputError(
            "not a GeoJSON FeatureCollection, Feature or list of Features; export the "
            "annotation from QuPath with File > Export objects as GeoJSON",
            path,
        )
    return features


def _polygonal_geometry(
    feature: dict, number: int, path: Path, notes: Counter[str]
) -> BaseGeometry | None:
    """A feature's polygons, repaired if invalid; None (with a note) for other geometry types.

    A GeometryCollection contributes its polygonal members.
    """
    spec = feature.get("geometry")
    kind = spec.get("type") if isinstance(spec, dict) else None
    kind = kind if isinstance(kind, str) else None
    if kind not in _POLYGONAL and kind != "GeometryCollection":
        notes[f"features with geometry {kind or 'null'} skipped (only Polygon/MultiPolygon)"] += 1
        return None
    try:
        geometry = shapely.geometry.shape(spec)
    except (ValueError, TypeError, KeyError, IndexError, shapely.errors.ShapelyError) as err:
        raise InputError(
            f"feature {number}: malformed {kind} coordinates ({err}); export the annotation "
            "again from QuPath",
            path,
        ) from err
    except RecursionError:
        raise InputError(
            f"feature {number}: the {kind} is nested too deeply (a corrupt or crafted file); "
            "export the annotation again from QuPath",
            path,
        ) from None
    if not np.isfinite(shapely.get_coordinates(geometry)).all():
        raise InputError(
            f"feature {number}: the {kind} has vertices that are not finite numbers (NaN or "
            "Infinity); a repair would make another shape, so export the annotation again",
            path,
        )
    if not geometry.is_valid:
        # "structure": overlapping parts are unioned and holes subtracted (the default
        # "linework" repair would drop the overlap of two parts, or keep a hole's part outside
        # its shell).
        geometry = shapely.make_valid(geometry, method="structure")
        notes["invalid polygons (e.g. self-intersecting) repaired"] += 1
    if kind == "GeometryCollection" and any(
        part.geom_type not in _POLYGONAL for part in shapely.get_parts(geometry)
    ):
        notes["non-polygon members of GeometryCollections skipped"] += 1
    polygons = _polygonal_part(geometry)
    if polygons.is_empty:
        notes[f"features with no polygon area skipped ({kind})"] += 1
        return None
    return polygons


def _polygonal_part(geometry: BaseGeometry) -> BaseGeometry:
    """The polygons of a geometry (make_valid or clipping may add lines or points)."""
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type in _POLYGONAL]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _class_name(feature: dict) -> str | None:
    """The feature's QuPath class as ``"Base: Derived"``, or None if unclassified.

    Accepts every form QuPath writes: ``{"name": ...}``, ``{"names": [...]}`` for derived
    classes (v0.4+), ``{"name": ..., "parentClass": {...}}`` (before v0.4) and a bare string.
    """
    properties = feature.get("properties")
    classification = properties.get("classification") if isinstance(properties, dict) else None
    if isinstance(classification, str):
        return classification or None
    names: list[str] = []
    while isinstance(classification, dict):
        if isinstance(classification.get("names"), list):
            names[:0] = [str(name) for name in classification["names"]]
        elif isinstance(classification.get("name"), str):
            names.insert(0, classification["name"])
        classification = classification.get("parentClass")
    return ": ".join(names) or None


def _is_cancer(name: str | None, wanted: set[str]) -> bool:
    if name is None:
        return False
    name = name.strip().casefold()
    return name in wanted or name.split(":", 1)[0].strip() in wanted


def _union(geometries: list[BaseGeometry]) -> BaseGeometry | None:
    if not geometries:
        return None
    union = _polygonal_part(shapely.union_all(geometries))
    return None if union.is_empty else union


def _read_label_image(path: Path, level0_shape: tuple[int, int]) -> Annotation:
    labels = _load_labels(path)
    warnings = []
    if labels.ndim == 3:
        warnings.append(
            f"label image has {labels.shape[2]} channels; only the first is used "
            "(0 = non-cancer, other values = cancer)"
        )
        labels = labels[:, :, 0]
    if labels.ndim != 2:
        raise InputError(
            f"label image must be a 2-D image, got shape {labels.shape}; save one plane", path
        )
    if labels.shape != tuple(level0_shape):
        (h, w), (wsi_h, wsi_w) = labels.shape, level0_shape
        raise InputError(
            f"label image is {w}×{h} px but WSI level 0 is {wsi_w}×{wsi_h} px; export the "
            "label image at full resolution (downsample 1)",
            path,
        )
    return Annotation(path, "label_image", None, None, warnings, labels)


def _load_labels(path: Path) -> np.ndarray:
    """The label image, memory-mapped when it is an uncompressed TIFF."""
    if path.suffix.lower() in (".tif", ".tiff"):
        try:
            return tifffile.memmap(path, mode="r")
        except (ValueError, tifffile.TiffFileError, OSError):
            pass  # compressed or tiled: decode it below
        try:
            with tifffile.TiffFile(path) as tif:
                level = tif.series[0].levels[0]
                check_pixel_budget(path, "the label image", *level.shape)
                return level.asarray()
        except (
            tifffile.TiffFileError,
            OSError,
            ValueError,
            RuntimeError,
            KeyError,
            IndexError,
        ) as err:
            raise InputError(
                f"cannot read the label image ({type(err).__name__}: {err}); is the file "
                "complete? Export it again",
                path,
            ) from err
    try:
        return read_array(path)
    except Image.DecompressionBombError as err:
        raise InputError(
            f"label image is too large for PIL ({err}); save it as a TIFF instead", path
        ) from err


def _sample_labels(
    labels: np.ndarray, shape: tuple[int, int], downsample: float, offset: tuple[float, float]
) -> np.ndarray:
    """Nearest-neighbour sample of a level-0 label image at a level's pixel centres."""
    height, width = shape
    rows = np.floor((np.arange(height) + 0.5) * downsample + offset[1]).astype(np.int64)
    cols = np.floor((np.arange(width) + 0.5) * downsample + offset[0]).astype(np.int64)
    row_ok = (rows >= 0) & (rows < labels.shape[0])
    col_ok = (cols >= 0) & (cols < labels.shape[1])
    mask = np.zeros(shape, dtype=bool)
    mask[np.ix_(row_ok, col_ok)] = labels[np.ix_(rows[row_ok], cols[col_ok])] != 0
    return mask


def _any_nonzero(labels: np.ndarray, rows_per_chunk: int = 4096) -> bool:
    """Whether a (possibly memory-mapped) label image has any non-zero pixel, chunk by chunk."""
    return any(
        np.any(labels[top : top + rows_per_chunk])
        for top in range(0, labels.shape[0], rows_per_chunk)
    )
