"""Find the files of evaluated runs (``per_image.csv``, ``metrics.json``) from paths or globs."""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from bus_seg.errors import InputError

GLOB_CHARACTERS = frozenset("*?[")


def expand_run_paths(patterns: Iterable[str | Path]) -> list[Path]:
    """Paths as given, with glob patterns (``*``, ``?``, ``[``; ``**`` recursive) expanded and sorted.

    Raises:
        InputError: a pattern matches nothing.
    """
    paths: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        if GLOB_CHARACTERS & set(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise InputError(
                    "glob pattern matches no file or folder; check the pattern and the working folder",
                    text,
                )
            paths.extend(Path(match) for match in matches)
        else:
            paths.append(Path(text))
    return paths


def short_names(folders: Sequence[Path]) -> list[str]:
    """Folder paths relative to their deepest shared parent (the folder name for a single one)."""
    resolved = [Path(folder).resolve() for folder in folders]
    if len(resolved) == 1:
        return [resolved[0].name]
    common = Path(os.path.commonpath([str(folder) for folder in resolved]))
    return [
        str(folder.relative_to(common)) if folder != common else folder.name for folder in resolved
    ]


def find_run_file(path: str | Path, file_name: str) -> Path:
    """The ``file_name`` of a run: ``path`` itself if it is a file, else found under the folder.

    A folder is searched directly, then recursively; exactly one match must exist.

    Raises:
        InputError: the path is missing, or the folder holds no or several such files.
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise InputError(f"not found; give a run folder or its {file_name}", path)
    direct = path / file_name
    if direct.is_file():
        return direct
    matches = sorted(path.rglob(file_name))
    if not matches:
        raise InputError(
            f"no {file_name} in this folder or below; was the run evaluated (bus-seg-eval)?", path
        )
    if len(matches) > 1:
        listing = ", ".join(str(match) for match in matches[:5])
        raise InputError(
            f"{len(matches)} files named {file_name} below this folder ({listing}); give one of them",
            path,
        )
    return matches[0]


def flatten_metrics(metrics: Mapping, prefix: str = "") -> dict[str, object]:
    """Flatten nested metric dicts to ``a/b/c`` keys (flat dicts pass through)."""
    flat: dict[str, object] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


def read_metrics(path: str | Path) -> dict[str, object]:
    """Read a run's ``metrics.json`` as a flat dict.

    Raises:
        InputError: the file is not valid JSON or not a JSON object.
    """
    path = Path(path)
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(
            f"cannot read metrics JSON ({err}); rerun the evaluation to rewrite it", path
        ) from err
    if not isinstance(metrics, dict):
        raise InputError("metrics JSON must hold an object of name: value", path)
    return flatten_metrics(metrics)


def read_per_image(path: str | Path) -> pd.DataFrame:
    """Read a ``per_image.csv`` with ``image_id`` (and ``patient_id``) as strings.

    Raises:
        InputError: unreadable file, no ``image_id`` column, or a repeated image id.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"image_id": str, "patient_id": str})
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read per-image CSV ({err})", path) from err
    if "image_id" not in table.columns:
        raise InputError(
            "per-image CSV has no image_id column; give the per_image.csv written by the evaluation",
            path,
        )
    repeated = table["image_id"][table["image_id"].duplicated()].unique().tolist()
    if repeated:
        raise InputError(f"image ids occur more than once: {repeated[:10]}", path)
    return table


def run_name_of(per_image_path: Path) -> str | None:
    """``run_name`` from the ``metrics.json`` beside a per-image CSV, or None."""
    metrics_path = per_image_path.parent / "metrics.json"
    if metrics_path.is_file():
        name = read_metrics(metrics_path).get("run_name")
        if isinstance(name, str) and name:
            return name
    return None


def read_run_metrics(path: str | Path) -> dict[str, object]:
    """All metrics of one run, flat: its ``metrics.json`` merged with its evaluation's.

    ``path`` is a run folder or a ``metrics.json``. A training run keeps its own ``metrics.json``
    (e.g. ``metrics/test/dice``) and the evaluation's (``pooled/dice``, ``per_image/dice/mean``)
    beside the ``per_image.csv`` somewhere below; both are read, so either naming can be chosen.

    Raises:
        InputError: the path is missing, holds no metrics, or holds several evaluations.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("not found; give a run folder or its metrics.json", path)
    folder = path if path.is_dir() else path.parent
    own = path if path.suffix == ".json" else folder / "metrics.json"
    metrics = read_metrics(own) if own.is_file() else {}
    evaluations = sorted(folder.rglob("per_image.csv"))
    if len(evaluations) > 1:
        listing = ", ".join(str(p.parent) for p in evaluations[:5])
        raise InputError(
            f"{len(evaluations)} evaluations below this folder ({listing}); give one run folder each, "
            "or a glob such as multirun/*/*/metrics.json",
            folder,
        )
    if evaluations:
        evaluation = evaluations[0].parent / "metrics.json"
        if evaluation.is_file() and evaluation.resolve() != own.resolve():
            metrics.update(read_metrics(evaluation))
    if not metrics:
        raise InputError(
            "no metrics.json here or beside a per_image.csv below; was the run evaluated?", path
        )
    return metrics
