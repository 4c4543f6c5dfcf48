"""The pathologist's annotation of a simulated slide: QuPath GeoJSON or a level-0 label image.

Polygons trace the cancer raster's outline (marching squares through the midpoints between
pixel centres), so a pixel-centre rasterisation of them gives the raster back. Vertices are
level-0 pixel coordinates with QuPath's corner origin (the centre of pixel (0, 0) is (0.5, 0.5)).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from skimage import measure

from bus_seg.io.atomic import write_text_atomic
from bus_seg.io.images import write_png

CLASS_COLOURS = {"Stroma": [150, 200, 150]}
_CANCER_COLOUR = [200, 0, 0]


def mask_polygons(
    mask: np.ndarray, simplify_px: float = 0.4, offset: tuple[int, int] = (0, 0)
) -> BaseGeometry:
    """Polygons (with holes) of a boolean mask in QuPath corner coordinates.

    Args:
        mask: H×W bool.
        simplify_px: tolerance of the vertex reduction (topology kept).
        offset: ``(col, row)`` of the mask's top-left pixel in the slide (for crops).

    Returns:
        A (possibly empty) Polygon or MultiPolygon.
    """
    padded = np.pad(mask.astype(np.uint8), 1)
    rings = []
    for contour in measure.find_contours(padded, 0.5):
        if len(contour) < 4:
            continue
        # (row, col) of the padded array, centres at integers -> corner coordinates.
        x = contour[:, 1] - 0.5 + offset[0]
        y = contour[:, 0] - 0.5 + offset[1]
        ring = shapely.LinearRing(np.column_stack([x, y]))
        polygon = shapely.Polygon(ring)
        if polygon.area > 0:
            rings.append(polygon if polygon.is_valid else shapely.make_valid(polygon))
    if not rings:
        return shapely.Polygon()
    # Even nesting depth = outline, odd = hole: the symmetric difference of all rings.
    rings.sort(key=lambda p: p.area, reverse=True)
    shape = shapely.Polygon()
    for polygon in rings:
        shape = shape.symmetric_difference(polygon)
    shape = shape.simplify(simplify_px, preserve_topology=True)
    parts = [p for p in shapely.get_parts(shape) if p.geom_type == "Polygon" and p.area > 0]
    return (
        shapely.MultiPolygon(parts)
        if len(parts) > 1
        else (parts[0] if parts else shapely.Polygon())
    )


def geojson_features(
    geometry: BaseGeometry,
    class_name: str,
    rng: np.random.Generator,
    colour: list[int] | None = None,
) -> list[dict]:
    """QuPath-style annotation features, one per polygon, with reproducible ids."""
    features = []
    for polygon in shapely.get_parts(geometry):
        if polygon.is_empty:
            continue
        features.append(
            {
                "type": "Feature",
                "id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
                "geometry": json.loads(shapely.to_geojson(shapely.set_precision(polygon, 0.01))),
                "properties": {
                    "objectType": "annotation",
                    "classification": {
                        "name": class_name,
                        "color": colour or CLASS_COLOURS.get(class_name, _CANCER_COLOUR),
                    },
                },
            }
        )
    return features


def write_geojson(path: str | Path, features: list[dict]) -> Path:
    """Write a QuPath GeoJSON FeatureCollection atomically."""
    document = {"type": "FeatureCollection", "features": features}
    return write_text_atomic(path, json.dumps(document, separators=(",", ":")) + "\n")


def write_label_image(path: str | Path, cancer: np.ndarray, value: int = 1) -> Path:
    """Write a level-0 label image (0 non-cancer, ``value`` cancer) as an 8-bit PNG."""
    return write_png(path, np.where(cancer, np.uint8(value), np.uint8(0)))
