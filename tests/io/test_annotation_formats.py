"""QuPath object types, ImageScope and ASAP XML: one cancer mask whatever the format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bus_seg.errors import InputError
from bus_seg.io.annotations import read_annotation

SLIDE = (120, 160)  # level-0 (height, width)
TUMOR = [(10, 10), (70, 12), (66, 60), (12, 58)]
TUMOR_HOLE = [(30, 25), (45, 25), (45, 40), (30, 40)]
DCIS = [(90.5, 70.25), (130, 72), (128, 110), (95, 105)]
STROMA = [(100, 10), (150, 10), (150, 50), (100, 50)]


def ring(points: list[tuple[float, float]]) -> list[list[float]]:
    return [list(p) for p in [*points, points[0]]]


def qupath_feature(rings: list, name: str | None, object_type: str | None = "annotation") -> dict:
    properties: dict = {}
    if object_type is not None:
        properties["objectType"] = object_type
    if name is not None:
        properties["classification"] = {"name": name, "color": [200, 0, 0]}
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring(r) for r in rings]},
        "properties": properties,
    }


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def geojson(tmp_path: Path, *features: dict, name: str = "a.geojson") -> Path:
    document = {"type": "FeatureCollection", "features": list(features)}
    return write(tmp_path / name, json.dumps(document))


def reference_geojson(tmp_path: Path) -> Path:
    return geojson(
        tmp_path,
        qupath_feature([TUMOR, TUMOR_HOLE], "Tumor"),
        qupath_feature([DCIS], "DCIS"),
        qupath_feature([STROMA], "Stroma"),
    )


def vertices(points: list[tuple[float, float]]) -> str:
    return "".join(f'<Vertex X="{x}" Y="{y}" Z="0"/>' for x, y in points)


def imagescope_xml(tmp_path: Path, name: str = "a.xml") -> Path:
    """Tumor (name) with a NegativeROA hole, DCIS (class in an attribute), Stroma."""
    return write(
        tmp_path / name,
        f"""<?xml version="1.0" encoding="UTF-8"?>
<Annotations MicronsPerPixel="0.5">
  <Annotation Id="1" Name="Tumor" LineColor="255" Type="4">
    <Attributes/>
    <Regions>
      <RegionAttributeHeaders/>
      <Region Id="1" Type="0" NegativeROA="0"><Attributes/><Vertices>{vertices(TUMOR)}</Vertices></Region>
      <Region Id="2" Type="0" NegativeROA="1"><Attributes/><Vertices>{vertices(TUMOR_HOLE)}</Vertices></Region>
      <Region Id="3" Type="4" NegativeROA="0"><Vertices><Vertex X="0" Y="0"/><Vertex X="9" Y="9"/></Vertices></Region>
    </Regions>
  </Annotation>
  <Annotation Id="2" Name="" LineColor="65280">
    <Attributes><Attribute Name="Description" Id="0" Value="DCIS"/></Attributes>
    <Regions><Region Id="4" Type="0"><Vertices>{vertices(DCIS)}</Vertices></Region></Regions>
  </Annotation>
  <Annotation Id="3" Name="Stroma">
    <Regions><Region Id="5" Type="1"><Vertices>{vertices(STROMA)}</Vertices></Region></Regions>
  </Annotation>
</Annotations>
""",
    )


def coordinates(points: list[tuple[float, float]]) -> str:
    return "".join(f'<Coordinate Order="{i}" X="{x}" Y="{y}"/>' for i, (x, y) in enumerate(points))


def asap_xml(tmp_path: Path, name: str = "b.xml") -> Path:
    """Tumor, an exclusion (_2) hole, DCIS nested in the Tumor group, Stroma."""
    reversed_tumor = list(enumerate(TUMOR))[::-1]  # Order, not document order, counts
    tumor = "".join(f'<Coordinate Order="{i}" X="{x}" Y="{y}"/>' for i, (x, y) in reversed_tumor)
    return write(
        tmp_path / name,
        f"""<?xml version="1.0"?>
