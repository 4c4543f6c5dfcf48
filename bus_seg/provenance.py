"""What made a result: date, commit, machine and library versions (for recorded figures)."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("torch", "pytorch_lightning", "segmentation_models_pytorch", "torchmetrics")


def _package_dir() -> Path:
    import bus_seg

    return Path(bus_seg.__file__).resolve().parent


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _source_checkout() -> Path | None:
    """The git work tree that holds the imported bus_seg source, or None (e.g. an installed wheel).

    A wheel installed into a virtual environment inside some git repository is not that
    repository's source: the work tree counts only when its ``bus_seg/`` is the imported package.
    """
    package = _package_dir()
    top = _git("rev-parse", "--show-toplevel", cwd=package)
    if not top:
        return None
    return Path(top) if (Path(top) / "bus_seg").resolve() == package else None


def git_commit() -> str | None:
    """The commit of the bus_seg source itself (from the package's location, not the current
    directory), or None when bus_seg is not imported from a git checkout."""
    checkout = _source_checkout()
    return _git("rev-parse", "HEAD", cwd=checkout) or None if checkout else None


def git_dirty() -> bool | None:
    """Whether tracked files of the bus_seg checkout differ from its commit; None outside a checkout."""
    checkout = _source_checkout()
    if checkout is None:
        return None
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=checkout)
    return None if status is None else bool(status)


def library_versions() -> dict[str, str | None]:
    """Installed versions of bus_seg and the libraries its figures depend on (None: not installed)."""
    versions: dict[str, str | None] = {}
    for name in ("bus_seg", *LIBRARIES):
        try:
            versions[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            try:
                versions[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                versions[name] = None
    return versions


def run_provenance() -> dict[str, Any]:
    """What made a run's figures: bus_seg version, source commit and dirty flag, library versions,
    the full command line (interpreter and options included, ``sys.orig_argv``) and the date
    (UTC). Stored in every ``metrics.json``."""
    versions = library_versions()
    return {
        "bus_seg_version": versions.pop("bus_seg"),
        "commit": git_commit(),
        "dirty": git_dirty(),
        "versions": versions,
        "command": shlex.join(getattr(sys, "orig_argv", None) or sys.argv),
        "python": platform.python_version(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def pip_freeze() -> str:
    """``name==version`` of every installed distribution, sorted (as ``pip freeze``, without pip)."""
    lines = {
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in metadata.distributions()
        if dist.metadata["Name"]
    }
    return "\n".join(sorted(lines, key=str.lower)) + "\n"


def cpu_model() -> str:
    """The processor's model name (Linux), else the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance() -> dict[str, Any]:
    """Date (UTC), commit, machine and the versions of the main libraries."""
    import torch

    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": cpu_model(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
    }
