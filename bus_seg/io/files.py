"""Input files: a clear message for a path that is missing, a folder, or not a regular file."""

from __future__ import annotations

from pathlib import Path

from bus_seg.errors import InputError


def require_file(path: Path, what: str, fix: str) -> None:
    """Raise unless ``path`` is a regular file (a link to one is fine).

    Args:
        path: the input.
        what: what it should be, e.g. ``"WSI file"``.
        fix: what to check, e.g. ``"check wsi_path in the manifest"``.

    Raises:
        InputError: ``"<what> not found"``, ``"<what> is a folder, not a file"`` or
            ``"<what> is not a regular file (a device, pipe or socket)"``, then ``fix``.
    """
    if path.is_file():
        return
    if path.is_dir():
        raise InputError(f"{what} is a folder, not a file; {fix}", path)
    if path.exists():
        raise InputError(f"{what} is not a regular file (a device, pipe or socket); {fix}", path)
    raise InputError(f"{what} not found; {fix}", path)
