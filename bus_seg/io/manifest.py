"""The cohort manifest (cohort format v1.1): read it into typed records, check its rows, write it.

Reading checks the structure only and opens no image, so it is fast on any cohort; the deep
checks that open the files live in :mod:`bus_seg.data.validation`. Problems of the file as a whole
(missing, not a CSV, a required column absent, no rows) raise :class:`ManifestError` at once;
problems of a row become :class:`ManifestIssue` entries and the row is left out of the records.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PureWindowsPath

from bus_seg.errors import ManifestError
from bus_seg.io.atomic import write_text_atomic
from bus_seg.io.cohort_format import (
    DEFAULT_CORE_DIAMETER_MM,
    DEFAULT_PROXIMAL_END,
    MANIFEST_COLUMNS,
    PATH_COLUMNS,
    PROXIMAL_ENDS,
    REQUIRED_COLUMNS,
    SPLITS,
    TRACT_COLUMNS,
    US_FRAME_COLUMN,
)

_REQUIRED_HINTS = {
    "case_id": "a unique id of the pair (it names labels/<case_id>.png)",
    "patient_id": "the patient's id (splits keep each patient in one subset)",
    "us_path": "the ultrasound image, relative to the manifest's folder",
    "wsi_path": "the whole-slide image of the core, relative to the manifest's folder",
    "annotation_path": "the pathologist's annotation (QuPath GeoJSON or label image)",
}
_NUMBER_HINTS = {
    "us_spacing_mm": ("mm per pixel", "to read the spacing from the DICOM file"),
    "wsi_mpp": ("micrometres per level-0 pixel", "to read the MPP from the slide file"),
    "core_diameter_mm": ("mm", f"for the default {DEFAULT_CORE_DIAMETER_MM} mm"),
}
_BAD_NAME_CHARACTERS = set('/\\:*?"<>|')
CASE_ID_MAX_BYTES = 128
"""Longest case_id (UTF-8 bytes): it names files, and file names end at 255 bytes."""
_BAD_FIRST_CHARACTERS = set(".-=+@")
_OUTSIDE_FIX = (
    "move the file into the manifest's folder, or allow it with the registration/data setting "
    "allow_outside_paths=true"
)
_TRACT_FIX = (
    "give tract_x0, tract_y0 (proximal end) and tract_x1, tract_y1 (distal end) in ultrasound "
    "pixel centres, or set registration.needle=auto to find the needle in the image"
)


def describe_location(
    manifest: str | Path | None,
    row: int | None = None,
    case_id: str | None = None,
    column: str | None = None,
) -> str:
    """Where in a manifest something is, e.g. ``"cohort.csv row 3 (line 4), case 'c03'"``."""
    head = Path(manifest).name if manifest is not None else "manifest"
    if row is not None:
        head += f" row {row} (line {row + 1})"
    parts = [head]
    if case_id:
        parts.append(f"case {case_id!r}")
    if column:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


@dataclass(frozen=True)
class CaseRecord:
    """One checked row of the manifest: an ultrasound image and the core taken along its tract.

    Attributes:
        row: 1-based data row; the CSV line number is ``row + 1``.
        case_id: unique id of the pair.
        patient_id: the patient.
        us_path: absolute path of the ultrasound image.
        us_spacing_mm: manifest pixel size of the ultrasound image, or None (file's value).
        tract: ``(x0, y0, x1, y1)`` pixel centres from the proximal to the distal end, or None.
        core_diameter_mm: width of the labelled strip.
        wsi_path: absolute path of the slide.
        wsi_mpp: manifest µm per level-0 pixel, or None (file's value).
        annotation_path: absolute path of the annotation.
        proximal_end: ``"left"``, ``"right"``, ``"top"`` or ``"bottom"``.
        wsi_roi: ``(x, y, w, h)`` in level-0 pixels, or None for the whole slide.
        split: ``"train"``, ``"val"``, ``"test"`` or None (drawn by the splitter).
        label_path: absolute path of a reference label map, or None.
        lesion_roi: ``(x, y, w, h)`` in ultrasound pixels of a box holding the whole lesion (the
            pixels whose centres lie in [x, x+w) × [y, y+h)), or None. Weak knowledge, not
            histology.
        lesion_mask_path: absolute path of the whole-lesion mask (ultrasound size, non-zero =
            lesion), or None. Weak knowledge, not histology.
        extra: the cells of unknown columns, stripped of surrounding whitespace.
        us_frame: 0-based frame of a cine-loop ultrasound file (``us_frame`` column), or None
            (frame 0, with a warning when the file has several).
    """

    row: int
    case_id: str
    patient_id: str
    us_path: Path
    us_spacing_mm: float | None
    tract: tuple[float, float, float, float] | None
    core_diameter_mm: float
    wsi_path: Path
    wsi_mpp: float | None
    annotation_path: Path
    proximal_end: str
    wsi_roi: tuple[int, int, int, int] | None
    split: str | None
    label_path: Path | None
    extra: dict[str, str] = field(default_factory=dict)
    lesion_roi: tuple[int, int, int, int] | None = None
    lesion_mask_path: Path | None = None
    us_frame: int | None = None


@dataclass(frozen=True)
class ManifestIssue:
    """A problem of one manifest row (or of the header), with what to do about it."""

    row: int | None
    case_id: str | None
    column: str | None
    message: str
    severity: str  # "error" | "warning"
    path: Path | None = None

    @property
    def where(self) -> str:
        """The file, row, line, case and column the issue is about."""
        return describe_location(self.path, self.row, self.case_id, self.column)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Manifest:
    """A read manifest: the records of its valid rows and the issues of the others.

    Attributes:
        path: the manifest file.
        root: its folder, against which relative paths are resolved.
        records: the rows without errors, in file order.
        issues: every error and warning, header issues first, then by row.
        row_count: number of data rows (blank lines not counted).
    """

    path: Path
    root: Path
    records: list[CaseRecord]
    issues: list[ManifestIssue]
    row_count: int = 0

    @property
    def errors(self) -> list[ManifestIssue]:
        """Issues that exclude their row."""
        return [issue for issue in self.issues if issue.severity == "error"]

    @property
    def warnings(self) -> list[ManifestIssue]:
        """Issues that leave their row usable."""
        return [issue for issue in self.issues if issue.severity == "warning"]

    @property
    def failed_case_ids(self) -> set[str]:
        """Case ids of the rows excluded by errors (rows without a case id are not named)."""
        return {issue.case_id for issue in self.errors if issue.case_id}

    def raise_for_errors(self) -> None:
        """Raise one :class:`ManifestError` listing every error, if there is any."""
        errors = self.errors
        if errors:
            listing = "\n".join(f"  {issue}" for issue in errors)
            raise ManifestError(
                f"{len(errors)} error(s) in the manifest; fix these rows (or remove them):\n"
                f"{listing}",
                self.path,
            )


def read_manifest(
    path: str | Path, *, require_tract: bool = True, allow_outside_paths: bool = False
) -> Manifest:
    """Read and check a cohort manifest without opening the files it names.

    Args:
        path: the CSV file (UTF-8, a byte-order mark is tolerated).
        require_tract: whether every row needs its four tract cells (False when registration
            finds the needle in the image, ``registration.needle=auto``).
        allow_outside_paths: whether file paths may be absolute or leave the manifest's folder.

    Raises:
        ManifestError: the file is missing, unreadable or not a CSV, lacks a required column, or
            has no data rows. Problems of single rows are returned as issues instead.
    """
    path = Path(path)
    header, rows = _read_table(path)
    root = Path(os.path.normpath(path.absolute().parent))
    columns = _header_columns(header, path, require_tract)
    issues = _header_warnings(columns, path)
    parsed: list[tuple[int, dict[str, str], CaseRecord | None, list[ManifestIssue]]] = []
    for row_number, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        values, row_issues = _row_values(columns, cells, row_number, path)
        record, more = _parse_row(
            values, columns, row_number, path, root, require_tract, allow_outside_paths
        )
        parsed.append((row_number, values, record, row_issues + more))
    if not parsed:
        raise ManifestError(
            "the manifest has a header but no data rows; add one row per case", path
        )
    _check_duplicates(parsed, path)
    _check_patient_splits(parsed, path)
    records = []
    for _, _, record, row_issues in parsed:
        issues.extend(row_issues)
        if record is not None and not any(issue.severity == "error" for issue in row_issues):
            records.append(record)
    return Manifest(path, root, records, issues, len(parsed))


def write_manifest(path: str | Path, rows: Iterable[Mapping[str, object]]) -> Path:
    """Write a manifest atomically: the canonical columns, then extra columns in first-seen order.

    Cells: None and NaN become empty; paths are written as given in POSIX form (pass paths
    relative to the manifest's folder); tuples and lists (``wsi_roi``) are joined with commas;
    floats use their shortest round-trip form.

    Returns:
        ``path``.
    """
    rows = [dict(row) for row in rows]
    extras: list[str] = []
    for row in rows:
        extras.extend(key for key in row if key not in MANIFEST_COLUMNS and key not in extras)
    header = [*MANIFEST_COLUMNS, *extras]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell_text(row.get(column)) for column in header])
    return write_text_atomic(path, buffer.getvalue())


def _cell_text(value: object) -> str:
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, (tuple, list)):
        return ",".join(_cell_text(item) for item in value)
    return repr(value) if isinstance(value, float) else str(value)


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and ``(row number, cells)`` of every data line; blank lines keep their number."""
    if not path.is_file():
        raise ManifestError("manifest file not found; check the path given as the manifest", path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ManifestError(
            f"the manifest is not UTF-8 text (byte {err.start}); save it as CSV UTF-8", path
        ) from None
    except OSError as err:
        raise ManifestError(
            f"cannot read the manifest ({err.strerror}); check its permissions", path
        ) from None
    if "\0" in text:
        raise ManifestError("the manifest is a binary file, not a CSV; save it as CSV UTF-8", path)
    lines = text.splitlines()
    try:
        table = list(enumerate(csv.reader(lines)))
    except csv.Error as err:
        raise ManifestError(f"not a valid CSV file ({err}); save it as CSV UTF-8", path) from None
    if not table or not any(cell.strip() for cell in table[0][1]):
        raise ManifestError(
            "the manifest is empty; it needs a header row (case_id,patient_id,us_path,...) and one "
            "row per case",
            path,
        )
    return table[0][1], table[1:]


def _header_columns(header: list[str], path: Path, require_tract: bool) -> list[str]:
    """Stripped column names (canonical ones matched case-insensitively); fatal header errors."""
    canonical = {name.lower(): name for name in MANIFEST_COLUMNS}
    columns = [canonical.get(cell.strip().lower(), cell.strip()) for cell in header]
    if len(columns) == 1 and ";" in columns[0]:
        raise ManifestError(
            "the header has one column containing ';': the file uses ';' as separator; save it "
            "as comma-separated CSV",
            path,
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1 and name})
    if repeated:
        raise ManifestError(
            f"column(s) {repeated} appear more than once in the header; keep one of each", path
        )
    required = list(REQUIRED_COLUMNS) + (list(TRACT_COLUMNS) if require_tract else [])
    missing = [name for name in required if name not in columns]
    if missing:
        fix = (
            " (or set registration.needle=auto to find the needle)"
            if set(missing) & set(TRACT_COLUMNS)
            else ""
        )
        raise ManifestError(
            f"required column(s) {missing} missing from the header {columns}; add them{fix}", path
        )
    return columns


def _header_warnings(columns: list[str], path: Path) -> list[ManifestIssue]:
    issues = []
    for name in columns:
        if name in MANIFEST_COLUMNS or not name:
            continue
        close = difflib.get_close_matches(name, MANIFEST_COLUMNS, n=1, cutoff=0.8)
        if close and close[0] not in columns:
            issues.append(
                ManifestIssue(
                    None,
                    None,
                    name,
                    f"unknown column kept as an extra column; did you mean {close[0]!r}? Rename it "
                    "if so",
                    "warning",
                    path,
                )
            )
    return issues


def _row_values(
    columns: list[str], cells: list[str], row: int, path: Path
) -> tuple[dict[str, str], list[ManifestIssue]]:
    issues = []
    if len(cells) > len(columns) and any(cell.strip() for cell in cells[len(columns) :]):
        issues.append(
            ManifestIssue(
                row,
                cells[columns.index("case_id")].strip() or None,
                None,
                f"the row has {len(cells)} cells but the header has {len(columns)}; quote cells "
                'that contain commas (e.g. "x,y,w,h" for wsi_roi)',
                "error",
                path,
            )
        )
    values = {
        name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(columns) if name
    }
    return values, issues


class _RowChecker:
    """Collects the issues of one row while its cells are converted."""

    def __init__(self, row: int, case_id: str | None, path: Path) -> None:
        self.row, self.case_id, self.path = row, case_id, path
        self.issues: list[ManifestIssue] = []

    def error(self, column: str | None, message: str) -> None:
        self.issues.append(
            ManifestIssue(self.row, self.case_id, column, message, "error", self.path)
        )

    def required(self, values: Mapping[str, str], column: str) -> str:
        value = values.get(column, "")
        if not value:
            self.error(column, f"required cell is empty; give {_REQUIRED_HINTS[column]}")
        return value

    def positive(self, values: Mapping[str, str], column: str) -> float | None:
        raw = values.get(column, "")
        if not raw:
            return None
        number = _to_float(raw)
        if number is None or number <= 0:
            unit, empty = _NUMBER_HINTS[column]
            self.error(
                column,
                f"must be a positive number of {unit}, got {raw!r}; fix the cell or leave it "
                f"empty {empty}",
            )
            return None
        return number


def _parse_row(
    values: dict[str, str],
    columns: list[str],
    row: int,
    path: Path,
    root: Path,
    require_tract: bool,
    allow_outside_paths: bool,
) -> tuple[CaseRecord | None, list[ManifestIssue]]:
    """Convert and check the cells of one row; the record is None when a cell is unusable."""
    check = _RowChecker(row, values.get("case_id") or None, path)
    case_id = check.required(values, "case_id")
    problem = case_id_problem(case_id) if case_id else None
    if problem:
        check.error("case_id", problem)
    patient_id = check.required(values, "patient_id")
    paths: dict[str, Path | None] = {}
    for column in PATH_COLUMNS:
        value = (
            check.required(values, column) if column in REQUIRED_COLUMNS else values.get(column, "")
        )
        paths[column] = None
        if value:
            resolved, problem = _resolve_path(root, value, allow_outside_paths)
            if problem:
                check.error(column, problem)
            paths[column] = resolved
    us_spacing_mm = check.positive(values, "us_spacing_mm")
    wsi_mpp = check.positive(values, "wsi_mpp")
    core_diameter_mm = check.positive(values, "core_diameter_mm") or DEFAULT_CORE_DIAMETER_MM
    tract = _parse_tract(values, check, require_tract)
    proximal_end = (values.get("proximal_end") or DEFAULT_PROXIMAL_END).lower()
    if proximal_end not in PROXIMAL_ENDS:
        check.error(
            "proximal_end",
            f"must be one of {', '.join(PROXIMAL_ENDS)} (the slide edge nearest to the proximal "
            f"end of the core), got {values['proximal_end']!r}; leave it empty for "
            f"{DEFAULT_PROXIMAL_END!r}",
        )
    wsi_roi = _parse_roi(values.get("wsi_roi", ""), check)
    lesion_roi = _parse_roi(values.get("lesion_roi", ""), check, "lesion_roi", "ultrasound")
    us_frame = _parse_frame(values.get(US_FRAME_COLUMN, ""), check)
    split = values.get("split", "").lower() or None
    if split is not None and split not in SPLITS:
        check.error(
            "split",
            f"must be train, val or test, got {values['split']!r}; leave it empty to let the "
            "splitter choose",
        )
    if check.issues:
        return None, check.issues
    extra = {
        name: values[name]
        for name in columns
        if name and name not in MANIFEST_COLUMNS and name != US_FRAME_COLUMN
    }
    record = CaseRecord(
        row=row,
        case_id=case_id,
        patient_id=patient_id,
        us_path=paths["us_path"],
        us_spacing_mm=us_spacing_mm,
        tract=tract,
        core_diameter_mm=core_diameter_mm,
        wsi_path=paths["wsi_path"],
        wsi_mpp=wsi_mpp,
        annotation_path=paths["annotation_path"],
        proximal_end=proximal_end,
        wsi_roi=wsi_roi,
        split=split,
        label_path=paths["label_path"],
        extra=extra,
        lesion_roi=lesion_roi,
        lesion_mask_path=paths["lesion_mask_path"],
        us_frame=us_frame,
    )
    return record, []


def _parse_tract(
    values: Mapping[str, str], check: _RowChecker, require_tract: bool
) -> tuple[float, float, float, float] | None:
    raw = {column: values.get(column, "") for column in TRACT_COLUMNS}
    given = [column for column in TRACT_COLUMNS if raw[column]]
    if not given:
        if require_tract:
            check.error(None, f"tract points are missing; {_TRACT_FIX}")
        return None
    if len(given) < len(TRACT_COLUMNS):
        empty = [column for column in TRACT_COLUMNS if not raw[column]]
        check.error(
            empty[0],
            f"the tract is only partly given ({', '.join(empty)} empty); give all four tract "
            "cells, or none of them with registration.needle=auto",
        )
        return None
    numbers = []
    for column in TRACT_COLUMNS:
        number = _to_float(raw[column])
        if number is None:
            check.error(
                column,
                f"must be a finite number (ultrasound pixel coordinate), got {raw[column]!r}",
            )
        numbers.append(number)
    if any(number is None for number in numbers):
        return None
    x0, y0, x1, y1 = numbers
    if (x0, y0) == (x1, y1):
        check.error(
            None,
            f"the tract has zero length (both ends at {x0:g},{y0:g}); give the proximal and "
            "distal ends of the sampled segment",
        )
        return None
    return x0, y0, x1, y1


def _parse_frame(raw: str, check: _RowChecker) -> int | None:
    """The ``us_frame`` cell: a whole number from 0, or None when empty."""
    if not raw:
        return None
    if not raw.isdecimal():
        check.error(
            US_FRAME_COLUMN,
            f"must be a whole number from 0 (the 0-based frame of the cine loop), got {raw!r}; "
            "fix the cell or leave it empty for frame 0",
        )
        return None
    return int(raw)


def _parse_roi(
    raw: str, check: _RowChecker, column: str = "wsi_roi", image: str = "level-0"
) -> tuple[int, int, int, int] | None:
    if not raw:
        return None
    parts = [_to_float(part) for part in raw.split(",")]
    valid = (
        len(parts) == 4
        and all(part is not None and part == int(part) for part in parts)
        and parts[0] >= 0
        and parts[1] >= 0
        and parts[2] > 0
        and parts[3] > 0
    )
    if not valid:
        check.error(
            column,
            f"must be x,y,w,h: four whole numbers of {image} pixels, x,y >= 0 and w,h > 0 "
            f'(e.g. "1200,340,5000,800"), got {raw!r}; leave it empty if there is none',
        )
        return None
    x, y, w, h = (int(part) for part in parts)
    return x, y, w, h


def _to_float(text: str) -> float | None:
    """A finite float, or None for non-numbers, NaN and infinities."""
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def case_id_problem(case_id: str) -> str | None:
    """Why ``case_id`` cannot name files (``labels/<case_id>.png``), or None if it can.

    NA-like ids (``NA``, ``null``, ``None``, ``nan``) are fine: they are read as text.
    """
    shown = case_id if len(case_id) <= 40 else case_id[:40] + "..."
    size = len(case_id.encode("utf-8"))
    if size > CASE_ID_MAX_BYTES:
        return (
            f"case_id {shown!r} is {size} bytes long, over {CASE_ID_MAX_BYTES}: it names files, "
            "so shorten it"
        )
    if case_id in (".", "..") or any(
        ch in _BAD_NAME_CHARACTERS or not ch.isprintable() for ch in case_id
    ):
        return (
            f"case_id {shown!r} cannot be used as a file name (it names labels/<case_id>.png); "
            "use letters, digits, '-', '_' and '.' only"
        )
    if case_id[0] in _BAD_FIRST_CHARACTERS:
        return (
            f"case_id {shown!r} starts with {case_id[0]!r}, which makes a hidden file, a "
            "command-line option or a spreadsheet formula; start it with a letter or digit"
        )
    return None


def _resolve_path(root: Path, value: str, allow_outside: bool) -> tuple[Path, str | None]:
    """Absolute path of a manifest cell and, if it may not be used, why and how to fix it.

    Backslashes are taken as folder separators (manifests written on Windows). Unless outside
    paths are allowed, the real path (symbolic links resolved) must stay in ``root`` too.
    """
    resolved, problem = _cell_path(root, value, allow_outside)
    if problem is None and not allow_outside:
        problem = _link_problem(root, value, resolved)
    return resolved, problem


def _cell_path(root: Path, value: str, allow_outside: bool) -> tuple[Path, str | None]:
    """The cell's path, made absolute against ``root`` from its text alone (no file is
    touched), and why it may not be used: absolute, or leaving ``root``."""
    text = value.replace("\\", "/")
    if Path(text).is_absolute() or PureWindowsPath(value).is_absolute():
        resolved = Path(os.path.normpath(text))
        if allow_outside:
            return resolved, None
        return resolved, (
            f"absolute path {value!r} is not allowed: give it relative to the manifest's folder "
            f"{root}, or {_OUTSIDE_FIX}"
        )
    resolved = Path(os.path.normpath(root / text))
    if not allow_outside and not resolved.is_relative_to(root):
        return resolved, f"path {value!r} leaves the manifest's folder {root}; {_OUTSIDE_FIX}"
    return resolved, None


def _link_problem(root: Path, value: str, resolved: Path) -> str | None:
    """Why a path inside ``root`` may not be used: a symbolic link on it leads outside ``root``
    (asks the file system)."""
    real = resolved.resolve()
    if not real.is_relative_to(root.resolve()):
        return (
            f"path {value!r} is (or lies under) a symbolic link that leads outside the manifest's "
            f"folder, to {real}; copy the file into the folder, or {_OUTSIDE_FIX}"
        )
    return None


def _check_duplicates(
    parsed: list[tuple[int, dict[str, str], CaseRecord | None, list[ManifestIssue]]], path: Path
) -> None:
    rows_by_case: dict[str, list[int]] = defaultdict(list)
    for row, values, _, _ in parsed:
        if values.get("case_id"):
            rows_by_case[values["case_id"]].append(row)
    for row, values, _, issues in parsed:
        case_id = values.get("case_id", "")
        others = [other for other in rows_by_case.get(case_id, []) if other != row]
        if others:
            issues.append(
                ManifestIssue(
                    row,
                    case_id,
                    "case_id",
                    f"case_id {case_id!r} is also used in row(s) {', '.join(map(str, others))}; "
                    "every pair needs its own case_id",
                    "error",
                    path,
                )
            )


def _check_patient_splits(
    parsed: list[tuple[int, dict[str, str], CaseRecord | None, list[ManifestIssue]]], path: Path
) -> None:
    splits_by_patient: dict[str, dict[int, str]] = defaultdict(dict)
    for row, values, _, _ in parsed:
        split = values.get("split", "").lower()
        if values.get("patient_id") and split in SPLITS:
            splits_by_patient[values["patient_id"]][row] = split
    for row, values, _, issues in parsed:
        rows = splits_by_patient.get(values.get("patient_id", ""), {})
        if row in rows and len(set(rows.values())) > 1:
            listing = ", ".join(f"row {other}: {split}" for other, split in sorted(rows.items()))
            issues.append(
                ManifestIssue(
                    row,
                    values.get("case_id") or None,
                    "split",
                    f"patient {values['patient_id']!r} has rows with different fixed splits "
                    f"({listing}); one patient must stay in one subset: give all its rows the "
                    "same split or leave split empty",
                    "error",
                    path,
                )
            )
