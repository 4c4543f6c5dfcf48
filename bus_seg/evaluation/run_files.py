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


RUN_FILES = ("metrics.json", "per_image.csv")


def _is_run_entry(path: Path) -> bool:
    """A run folder or one of its files; not the other entries of a multirun folder
    (``multirun.yaml``, ``multirun_summary.csv``, ``optimization_results.yaml``, hidden folders)."""
    if path.name.startswith("."):
        return False
    return path.is_dir() or path.name in RUN_FILES


def _holds_run_files(folder: Path) -> bool:
    """A run folder: its ``metrics.json``/``per_image.csv``, or an evaluation folder just below."""
    return any((folder / name).is_file() for name in RUN_FILES) or any(
        folder.glob("*/per_image.csv")
    )


def _run_folders_below(folder: Path) -> list[Path]:
    """The runs of a folder of runs (a multirun folder, or one holding several run folders);
    ``[folder]`` for a run folder."""
    if any((folder / name).is_file() for name in RUN_FILES):
        return [folder]
    runs = sorted(
        (
            child
            for child in folder.iterdir()
            if child.is_dir() and _is_run_entry(child) and _holds_run_files(child)
        ),
        key=lambda child: (len(child.name), child.name),
    )
    is_multirun = (folder / "multirun.yaml").is_file()
    return runs if runs and (is_multirun or len(runs) > 1) else [folder]


def expand_run_paths(patterns: Iterable[str | Path]) -> list[Path]:
    """Runs given as paths, folders of runs, or glob patterns (``*``, ``?``, ``[``; ``**`` recursive).

    A glob keeps run folders and run files (``metrics.json``, ``per_image.csv``) and skips the
    other entries of a multirun folder, so ``'logs/train/multiruns/<date>/*'`` works as written.
    A folder that is not itself a run but holds runs (a multirun folder) stands for those runs.

    Raises:
        InputError: a pattern matches no run.
    """
    paths: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        if GLOB_CHARACTERS & set(text):
            matches = [Path(match) for match in sorted(glob.glob(text, recursive=True))]
            runs = [match for match in matches if _is_run_entry(match)]
            if not runs:
                skipped = f" (only {', '.join(m.name for m in matches[:5])})" if matches else ""
                raise InputError(
                    f"glob pattern matches no run folder or run file{skipped}; check the pattern "
                    "and the working folder",
                    text,
                )
        else:
            runs = [Path(text)]
        for run in runs:
            paths.extend(_run_folders_below(run) if run.is_dir() else [run])
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


def flatten_keys(metrics: Mapping, prefix: str = "", separator: str = "/") -> dict[str, object]:
    """Flatten nested dicts to ``a/b/c`` keys (``separator`` between the levels; flat dicts
    pass through)."""
    flat: dict[str, object] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_keys(value, f"{name}{separator}", separator))
        else:
            flat[name] = value
    return flat


def read_metrics(path: str | Path) -> dict[str, object]:
    """Read a run's ``metrics.json`` as a flat dict: the ``metrics`` of the shared layout
    (:mod:`bus_seg.metrics_file`) plus ``run_name``; older files flattened to ``a/b/c`` keys.

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
    if str(metrics.get("schema", "")).startswith("bus_seg.metrics/") and isinstance(
        metrics.get("metrics"), Mapping
    ):
        flat = dict(metrics["metrics"])
        if isinstance(metrics.get("run_name"), str):
            flat["run_name"] = metrics["run_name"]
        return flat
    return flatten_keys(metrics)


def read_per_image(path: str | Path) -> pd.DataFrame:
    """Read a ``per_image.csv`` with ``image_id`` (and ``patient_id``) as strings.

    Raises:
        InputError: unreadable file, no ``image_id`` column, or a repeated image id.
    """
    path = Path(path)
    try:
        # ids such as "NA" or "null" are ids, not missing values: only empty cells are NaN.
        table = pd.read_csv(
            path,
            dtype={"image_id": str, "patient_id": str},
            keep_default_na=False,
            na_values=[""],
        )
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
    (``test/dice``, ``test/lesion_dice``, ``val/dice``, ...) and the evaluation's beside the
    ``per_image.csv`` below (the same ``test/*`` names plus ``test/per_image/<metric>/<statistic>``);
    both are read into one dict.

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
