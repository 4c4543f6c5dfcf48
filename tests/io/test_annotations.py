"""Tests of bus_seg.io.annotations: QuPath GeoJSON, label images, cancer masks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import shapely
import tifffile
from PIL import Image

from bus_seg.errors import InputError
from bus_seg.io.annotations import Annotation, rasterize, read_annotation

SLIDE = (100, 200)  # level-0 (height, width)


def square(x: float, y: float, size: float) -> list[list[float]]:
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]


def feature(coordinates, kind: str = "Polygon", name: str | None = "Tumor", **props) -> dict:
    properties = dict(props)
    if name is not None:
        properties["classification"] = {"name": name, "color": [200, 0, 0]}
    return {
        "type": "Feature",
        "geometry": {"type": kind, "coordinates": coordinates},
        "properties": properties,
    }


def write_json(tmp_path: Path, document, name: str = "annotation.geojson") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def collection(*features: dict) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def read(tmp_path: Path, document, **kwargs) -> Annotation:
    return read_annotation(write_json(tmp_path, document), SLIDE, **kwargs)


def centre_oracle(geometry, shape, downsample=1.0, offset=(0.0, 0.0)) -> np.ndarray:
    """Per-pixel shapely test of the documented pixel-centre rule."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    xs = (cols + 0.5) * downsample + offset[0]
    ys = (rows + 0.5) * downsample + offset[1]
    return shapely.contains_xy(geometry, xs, ys)


def test_square_mask_is_exactly_the_covered_pixel_centres(tmp_path: Path) -> None:
    annotation = read(tmp_path, collection(feature([square(2, 3, 4)])))
    assert annotation.kind == "geojson" and annotation.has_cancer and annotation.warnings == []
    mask = annotation.cancer_mask((10, 10))
    expected = np.zeros((10, 10), bool)
    expected[3:7, 2:6] = True  # centres 2.5..5.5 in x, 3.5..6.5 in y
    np.testing.assert_array_equal(mask, expected)
    # The same square seen from a region whose origin is its corner.
    np.testing.assert_array_equal(
        annotation.cancer_mask((5, 5), offset=(2, 3)),
        np.pad(np.ones((4, 4), bool), ((0, 1), (0, 1))),
    )


def test_downsampled_mask_samples_level_pixel_centres(tmp_path: Path) -> None:
    annotation = read(tmp_path, collection(feature([square(2, 2, 4)])))
    mask = annotation.cancer_mask((4, 4), downsample=2.0)
    # Level pixel c has its centre at level-0 x = 2c + 1: 1, 3, 5, 7; inside 2..6 are 3 and 5.
    expected = np.zeros((4, 4), bool)
    expected[1:3, 1:3] = True
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(
        annotation.cancer_mask((2, 2), 2.0, offset=(2.0, 2.0)), np.ones((2, 2), bool)
    )


def test_holes_subtract_and_multipolygons_add(tmp_path: Path) -> None:
    ring_with_hole = [square(10, 10, 20), square(15, 15, 10)[::-1]]
    island = square(40, 10, 5)
    annotation = read(
        tmp_path, collection(feature([ring_with_hole, [island]], kind="MultiPolygon"))
    )
    assert annotation.cancer.area == pytest.approx(400 - 100 + 25)
    mask = annotation.cancer_mask(SLIDE)
    assert mask.sum() == 400 - 100 + 25
    assert mask[12, 12] and not mask[20, 20] and mask[12, 42] and not mask[5, 5]


def test_class_names_are_case_insensitive_and_others_are_kept(tmp_path: Path) -> None:
    annotation = read(
        tmp_path,
        collection(
            feature([square(0, 0, 10)], name="TUMOUR"),
            feature([square(20, 0, 10)], name="invasive Carcinoma"),
            feature([square(40, 0, 10)], name="Tumor: Positive"),  # QuPath derived class
            feature([square(60, 0, 10)], name="Stroma"),
            feature([square(80, 0, 10)], name="Tumor margin"),
        ),
    )
    assert annotation.cancer.area == pytest.approx(300)
    assert annotation.other.area == pytest.approx(200)
    custom = read(
        tmp_path, collection(feature([square(60, 0, 10)], name="Stroma")), cancer_classes=["stroma"]
    )
    assert custom.cancer.area == pytest.approx(100) and custom.other is None
    benign = read(tmp_path, collection(feature([square(60, 0, 10)], name="Stroma")))
    assert benign.cancer is None and not benign.has_cancer
    assert "classes found: Stroma" in benign.warnings[0]