<ASAP_Annotations>
  <Annotations>
    <Annotation Name="Annotation 0" Type="Polygon" PartOfGroup="Tumor" Color="#F4FA58">
      <Coordinates>{tumor}</Coordinates>
    </Annotation>
    <Annotation Name="Annotation 1" Type="Polygon" PartOfGroup="_2" Color="#64FE2E">
      <Coordinates>{coordinates(TUMOR_HOLE)}</Coordinates>
    </Annotation>
    <Annotation Name="Annotation 2" Type="Spline" PartOfGroup="In situ" Color="#F4FA58">
      <Coordinates>{coordinates(DCIS)}</Coordinates>
    </Annotation>
    <Annotation Name="Annotation 3" Type="Rectangle" PartOfGroup="Stroma" Color="#0000FF">
      <Coordinates>{coordinates(STROMA)}</Coordinates>
    </Annotation>
    <Annotation Name="Dot" Type="Dot" PartOfGroup="Tumor"><Coordinates>
      <Coordinate Order="0" X="5" Y="5"/></Coordinates></Annotation>
  </Annotations>
  <AnnotationGroups>
    <Group Name="Tumor" PartOfGroup="None" Color="#F4FA58"><Attributes/></Group>
    <Group Name="In situ" PartOfGroup="Tumor" Color="#F4FA58"><Attributes/></Group>
    <Group Name="_2" PartOfGroup="None" Color="#64FE2E"><Attributes/></Group>
    <Group Name="Stroma" PartOfGroup="None" Color="#0000FF"><Attributes/></Group>
  </AnnotationGroups>
