"""Random and malformed GeoJSON: the annotation reader raises only InputError, and what it reads
from valid polygons (holes, MultiPolygons, invalid rings, partly off the slide) is the cancer area
shapely finds, clipped to the slide (a feature wholly off the slide is an InputError)."""

from __future__ import annotations

import json
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
import shapely
from hypothesis import assume, given

from bus_seg.errors import InputError
from bus_seg.io.annotations import read_annotation
from bus_seg.labels import DEFAULT_CANCER_CLASSES

SLIDE = (200, 300)  # level-0 (height, width)
CANCER = "Tumor"

json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers()
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
coordinate = st.floats(-50, 350, allow_nan=False)
point = st.lists(coordinate, min_size=2, max_size=2)


@st.composite
def ring(draw: st.DrawFn) -> list[list[float]]:
    """A closed ring of 3-7 random vertices (may self-intersect), sometimes left open or short."""
    vertices = draw(st.lists(point, min_size=1, max_size=7))
    closed = draw(st.booleans()) or len(vertices) < 3
    return vertices + vertices[:1] if closed else vertices


@st.composite
def box_with_hole(draw: st.DrawFn) -> list[list[list[float]]]:
    """A rectangle on (or partly off) the slide with a rectangular hole inside it."""
    x0, y0 = draw(st.floats(-20, 250)), draw(st.floats(-20, 160))
    w, h = draw(st.floats(20, 120)), draw(st.floats(20, 100))
    outer = [[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h], [x0, y0]]
    hx, hy = x0 + w * 0.25, y0 + h * 0.25
    hole = [[hx, hy], [hx + w / 2, hy], [hx + w / 2, hy + h / 2], [hx, hy + h / 2], [hx, hy]]
    return [outer, hole] if draw(st.booleans()) else [outer]


polygon = st.one_of(box_with_hole(), st.lists(ring(), min_size=1, max_size=3))
geometry = st.one_of(
    polygon.map(lambda rings: {"type": "Polygon", "coordinates": rings}),
    st.lists(polygon, min_size=1, max_size=3).map(
        lambda parts: {"type": "MultiPolygon", "coordinates": parts}
    ),
    st.sampled_from(
        [
            None,
            {"type": "Point", "coordinates": [5, 5]},
            {"type": "LineString", "coordinates": [[0, 0], [9, 9]]},
        ]
    ),
    st.dictionaries(st.sampled_from(["type", "coordinates"]), json_value, max_size=2),
)
classification = st.one_of(
    st.none(),
    st.sampled_from([CANCER, "tumor", "Tumor: Positive", "Stroma", "", "DCIS"]),
    st.sampled_from([CANCER, "Stroma"]).map(lambda name: {"name": name, "color": [200, 0, 0]}),
    st.just({"names": ["Tumor", "Positive"]}),
    json_value,
)
feature = st.builds(
    lambda g, c: {"type": "Feature", "geometry": g, "properties": {"classification": c}},
    geometry,
    classification,
)
document = st.one_of(
    st.lists(feature, max_size=4).map(lambda fs: {"type": "FeatureCollection", "features": fs}),
    st.lists(feature, max_size=4),
    feature,
    json_value,
)


def write(folder: Path, data: object | bytes, name: str = "annotation.geojson") -> Path:
    path = folder / name
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return path


@given(data=st.one_of(document, st.binary(max_size=200)))
def test_any_json_or_bytes_gives_an_annotation_or_an_input_error(
    tmp_path_factory: pytest.TempPathFactory, data: object
) -> None:
    path = write(tmp_path_factory.mktemp("geojson"), data)
    try:
        annotation = read_annotation(path, SLIDE)
    except InputError as err:
        assert str(path) in str(err)
        return
    for geometry in (annotation.cancer, annotation.other):
        if geometry is not None:
            assert geometry.geom_type in ("Polygon", "MultiPolygon") and not geometry.is_empty
            assert shapely.box(0, 0, SLIDE[1], SLIDE[0]).buffer(1e-6).contains(geometry)
    mask = annotation.cancer_mask((20, 30), downsample=10.0)
    assert mask.shape == (20, 30) and mask.dtype == bool


@given(
    parts=st.lists(box_with_hole(), min_size=1, max_size=3),
    multi=st.booleans(),
    name=st.sampled_from(DEFAULT_CANCER_CLASSES),
)
def test_cancer_polygons_with_holes_read_as_the_clipped_union(
    tmp_path_factory: pytest.TempPathFactory, parts: list, multi: bool, name: str
) -> None:
    slide = shapely.box(0, 0, SLIDE[1], SLIDE[0])
    truth = shapely.union_all([shapely.Polygon(p[0], p[1:]) for p in parts]).intersection(slide)
    assume(truth.area > 1.0)
    if multi:
        geometries = [{"type": "MultiPolygon", "coordinates": parts}]
    else:
        geometries = [{"type": "Polygon", "coordinates": p} for p in parts]
    features = [
        {"type": "Feature", "geometry": g, "properties": {"classification": {"name": name.upper()}}}
        for g in geometries
    ]
    path = write(
        tmp_path_factory.mktemp("geojson"), {"type": "FeatureCollection", "features": features}
    )
    shapes = [shapely.make_valid(shapely.geometry.shape(g), method="structure") for g in geometries]
    if any(shape.intersection(slide).area == 0 for shape in shapes):
        with pytest.raises(InputError, match="annotation lies outside the WSI"):
            read_annotation(path, SLIDE)  # a feature wholly off the slide: wrong level or slide
        return
    annotation = read_annotation(path, SLIDE)
    assert annotation.cancer is not None
    assert annotation.cancer.symmetric_difference(truth).area < 1e-6 * max(truth.area, 1.0) + 1e-6
    mask = annotation.cancer_mask(SLIDE)
    centres = shapely.points(np.argwhere(np.ones(SLIDE, dtype=bool))[:, ::-1] + 0.5)
    inside = shapely.contains_xy(truth, shapely.get_x(centres), shapely.get_y(centres)).reshape(
        SLIDE
    )
    boundary = shapely.dwithin(truth.boundary, centres, 1e-6).reshape(SLIDE)
    assert np.array_equal(mask[~boundary], inside[~boundary]), (
        "pixel centres inside the polygons, holes excluded"
    )
