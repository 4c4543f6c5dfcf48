"""Pathologist annotations as XML: Aperio ImageScope and ASAP (the CAMELYON format).

Both give polygons in level-0 pixel coordinates, read with the same corner-origin convention
as QuPath GeoJSON, so the same polygons give the same mask in every format.

- **ImageScope** (``Annotations/Annotation/Regions/Region/Vertices/Vertex``): a region with
  ``NegativeROA="1"`` is a hole cut out of the other regions of its annotation layer. The class
  is the layer's ``Name``, else the value (or the name) of its first attribute. Rectangles and
  polygons are read from their vertices, ellipses (``Type="2"``) from their bounding box; rulers
  and arrows, which enclose no area, are skipped with a note.
- **ASAP** (``ASAP_Annotations/Annotations/Annotation/Coordinates/Coordinate``, ordered by
  ``Order``): the class is the annotation's ``PartOfGroup``; a group nested in another group
  (``AnnotationGroups/Group/@PartOfGroup``) is written ``"Parent: Child"``, so it counts as
  cancer when its parent does. Annotations of the groups ``_2`` or ``Exclusion`` (the CAMELYON
  convention for non-tumour areas inside tumour) are holes cut out of every other annotation.
  Dots and point sets enclose no area and are skipped with a note.

XML is parsed with ``defusedxml``: documents with a DTD or entities (XXE, "billion laughs")
are refused.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
import shapely
from defusedxml import DefusedXmlException
from shapely import affinity
from shapely.geometry.base import BaseGeometry

from bus_seg.errors import InputError

IMAGESCOPE_ROOT = "Annotations"
ASAP_ROOT = "ASAP_Annotations"
EXCLUSION_GROUPS = frozenset({"_2", "exclusion"})
"""ASAP groups whose annotations are holes (compared case-insensitively)."""

_ELLIPSE = "2"
_LINE_TYPES = {"3": "arrow", "4": "ruler"}
_POINT_TYPES = {"dot", "pointset"}
_ELLIPSE_SEGMENTS = 64

Region = tuple[str, str | None, BaseGeometry]
"""``(where, class name or None, polygon)`` of one annotated region."""


def read_xml_regions(path: Path) -> tuple[str, list[Region], Counter[str]]:
    """Parse an ImageScope or ASAP XML file.

    Returns:
        ``(kind, regions, notes)``: ``"imagescope"`` or ``"asap"``, the regions with their
        holes cut out, and counts of what was skipped or repaired.

    Raises:
        InputError: the file is not well-formed or unsafe XML, is neither format, or holds no
            region with an area.
    """
    root = _parse(path)
    notes: Counter[str] = Counter()
    if root.tag == IMAGESCOPE_ROOT:
        kind, regions = "imagescope", _imagescope_regions(root, path, notes)
    elif root.tag == ASAP_ROOT:
        kind, regions = "asap", _asap_regions(root, path, notes)
    else:
        raise InputError(
            f"XML root element <{root.tag}> is neither an Aperio ImageScope annotation "
            f"(<{IMAGESCOPE_ROOT}>) nor an ASAP annotation (<{ASAP_ROOT}>); export the "
            "annotation from ImageScope, ASAP or QuPath (GeoJSON)",
            path,
        )
    if not regions:
        skipped = "; ".join(f"{count} {what}" for what, count in notes.items())
        raise InputError(
            f"the {'ImageScope' if kind == 'imagescope' else 'ASAP'} XML holds no region with "
            f"an area{f' ({skipped})' if skipped else ''}; export the annotation again with its "
            "polygons, or give a label image",
            path,
        )
    return kind, regions, notes


def _parse(path: Path) -> Element:
    try:
        return safe_xml.parse(path, forbid_dtd=True).getroot()
    except DefusedXmlException as err:
        raise InputError(
            f"the XML declares a DTD or entities ({type(err).__name__}), which bus_seg refuses "
            "for safety; export the annotation again from ImageScope or ASAP",
            path,
        ) from None
    except ParseError as err:
        raise InputError(
            f"not well-formed XML ({err}); is the file complete? Export the annotation again",
            path,
        ) from None


def _imagescope_regions(root: Element, path: Path, notes: Counter[str]) -> list[Region]:
    regions: list[Region] = []
    for number, layer in enumerate(root.findall("Annotation")):
        name = _imagescope_class(layer)
        positive, negative = [], []
        for region in layer.findall("Regions/Region"):
            kind = region.get("Type", "0")
            if kind in _LINE_TYPES:
                notes[f"ImageScope {_LINE_TYPES[kind]} regions skipped (no area)"] += 1
                continue
            points = [
                (_number(v.get("X"), path), _number(v.get("Y"), path))
                for v in region.findall("Vertices/Vertex")
            ]
            polygon = _ellipse(points) if kind == _ELLIPSE else _polygon(points, notes)
            if polygon is None:
                notes["ImageScope regions with fewer than 3 vertices skipped"] += 1
                continue
            (negative if region.get("NegativeROA", "0") == "1" else positive).append(polygon)
        if positive:
            area = shapely.union_all(positive)
            if negative:
                area = area.difference(shapely.union_all(negative))
            regions.append((f"annotation layer {number} ({name or 'no name'})", name, area))
        elif negative:
            notes["ImageScope layers with only negative (hole) regions skipped"] += 1
    return regions


def _imagescope_class(layer: Element) -> str | None:
    """The layer's ``Name``, else its first attribute's value (or name)."""
    name = (layer.get("Name") or "").strip()
    if name:
        return name
    for attribute in layer.findall("Attributes/Attribute"):
        for key in ("Value", "Name"):
            text = (attribute.get(key) or "").strip()
            if text:
                return text
    return None


def _asap_regions(root: Element, path: Path, notes: Counter[str]) -> list[Region]:
    parents = {
        group.get("Name", ""): group.get("PartOfGroup", "None")
        for group in root.findall("AnnotationGroups/Group")
    }
    regions: list[Region] = []
    holes: list[BaseGeometry] = []
    for number, annotation in enumerate(root.findall("Annotations/Annotation")):
        kind = (annotation.get("Type") or "Polygon").strip().lower()
        if kind in _POINT_TYPES:
            notes[f"ASAP {kind} annotations skipped (no area)"] += 1
            continue
        coordinates = sorted(
            annotation.findall("Coordinates/Coordinate"),
            key=lambda c: _number(c.get("Order", "0"), path),
        )
        points = [(_number(c.get("X"), path), _number(c.get("Y"), path)) for c in coordinates]
        polygon = _polygon(points, notes)
        if polygon is None:
            notes["ASAP annotations with fewer than 3 coordinates skipped"] += 1
            continue
        group = annotation.get("PartOfGroup", "None")
        if _group_chain(group, parents) & EXCLUSION_GROUPS:
            holes.append(polygon)
            continue
        name = _group_name(group, parents)
        label = f"annotation {number} ({annotation.get('Name') or 'no name'})"
        regions.append((label, name, polygon))
    if holes:
        cut = shapely.union_all(holes)
        regions = [(label, name, polygon.difference(cut)) for label, name, polygon in regions]
        regions = [region for region in regions if not region[2].is_empty]
    return regions


def _group_name(group: str, parents: dict[str, str]) -> str | None:
    """``"Parent: Child"`` for a nested group, the group itself, or None for ``"None"``."""
    names: list[str] = []
    while group and group != "None" and group not in names:
        names.insert(0, group)
        group = parents.get(group, "None")
    return ": ".join(names) or None


def _group_chain(group: str, parents: dict[str, str]) -> set[str]:
    name = _group_name(group, parents)
    return {part.strip().casefold() for part in name.split(":")} if name else set()


def _polygon(points: list[tuple[float, float]], notes: Counter[str]) -> BaseGeometry | None:
    if len(points) < 3:
        return None
    polygon = shapely.Polygon(points)
    if not polygon.is_valid:
        polygon = shapely.make_valid(polygon, method="structure")
        notes["invalid polygons (e.g. self-intersecting) repaired"] += 1
    return polygon


def _ellipse(points: list[tuple[float, float]]) -> BaseGeometry | None:
    """The ellipse inscribed in the bounding box of an ImageScope ellipse's vertices."""
    if len(points) < 2:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    circle = shapely.Point(0, 0).buffer(1.0, quad_segs=_ELLIPSE_SEGMENTS // 4)
    scaled = affinity.scale(circle, (max(xs) - min(xs)) / 2, (max(ys) - min(ys)) / 2, origin=(0, 0))
    return affinity.translate(scaled, (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2)


def _number(text: str | None, path: Path) -> float:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(
            f"a vertex coordinate {text!r} is not a number; export the annotation again", path
        ) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InputError(f"a vertex coordinate is {text!r}; export the annotation again", path)
    return value