</ASAP_Annotations>
""",
    )


@pytest.mark.parametrize(("downsample", "offset"), [(1.0, (0.0, 0.0)), (2.5, (3.0, 1.5))])
def test_imagescope_and_asap_give_the_geojson_cancer_mask(
    tmp_path: Path, downsample: float, offset: tuple[float, float]
) -> None:
    shape = (int(SLIDE[0] / downsample), int(SLIDE[1] / downsample))
    reference = read_annotation(reference_geojson(tmp_path), SLIDE)
    expected = reference.cancer_mask(shape, downsample, offset)
    assert expected.sum() > 100 and not expected[int(32 / downsample), int(37 / downsample)]
    for path, kind in ((imagescope_xml(tmp_path), "imagescope"), (asap_xml(tmp_path), "asap")):
        annotation = read_annotation(path, SLIDE)
        assert annotation.kind == kind
        np.testing.assert_array_equal(annotation.cancer_mask(shape, downsample, offset), expected)
        assert annotation.other is not None
        assert annotation.other.symmetric_difference(reference.other).area == pytest.approx(0)


def test_skipped_xml_shapes_are_counted(tmp_path: Path) -> None:
    assert any("ruler" in n for n in read_annotation(imagescope_xml(tmp_path), SLIDE).warnings)
    assert any("dot" in n for n in read_annotation(asap_xml(tmp_path), SLIDE).warnings)


def test_cancer_classes_are_one_setting_across_formats(tmp_path: Path) -> None:
    paths = [reference_geojson(tmp_path), imagescope_xml(tmp_path), asap_xml(tmp_path)]
    masks = [read_annotation(p, SLIDE, cancer_classes=["Stroma"]).cancer_mask(SLIDE) for p in paths]
    assert masks[0].sum() > 0
    for mask in masks[1:]:
        np.testing.assert_array_equal(mask, masks[0])


def test_reader_is_chosen_by_content_not_suffix(tmp_path: Path) -> None:
    expected = read_annotation(reference_geojson(tmp_path), SLIDE).cancer_mask(SLIDE)
    renamed = [
        write(tmp_path / "qupath.xml", reference_geojson(tmp_path).read_text()),
        write(tmp_path / "scope.json", imagescope_xml(tmp_path).read_text()),
        write(tmp_path / "asap.annotations", asap_xml(tmp_path).read_text()),
    ]
    for path in renamed:
        np.testing.assert_array_equal(read_annotation(path, SLIDE).cancer_mask(SLIDE), expected)


@pytest.mark.parametrize(
    "text",
    [
        '<Annotations><Annotation Name="Tumor"><Regions/></Annotation></Annotations>',
        "<ASAP_Annotations><Annotations/><AnnotationGroups/></ASAP_Annotations>",
    ],
)
def test_xml_without_regions_names_the_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "empty.xml", text)
    with pytest.raises(InputError, match="holds no region") as info:
        read_annotation(path, SLIDE)
    assert str(path) in str(info.value)


def test_unknown_xml_and_broken_xml_name_the_file(tmp_path: Path) -> None:
    other = write(tmp_path / "other.xml", "<svg><rect/></svg>")
    with pytest.raises(InputError, match="<svg>.*ImageScope.*ASAP") as info:
        read_annotation(other, SLIDE)
    assert str(other) in str(info.value)
    broken = write(tmp_path / "broken.xml", "<Annotations><Annotation>")
    with pytest.raises(InputError, match="not well-formed") as info:
        read_annotation(broken, SLIDE)
    assert str(broken) in str(info.value)


def test_entities_are_refused(tmp_path: Path) -> None:
    laughs = write(
        tmp_path / "bomb.xml",
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        '<Annotations><Annotation Name="&lol2;"/></Annotations>',
    )
    external = write(
        tmp_path / "xxe.xml",
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<Annotations><Annotation Name="&x;"/></Annotations>',
    )
    for path in (laughs, external):
        with pytest.raises(InputError, match="DTD or entities") as info:
            read_annotation(path, SLIDE)
        assert str(path) in str(info.value)


def test_qupath_cells_and_detections_are_skipped_with_a_note(tmp_path: Path) -> None:
    cells = [
        qupath_feature([[(x, 80), (x + 6, 80), (x + 6, 86), (x, 86)]], "Tumor", "cell")
        for x in (10, 20, 30)
    ]
    detection = qupath_feature([[(10, 95), (60, 95), (60, 115), (10, 115)]], "Tumor", "detection")
    legacy_cell = qupath_feature([[(70, 80), (76, 80), (76, 86), (70, 86)]], "Tumor", None)
    legacy_cell["id"] = "PathCellObject"  # QuPath 0.2 wrote the type as the feature id
    path = geojson(
        tmp_path, qupath_feature([TUMOR, TUMOR_HOLE], "Tumor"), *cells, detection, legacy_cell
    )
    only_annotation = read_annotation(
        geojson(tmp_path, qupath_feature([TUMOR, TUMOR_HOLE], "Tumor"), name="ref.geojson"), SLIDE
    )

    annotation = read_annotation(path, SLIDE)
    np.testing.assert_array_equal(annotation.cancer_mask(SLIDE), only_annotation.cancer_mask(SLIDE))
    assert any(n.startswith("4 QuPath cell objects skipped") for n in annotation.warnings)
    assert any(n.startswith("1 QuPath detection objects skipped") for n in annotation.warnings)

    with_cells = read_annotation(path, SLIDE, object_types=["annotation", "Cell"])
    assert with_cells.cancer_mask(SLIDE).sum() == only_annotation.cancer_mask(SLIDE).sum() + 4 * 36
    assert any("detection" in n for n in with_cells.warnings)


def test_features_without_object_type_are_read(tmp_path: Path) -> None:
    path = geojson(tmp_path, qupath_feature([TUMOR], "Tumor", object_type=None))
    annotation = read_annotation(path, SLIDE)
    assert annotation.has_cancer and annotation.warnings == []


def test_imagescope_ellipse_is_read_from_its_bounding_box(tmp_path: Path) -> None:
    path = write(
        tmp_path / "ellipse.xml",
        '<Annotations><Annotation Name="Tumor"><Regions><Region Type="2"><Vertices>'
        '<Vertex X="20" Y="30"/><Vertex X="100" Y="70"/></Vertices></Region></Regions>'
        "</Annotation></Annotations>",
    )
    cancer = read_annotation(path, SLIDE).cancer
    assert cancer.bounds == pytest.approx((20, 30, 100, 70))
    assert cancer.area == pytest.approx(np.pi * 40 * 20, rel=0.01)