def test_older_string_classification_and_unclassified_features(tmp_path: Path) -> None:
    old = feature([square(0, 0, 10)], name=None)
    old["properties"]["classification"] = "Tumor"
    annotation = read(tmp_path, [old, feature([square(20, 0, 10)], name=None)])  # bare list
    assert annotation.cancer.area == pytest.approx(100)
    assert annotation.other.area == pytest.approx(100)
    assert annotation.warnings == ["1 features without a classification, counted as non-cancer"]


def test_derived_classes_in_every_qupath_form(tmp_path: Path) -> None:
    names_form = feature([square(0, 0, 10)], name=None)
    names_form["properties"]["classification"] = {
        "names": ["Tumor", "Positive"],
        "color": [1, 2, 3],
    }
    parent_form = feature([square(20, 0, 10)], name=None)
    parent_form["properties"]["classification"] = {
        "name": "Positive",
        "parentClass": {"name": "Carcinoma", "colorRGB": -1},
        "colorRGB": -2,
    }
    other_form = feature([square(40, 0, 10)], name=None)
    other_form["properties"]["classification"] = {"names": ["Stroma", "Tumor"]}
    annotation = read(tmp_path, collection(names_form, parent_form, other_form))
    assert annotation.cancer.area == pytest.approx(200)
    assert annotation.other.area == pytest.approx(100)


def test_single_feature_document(tmp_path: Path) -> None:
    annotation = read(tmp_path, feature([square(5, 5, 3)], name="DCIS"))
    assert annotation.cancer.bounds == (5, 5, 8, 8)


def test_empty_collection_is_valid_without_cancer(tmp_path: Path) -> None:
    annotation = read(tmp_path, collection())
    assert not annotation.has_cancer and annotation.cancer is None and annotation.other is None
    assert "no features" in annotation.warnings[0]
    assert not annotation.cancer_mask((7, 9)).any()


def test_other_geometries_are_skipped_with_a_warning(tmp_path: Path) -> None:
    annotation = read(
        tmp_path,
        collection(
            feature([1, 2], kind="Point"),
            feature([[1, 2], [3, 4]], kind="LineString"),
            feature([square(1, 1, 5)]),
        ),
    )
    assert annotation.cancer.area == pytest.approx(25)
    assert "1 features with geometry Point skipped" in annotation.warnings[0]
    assert "1 features with geometry LineString skipped" in annotation.warnings[1]


def test_geometry_collection_contributes_its_polygons(tmp_path: Path) -> None:
    members = [
        {"type": "Polygon", "coordinates": [square(0, 0, 10)]},
        {"type": "LineString", "coordinates": [[0, 0], [50, 50]]},
    ]
    mixed = feature(None)
    mixed["geometry"] = {"type": "GeometryCollection", "geometries": members}
    annotation = read(tmp_path, collection(mixed))
    assert annotation.cancer.area == pytest.approx(100)
    assert annotation.warnings == ["1 non-polygon members of GeometryCollections skipped"]


def test_self_intersecting_polygon_is_repaired(tmp_path: Path) -> None:
    bowtie = [[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]
    annotation = read(tmp_path, collection(feature([bowtie])))
    assert annotation.cancer.is_valid and annotation.cancer.area == pytest.approx(50)
    assert annotation.warnings == ["1 invalid polygons (e.g. self-intersecting) repaired"]


def test_polygon_outside_the_slide_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(
        InputError,
        match=r"outside the WSI \(level-0 size 200×100\): are the coordinates at level 0\?",
    ):
        read(tmp_path, collection(feature([square(0, 0, 10)]), feature([square(400, 300, 50)])))


def test_polygon_partly_outside_is_clipped(tmp_path: Path) -> None:
    annotation = read(tmp_path, collection(feature([square(190, 90, 20)])))
    assert annotation.cancer.bounds == (190, 90, 200, 100)
    assert annotation.warnings == ["1 polygons partly outside the WSI, clipped to it"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            '{\n  "type": "FeatureCollection",\n  "features": [\n}',
            r"not valid JSON \(line 4, column 1",
        ),
        ('{"type": "Topology"}', "not a GeoJSON FeatureCollection"),
        ("[1, 2]", "not a GeoJSON FeatureCollection"),
    ],
)
def test_malformed_documents_name_the_file_and_the_problem(
    tmp_path: Path, text: str, match: str
) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text(text)
    with pytest.raises(InputError, match=match) as err:
        read_annotation(path, SLIDE)
    assert "broken.geojson" in str(err.value)


