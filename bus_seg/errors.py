"""Error types for bad input: each message names the file, row, column or option and the fix."""

from __future__ import annotations

from pathlib import Path


class BusSegError(Exception):
    """Base class of every error bus_seg raises on purpose (bad input, bad settings)."""


class InputError(BusSegError):
    """A file or folder given to bus_seg is missing, unreadable or inconsistent."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


class ManifestError(InputError):
    """A cohort manifest row or column breaks the cohort format."""

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        case_id: str | None = None,
    ) -> None:
        self.row, self.column, self.case_id = row, column, case_id
        where = []
        if row is not None:
            where.append(f"row {row}")
        if case_id:
            where.append(f"case {case_id!r}")
        if column:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message, path)


class RegistrationError(BusSegError):
    """A case could not be registered (no tissue, tract too short, annotation off the slide, ...)."""


class ConfigError(BusSegError):
    """A setting (Hydra option or function argument) is unknown or out of range."""
