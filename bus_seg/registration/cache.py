"""Per-case cache of registration outputs, keyed by the case's inputs and settings.

A case's entry is ``<out_dir>/.cache/<case_id>.json``, written last (atomically) as the commit
marker after the label map (and QC picture). It records the key of what produced the label map,
the label file's SHA-256 and the report row, so a later run with the same key reuses them. The
key covers the manifest row's values, the identity of every input file (size, modification
time, and the SHA-256 of files up to ``HASHED_FILE_BYTES``) and the settings that can change the
label map; QC-only settings have their own key, so changing them redraws pictures only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from bus_seg.io.atomic import write_json_atomic
from bus_seg.io.manifest import PATH_COLUMNS, CaseRecord
from bus_seg.registration.settings import RegistrationSettings

CACHE_VERSION = 1
"""Bumped whenever a change of the registration code changes its outputs."""
HASHED_FILE_BYTES = 8 * 1024 * 1024
CACHE_DIR = ".cache"
_NOT_KEYED = {"row", "extra"}
"""Record fields that never change a label map (row position, unknown columns)."""


def file_identity(path: Path | None) -> list[Any] | None:
    """``[size, mtime_ns, sha256 or None]`` of a file; None when the path is None or missing."""
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    digest = None
    if stat.st_size <= HASHED_FILE_BYTES:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return [stat.st_size, stat.st_mtime_ns, digest]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def case_key(record: CaseRecord, settings: RegistrationSettings) -> str:
    """Key of everything that can change the case's label map and report row."""
    values = {
        f.name: getattr(record, f.name)
        for f in dataclasses.fields(record)
        if f.name not in _NOT_KEYED
    }
    files = {column: file_identity(getattr(record, column)) for column in PATH_COLUMNS}
    return _digest(
        {
            "version": CACHE_VERSION,
            "record": values,
            "files": files,
            "settings": settings.label_settings(),
        }
    )


def qc_key(settings: RegistrationSettings) -> str | None:
    """Key of the QC picture's settings; None when QC is off."""
    return _digest(settings.qc_settings()) if settings.qc else None


@dataclasses.dataclass(frozen=True)
class CaseOutputs:
    """Where a case's outputs live in the output folder."""

    labels: Path
    qc: Path
    entry: Path

    @classmethod
    def of(cls, out_dir: Path, case_id: str) -> CaseOutputs:
        return cls(
            out_dir / "labels" / f"{case_id}.png",
            out_dir / "qc" / f"{case_id}.png",
            out_dir / CACHE_DIR / f"{case_id}.json",
        )

    def remove(self) -> None:
        """Delete the case's outputs (the cache entry first, so no entry outlives its files)."""
        for path in (self.entry, self.labels, self.qc):
            path.unlink(missing_ok=True)


def read_entry(outputs: CaseOutputs, key: str) -> dict[str, Any] | None:
    """The cache entry if it matches ``key`` and its label map is intact, else None."""
    try:
        entry = json.loads(outputs.entry.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(entry, dict)
        or entry.get("version") != CACHE_VERSION
        or entry.get("key") != key
    ):
        return None
    try:
        if file_sha256(outputs.labels) != entry.get("label_sha256"):
            return None
    except OSError:
        return None
    return entry


def write_entry(
    outputs: CaseOutputs, key: str, qc: str | None, row: dict[str, Any]
) -> dict[str, Any]:
    """Commit a case: record its key, label checksum and report row (written last)."""
    entry = {
        "version": CACHE_VERSION,
        "key": key,
        "qc_key": qc,
        "label_sha256": file_sha256(outputs.labels),
        "row": row,
    }
    write_json_atomic(outputs.entry, entry)
    return entry