def test_malformed_coordinates_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="feature 0: malformed Polygon coordinates"):
        read(tmp_path, collection(feature([[[0, 0], [1]]])))
    (tmp_path / "notes.txt").write_text("tumour in the middle")
    with pytest.raises(InputError, match="unknown annotation format '.txt'"):
        read_annotation(tmp_path / "notes.txt", SLIDE)
    with pytest.raises(InputError, match="annotation file not found"):
        read_annotation(tmp_path / "absent.geojson", SLIDE)


@pytest.mark.parametrize("seed", range(5))
def test_rasterize_matches_per_pixel_shapely(seed: int) -> None:
    rng = np.random.default_rng(seed)
    blob = shapely.make_valid(shapely.Polygon(rng.uniform(0, 60, (15, 2))))
    holes = shapely.union_all(
        [shapely.Point(rng.uniform(10, 50, 2)).buffer(rng.uniform(2, 6)) for _ in range(3)]
    )
    geometry = shapely.union_all(
        [blob.difference(holes), shapely.Point(rng.uniform(5, 55, 2)).buffer(4)]
    )
    for downsample, offset in [(1.0, (0.0, 0.0)), (2.0, (-3.0, 4.5)), (0.7, (10.2, 1.1))]:
        shape = (int(70 / downsample), int(65 / downsample))
        np.testing.assert_array_equal(
            rasterize(geometry, shape, downsample, offset),
            centre_oracle(geometry, shape, downsample, offset),
        )


def test_rasterize_is_fast_on_a_long_core_mask() -> None:
    angle = np.linspace(0, 2 * np.pi, 20000)
    wiggly = shapely.Polygon(
        np.c_[
            500 + 450 * np.cos(angle) * (1 + 0.05 * np.sin(80 * angle)), 5000 + 4900 * np.sin(angle)
        ]
    ).difference(shapely.Point(500, 5000).buffer(300))
    start = time.perf_counter()
    mask = rasterize(wiggly, (10000, 1000))
    elapsed = time.perf_counter() - start
    assert abs(int(mask.sum()) - wiggly.area) < 0.001 * wiggly.area
    assert elapsed < 2.0, f"rasterising 10000×1000 px took {elapsed:.2f} s"


def test_png_label_image_is_sampled_nearest_neighbour(tmp_path: Path) -> None:
    labels = np.zeros(SLIDE, np.uint8)
    labels[10:20, 30:50] = 3
    Image.fromarray(labels).save(tmp_path / "labels.png")
    annotation = read_annotation(tmp_path / "labels.png", SLIDE)
    assert annotation.kind == "label_image" and annotation.cancer is None and annotation.has_cancer
    np.testing.assert_array_equal(annotation.cancer_mask(SLIDE), labels != 0)
    # Downsample 4: level pixel (r, c) samples level-0 pixel (4r + 2, 4c + 2).
    np.testing.assert_array_equal(annotation.cancer_mask((25, 50), 4.0), labels[2::4, 2::4] != 0)
    # A region hanging over the slide's edge: centres outside the label image are not cancer.
    region = annotation.cancer_mask((10, 10), offset=(195.0, 15.0))
    assert not region[:, 5:].any() and np.array_equal(region[:, :5], labels[15:25, 195:200] != 0)


def test_label_image_tiff_memory_mapped_and_compressed(tmp_path: Path) -> None:
    labels = np.zeros(SLIDE, np.uint8)
    labels[50:60, 100:180] = 1
    tifffile.imwrite(tmp_path / "raw.tif", labels)
    tifffile.imwrite(tmp_path / "zip.tif", labels, compression="zlib", tile=(64, 64))
    raw = read_annotation(tmp_path / "raw.tif", SLIDE)
    assert isinstance(raw.labels, np.memmap)
    packed = read_annotation(tmp_path / "zip.tif", SLIDE)
    for annotation in (raw, packed):
        np.testing.assert_array_equal(annotation.cancer_mask(SLIDE), labels != 0)
    tifffile.imwrite(tmp_path / "empty.tif", np.zeros(SLIDE, np.uint8))
    assert not read_annotation(tmp_path / "empty.tif", SLIDE).has_cancer


def test_label_image_size_and_channels(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((50, 100), np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(InputError, match="label image is 100×50 px but WSI level 0 is 200×100 px"):
        read_annotation(tmp_path / "small.png", SLIDE)
    rgb = np.zeros((*SLIDE, 3), np.uint8)
    rgb[0:5, 0:5, 0] = 255
    rgb[50:55, 50:55, 1] = 255  # second channel only: ignored
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    annotation = read_annotation(tmp_path / "rgb.png", SLIDE)
    assert "only the first is used" in annotation.warnings[0]
    assert annotation.cancer_mask(SLIDE).sum() == 25
