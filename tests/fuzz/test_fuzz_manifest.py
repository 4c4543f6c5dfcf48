"""Random manifests: the reader and the cohort check fail only with ManifestError/BusSegError.

Headers mix the format's columns (in any order and case, some missing, some repeated) with
unknown ones; cells are random text (commas, quotes, newlines, unicode), numbers, infinities,
paths that leave the folder or name folders and non-image files; files may also be raw bytes.
Whatever parses must keep the reader's promises: records only for rows without errors, unique
case ids, paths inside the cohort folder unless allowed, finite positive numbers.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

from bus_seg.data.validation import check_cohort
from bus_seg.errors import BusSegError, ManifestError
from bus_seg.io.images import write_png
from bus_seg.io.manifest import (
    MANIFEST_COLUMNS,
    PROXIMAL_ENDS,
    SPLITS,
    TRACT_COLUMNS,
    read_manifest,
)

PATH_CELLS = [
    "",
    ".",
    "..",
    "missing.png",
    "sub/",
    "manifest.csv",
    "../outside.png",
    "sub/../../x.png",
    "/abs/us.png",
    "C:\\cohort\\a.geojson",
    "\\\\server\\share\\x.tif",
]
NUMBER_CELLS = [
    "",
    "0",
    "-1",
    "1e-9",
    "1e300",
    "nan",
    "inf",
    "-inf",
    "1,5",
    "0x10",
    " 12 ",
    "1_000",
]
text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\0"), max_size=12
)
odd_number = st.one_of(
    st.sampled_from(NUMBER_CELLS), st.floats(allow_nan=True, allow_infinity=True).map(repr)
)
VALID = {
    "case_id": st.sampled_from(["c1", "c2", "c3", "c4"]),
    "patient_id": st.sampled_from(["p1", "p2", "p3"]),
    "us_path": st.just("us.png"),
    "wsi_path": st.just("slide.png"),
    "annotation_path": st.just("annotation.geojson"),
    "label_path": st.sampled_from(["", "label.png"]),
    "proximal_end": st.sampled_from(["", *PROXIMAL_ENDS]),
    "split": st.sampled_from(["", *SPLITS]),
    "wsi_roi": st.sampled_from(["", "0,0,40,20", "2,4,30,12"]),
    "us_spacing_mm": st.floats(0.05, 0.5).map(lambda v: f"{v:.4g}"),
    "wsi_mpp": st.floats(5, 200).map(lambda v: f"{v:.4g}"),
    "core_diameter_mm": st.sampled_from(["", "0.1", "0.3", "1.6"]),
    **{column: st.floats(-3, 40).map(lambda v: f"{v:.4g}") for column in TRACT_COLUMNS},
}
ODD = {
    "case_id": st.sampled_from(["c/1", "c 1", "ç1", ".", "CON", "c1\n"]),
    "us_path": st.sampled_from(["slide.png", "annotation.geojson", *PATH_CELLS]),
    "wsi_path": st.sampled_from(["us.png", "annotation.geojson", "label.png", *PATH_CELLS]),
    "annotation_path": st.sampled_from(
        ["bad.geojson", "us.png", "slide.png", "label.png", *PATH_CELLS]
    ),
    "label_path": st.sampled_from(["us.png", "slide.png", *PATH_CELLS]),
    "proximal_end": st.sampled_from(["LEFT", "middle"]),
    "split": st.sampled_from(["Test", "holdout"]),
    "wsi_roi": st.sampled_from(
        ["100,100,5,5", "-1,0,5,5", "1.5,2,3,4", "a,b,c,d", "1,2,3", "0,0,0,0"]
    ),
}
extra_column = st.sampled_from(
    ["", " case_id ", "caseid", "us_pth", "extra", "lesion_mask_path", "Case_ID"]
)


def cell(column: str) -> st.SearchStrategy[str]:
    """Mostly a valid value of ``column``; sometimes an odd one, odd number or random text."""
    odd = st.one_of(ODD.get(column, odd_number), odd_number, text)
    return st.one_of(VALID.get(column, text), odd) if column in VALID else text


@st.composite
def manifest_text(draw: st.DrawFn) -> str:
    """A CSV close to a valid cohort: the format's columns (shuffled, a few dropped or in upper
    case), maybe extra ones, and rows whose cells are mostly valid for their column (naming
    real files of the cohort folder) and sometimes odd (other files, paths that leave the
    folder, bad numbers, random text)."""
    columns = [c for c in MANIFEST_COLUMNS if draw(st.integers(0, 30)) > 0]
    header = [c.upper() if draw(st.integers(0, 20)) == 0 else c for c in columns]
    header += draw(st.lists(st.one_of(extra_column, text), max_size=2))
    header = draw(st.permutations(header))
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        odd_cells = draw(st.integers(0, 2))
        positions = set(
            draw(
                st.lists(
                    st.integers(0, max(len(header) - 1, 0)), min_size=odd_cells, max_size=odd_cells
                )
            )
        )
        row = []
        for position, name in enumerate(header):
            column = name.strip().lower()
            row.append(draw(cell(column) if position in positions else VALID.get(column, text)))
        row += draw(st.lists(text, max_size=1))
        rows.append(row)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


manifest_bytes = st.one_of(
    manifest_text().map(str.encode),
    manifest_text().map(str.encode),
    manifest_text().map(str.encode),
    manifest_text().map(lambda t: t.encode("utf-8-sig")),
    manifest_text().map(lambda t: t.replace(",", ";").encode()),
    st.binary(max_size=300),
)


def cohort_folder(factory: pytest.TempPathFactory) -> Path:
    """A fresh cohort folder with real files (an image, a slide, a label map, a GeoJSON, a broken
    GeoJSON), a subfolder and a file beside it."""
    root = factory.mktemp("fuzz_manifest") / "cohort"
    (root / "sub").mkdir(parents=True)
    write_png(root / "us.png", np.full((24, 32), 90, dtype=np.uint8))
    write_png(root / "label.png", np.full((24, 32), 255, dtype=np.uint8))
    slide = np.full((20, 40, 3), 240, dtype=np.uint8)
    slide[6:14, 4:36] = (150, 60, 150)
    write_png(root / "slide.png", slide)
    square = [[[5, 5], [20, 5], [20, 12], [5, 12], [5, 5]]]
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": square},
        "properties": {"classification": {"name": "Tumor"}},
    }
    (root / "annotation.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]})
    )
    (root / "bad.geojson").write_text('{"type": "FeatureCollection", "features": [')
    (root.parent / "outside.png").write_bytes(b"not a png")
    return root


def check_records(manifest, allow_outside: bool) -> None:
    case_ids = [record.case_id for record in manifest.records]
    assert len(case_ids) == len(set(case_ids))
    assert len(manifest.records) <= manifest.row_count
    error_rows = {issue.row for issue in manifest.errors}
    for record in manifest.records:
        assert record.row not in error_rows
        assert record.case_id and record.patient_id
        for path in (record.us_path, record.wsi_path, record.annotation_path, record.label_path):
            assert path is None or path.is_absolute()
            if path is not None and not allow_outside:
                assert path.is_relative_to(manifest.root)
        for value in (record.us_spacing_mm, record.wsi_mpp, record.core_diameter_mm):
            assert value is None or (math.isfinite(value) and value > 0)
        assert record.proximal_end in PROXIMAL_ENDS
        assert record.split in (None, *SPLITS)


@given(data=manifest_bytes, require_tract=st.booleans(), allow_outside=st.booleans())
def test_reading_a_random_manifest_raises_only_manifest_errors(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, require_tract: bool, allow_outside: bool
) -> None:
    root = cohort_folder(tmp_path_factory)
    path = root / "manifest.csv"
    path.write_bytes(data)
    try:
        manifest = read_manifest(
            path, require_tract=require_tract, allow_outside_paths=allow_outside
        )
    except ManifestError as err:
        assert str(err) and err.path == path
        return
    check_records(manifest, allow_outside)
    for issue in manifest.issues:
        assert issue.severity in ("error", "warning") and issue.message


@given(data=manifest_bytes, allow_outside=st.booleans())
def test_checking_the_files_of_a_random_cohort_never_crashes(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, allow_outside: bool
) -> None:
    root = cohort_folder(tmp_path_factory)
    (root / "manifest.csv").write_bytes(data)
    try:
        report = check_cohort(root / "manifest.csv", allow_outside_paths=allow_outside)
    except BusSegError:
        return
    assert all(
        problem.severity in ("error", "warning") and problem.message for problem in report.problems
    )
