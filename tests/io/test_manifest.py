"""Tests of bus_seg.io.manifest: reading, row checks with located messages, writing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bus_seg.errors import ManifestError
from bus_seg.io.manifest import (
    DEFAULT_CORE_DIAMETER_MM,
    MANIFEST_COLUMNS,
    ManifestIssue,
    read_manifest,
    write_manifest,
)


def row(case_id: str = "c01", **cells: str) -> dict[str, str]:
    """A valid manifest row (as CSV cells), with ``cells`` overriding."""
    base = {
        "case_id": case_id,
        "patient_id": f"p_{case_id}",
        "us_path": f"us/{case_id}.png",
        "us_spacing_mm": "0.1",
        "tract_x0": "10",
        "tract_y0": "20",
        "tract_x1": "110.5",
        "tract_y1": "40",
        "core_diameter_mm": "",
        "wsi_path": f"wsi/{case_id}.tif",
        "wsi_mpp": "",
        "annotation_path": f"ann/{case_id}.geojson",
        "proximal_end": "",
        "wsi_roi": "",
        "split": "",
        "label_path": "",
    }
    base.update(cells)
    return base


def write_csv(
    folder: Path, rows: list[dict[str, str]], name: str = "manifest.csv", **kwargs
) -> Path:
    columns = list(rows[0])
    for extra in rows[1:]:
        columns += [key for key in extra if key not in columns]
    path = folder / name
    with path.open("w", newline="", encoding=kwargs.get("encoding", "utf-8")) as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def only_error(issues: list[ManifestIssue]) -> ManifestIssue:
    errors = [issue for issue in issues if issue.severity == "error"]
    assert len(errors) == 1, [str(issue) for issue in issues]
    return errors[0]


def test_valid_manifest_gives_typed_records(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        [
            row("c01", lesion_mask_path="masks/c01.png"),
            row(
                "c02",
                wsi_roi="5, 6,70,80",
                split="Test",
                proximal_end="Right",
                wsi_mpp="0.5",
                core_diameter_mm="2",
                label_path="labels/c02.png",
                lesion_mask_path="",
            ),
        ],
    )
    manifest = read_manifest(path)
    assert manifest.issues == [] and manifest.row_count == 2
    first, second = manifest.records
    assert first.row == 1 and first.case_id == "c01" and first.patient_id == "p_c01"
    assert first.us_path == tmp_path / "us" / "c01.png" and first.us_path.is_absolute()
    assert first.us_spacing_mm == 0.1 and first.tract == (10.0, 20.0, 110.5, 40.0)
    assert first.core_diameter_mm == DEFAULT_CORE_DIAMETER_MM and first.proximal_end == "left"
    assert first.wsi_mpp is None and first.wsi_roi is None and first.split is None
    assert first.label_path is None and first.extra == {}
    assert second.wsi_roi == (5, 6, 70, 80) and second.split == "test"
    assert (
        second.proximal_end == "right" and second.wsi_mpp == 0.5 and second.core_diameter_mm == 2.0
    )
    assert second.label_path == tmp_path / "labels" / "c02.png"
    assert first.lesion_mask_path == tmp_path / "masks" / "c01.png"
    assert second.lesion_mask_path is None
    assert manifest.root == tmp_path and manifest.failed_case_ids == set()
    manifest.raise_for_errors()  # nothing to raise


def test_bom_whitespace_and_header_case_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    header = ",".join(f" {name.upper()} " for name in MANIFEST_COLUMNS)
    cells = row("c01")
    path.write_text(
        header + "\n" + ",".join(f"  {cells.get(name, '')} " for name in MANIFEST_COLUMNS) + "\n",
        encoding="utf-8-sig",
    )
    manifest = read_manifest(path)
    assert manifest.issues == []
    assert manifest.records[0].case_id == "c01" and manifest.records[0].us_spacing_mm == 0.1


def test_blank_lines_are_skipped_and_keep_line_numbers(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [row("c01"), row("c02", us_spacing_mm="abc")])
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1], "", ",,,", lines[2]]) + "\n")
    manifest = read_manifest(path)
    assert manifest.row_count == 2
    assert "row 4 (line 5)" in str(only_error(manifest.issues))


def test_message_names_row_line_case_and_column(tmp_path: Path) -> None:
    rows = [row("c01"), row("c02"), row("c03", us_spacing_mm="abc")]
    manifest = read_manifest(write_csv(tmp_path, rows))
    assert str(only_error(manifest.issues)) == (
        "manifest.csv row 3 (line 4), case 'c03', column 'us_spacing_mm': must be a positive "
        "number of mm per pixel, got 'abc'; fix the cell or leave it empty to read the spacing "
        "from the DICOM file"
    )
    assert [record.case_id for record in manifest.records] == ["c01", "c02"]
    assert manifest.failed_case_ids == {"c03"}


BAD_CELLS = [
    # (cells of the bad row, column named, words in the message)
    ({"case_id": ""}, "case_id", "required cell is empty"),
    ({"patient_id": ""}, "patient_id", "required cell is empty"),
    ({"us_path": ""}, "us_path", "required cell is empty"),
    ({"wsi_path": ""}, "wsi_path", "required cell is empty"),
    ({"annotation_path": ""}, "annotation_path", "required cell is empty"),
    ({"us_spacing_mm": "-0.1"}, "us_spacing_mm", "positive number of mm per pixel"),
    ({"wsi_mpp": "0"}, "wsi_mpp", "positive number of micrometres"),
    ({"wsi_mpp": "abc"}, "wsi_mpp", "read the MPP from the slide file"),
    ({"core_diameter_mm": "nan"}, "core_diameter_mm", "default 1.6 mm"),
    (
        {"tract_x0": "", "tract_y0": "", "tract_x1": "", "tract_y1": ""},
        None,
        "registration.needle=auto",
    ),
    ({"tract_x1": "", "tract_y1": ""}, "tract_x1", "only partly given (tract_x1, tract_y1 empty)"),
    ({"tract_y0": "nan"}, "tract_y0", "finite number"),
    ({"tract_x0": "ten"}, "tract_x0", "finite number"),
    ({"tract_x1": "10", "tract_y1": "20"}, None, "zero length"),
    ({"proximal_end": "up"}, "proximal_end", "left, right, top, bottom"),
    ({"split": "training"}, "split", "train, val or test"),
    ({"wsi_roi": "1,2,3"}, "wsi_roi", "x,y,w,h"),
    ({"wsi_roi": "1,2,0,4"}, "wsi_roi", "w,h > 0"),
    ({"wsi_roi": "1,2,3.5,4"}, "wsi_roi", "whole numbers"),
    ({"us_path": "../elsewhere/us.png"}, "us_path", "allow_outside_paths=true"),
    ({"label_path": "labels/../../x.png"}, "label_path", "leaves the manifest's folder"),
    ({"wsi_path": "/data/slides/s.svs"}, "wsi_path", "absolute path"),
    ({"annotation_path": "C:\\cohort\\a.geojson"}, "annotation_path", "absolute path"),
    ({"case_id": "a/b"}, "case_id", "cannot be used as a file name"),
]


@pytest.mark.parametrize(("cells", "column", "words"), BAD_CELLS)
def test_bad_cell_is_a_located_error_and_excludes_the_row(
    tmp_path: Path, cells: dict[str, str], column: str | None, words: str
) -> None:
    bad = row("c02") | cells
    manifest = read_manifest(write_csv(tmp_path, [row("c01"), bad]))
    issue = only_error(manifest.issues)
    assert issue.row == 2 and issue.column == column and issue.path == tmp_path / "manifest.csv"
    assert "manifest.csv row 2 (line 3)" in str(issue)
    if column:
        assert f"column {column!r}" in str(issue)
    assert words in issue.message
    assert [record.case_id for record in manifest.records] == ["c01"]


def test_outside_paths_are_allowed_on_request(tmp_path: Path) -> None:
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    rows = [row("c01", us_path="../shared/us.png", wsi_path=str(tmp_path / "s.tif"))]
    manifest = read_manifest(write_csv(cohort, rows), allow_outside_paths=True)
    assert manifest.issues == []
    assert manifest.records[0].us_path == tmp_path / "shared" / "us.png"
    assert manifest.records[0].wsi_path == tmp_path / "s.tif"


def test_backslash_paths_are_folders(tmp_path: Path) -> None:
    manifest = read_manifest(write_csv(tmp_path, [row("c01", us_path="us\\c01.png")]))
    assert manifest.records[0].us_path == tmp_path / "us" / "c01.png"


def test_tract_may_be_missing_when_not_required(tmp_path: Path) -> None:
    empty = {name: "" for name in ("tract_x0", "tract_y0", "tract_x1", "tract_y1")}
    manifest = read_manifest(write_csv(tmp_path, [row("c01", **empty)]), require_tract=False)
    assert manifest.issues == [] and manifest.records[0].tract is None


def test_lesion_mask_path_leaving_the_folder_is_a_row_error(tmp_path: Path) -> None:
    manifest = read_manifest(write_csv(tmp_path, [row("c01", lesion_mask_path="../m.png")]))
    assert [(issue.row, issue.column) for issue in manifest.errors] == [(1, "lesion_mask_path")]
    assert "allow_outside_paths" in manifest.errors[0].message


def test_duplicate_case_ids_are_errors_on_every_row(tmp_path: Path) -> None:
    rows = [row("c01"), row("c02"), row("c01", patient_id="other")]
    manifest = read_manifest(write_csv(tmp_path, rows))
    errors = manifest.errors
    assert [(issue.row, issue.column) for issue in errors] == [(1, "case_id"), (3, "case_id")]
    assert "row(s) 3" in errors[0].message and "row(s) 1" in errors[1].message
    assert [record.case_id for record in manifest.records] == ["c02"]


def test_patient_with_two_fixed_splits_is_an_error(tmp_path: Path) -> None:
    rows = [
        row("c01", patient_id="p1", split="train"),
        row("c02", patient_id="p1", split="test"),
        row("c03", patient_id="p1"),
        row("c04", patient_id="p2", split="val"),
    ]
    manifest = read_manifest(write_csv(tmp_path, rows))
    assert [(issue.row, issue.column) for issue in manifest.errors] == [(1, "split"), (2, "split")]
    assert "row 1: train, row 2: test" in manifest.errors[0].message
    assert [record.case_id for record in manifest.records] == ["c03", "c04"]


def test_row_with_too_many_cells_is_an_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [row("c01")])
    path.write_text(path.read_text() + ",".join(row("c02").values()) + ",1,2\n")
    issue = only_error(read_manifest(path).issues)
    assert issue.row == 2 and "quote cells" in issue.message


def test_several_problems_of_one_row_are_all_reported(tmp_path: Path) -> None:
    manifest = read_manifest(write_csv(tmp_path, [row("c01", split="x", wsi_mpp="-1")]))
    assert {issue.column for issue in manifest.errors} == {"split", "wsi_mpp"}
    with pytest.raises(ManifestError, match="2 error") as info:
        manifest.raise_for_errors()
    assert "column 'split'" in str(info.value) and "column 'wsi_mpp'" in str(info.value)


def test_misspelt_column_is_a_warning(tmp_path: Path) -> None:
    cells = row("c01")
    cells["core_diameter"] = cells.pop("core_diameter_mm")
    manifest = read_manifest(write_csv(tmp_path, [cells]))
    (issue,) = manifest.issues
    assert issue.severity == "warning" and issue.column == "core_diameter"
    assert "did you mean 'core_diameter_mm'" in issue.message
    assert len(manifest.records) == 1


def fatal(path: Path, **kwargs) -> str:
    with pytest.raises(ManifestError) as info:
        read_manifest(path, **kwargs)
    assert str(path) in str(info.value)
    return str(info.value)


def test_fatal_file_problems(tmp_path: Path) -> None:
    assert "not found" in fatal(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty" in fatal(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(MANIFEST_COLUMNS) + "\n")
    assert "no data rows" in fatal(header_only)
    latin1 = write_csv(tmp_path, [row("Müller")], name="latin1.csv", encoding="latin-1")
    assert "not UTF-8" in fatal(latin1)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    assert "not a CSV" in fatal(binary)
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text(";".join(MANIFEST_COLUMNS) + "\n" + ";".join(row("c01").values()) + "\n")
    assert "';' as separator" in fatal(semicolons)


def test_missing_required_column_is_fatal(tmp_path: Path) -> None:
    cells = row("c01")
    del cells["wsi_path"]
    assert "['wsi_path']" in fatal(write_csv(tmp_path, [cells]))


def test_missing_tract_columns_are_fatal_only_when_required(tmp_path: Path) -> None:
    cells = {k: v for k, v in row("c01").items() if not k.startswith("tract_")}
    path = write_csv(tmp_path, [cells])
    assert "registration.needle=auto" in fatal(path)
    assert read_manifest(path, require_tract=False).records[0].tract is None


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    rows = [
        {
            "case_id": "s1",
            "patient_id": "p1",
            "us_path": Path("us/s1.png"),
            "us_spacing_mm": 0.1,
            "tract_x0": 10,
            "tract_y0": 20.25,
            "tract_x1": 100,
            "tract_y1": 20.25,
            "wsi_path": "wsi/s1.tif",
            "wsi_mpp": 0.4999,
            "annotation_path": "ann/s1.geojson",
            "wsi_roi": (1, 2, 30, 40),
            "split": None,
            "lesion_mask_path": "masks/s1.png",
        },
        {
            "case_id": "s2",
            "patient_id": "p2",
            "us_path": "us/s2.png",
            "us_spacing_mm": 1 / 3,
            "tract_x0": 1,
            "tract_y0": 2,
            "tract_x1": 3,
            "tract_y1": 4,
            "wsi_path": "wsi/s2.tif",
            "annotation_path": "ann/s2.geojson",
            "core_diameter_mm": float("nan"),
            "notes": "a, b",
        },
    ]
    path = write_manifest(tmp_path / "out" / "manifest.csv", rows)
    header = path.read_text().splitlines()[0].split(",")
    assert header == [*MANIFEST_COLUMNS, "notes"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["manifest.csv"]  # no temp file left
    manifest = read_manifest(path)
    assert manifest.issues == []
    first, second = manifest.records
    assert first.us_path == path.parent / "us" / "s1.png" and first.wsi_mpp == 0.4999
    assert first.tract == (10.0, 20.25, 100.0, 20.25) and first.wsi_roi == (1, 2, 30, 40)
    assert first.extra == {"notes": ""}
    assert first.lesion_mask_path == path.parent / "masks" / "s1.png"
    assert second.us_spacing_mm == 1 / 3  # shortest round-trip float text
    assert second.core_diameter_mm == DEFAULT_CORE_DIAMETER_MM and second.extra["notes"] == "a, b"
