"""Provenance of metrics.json: the bus_seg source's own commit, whatever the current folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import bus_seg
from bus_seg import provenance

SOURCE = Path(bus_seg.__file__).resolve().parent


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def test_commit_comes_from_the_package_not_the_current_folder(tmp_path, monkeypatch) -> None:
    top = (
        _git("rev-parse", "--show-toplevel", cwd=SOURCE).strip()
        if (SOURCE.parent / ".git").exists()
        else ""
    )
    if not top:
        pytest.skip("bus_seg is not imported from a git checkout here")
    other = tmp_path / "other_project"
    other.mkdir()
    _git("init", "-q", cwd=other)
    monkeypatch.chdir(other)  # another repository's HEAD must not be reported
    assert provenance.git_commit() == _git("rev-parse", "HEAD", cwd=SOURCE).strip()
    assert isinstance(provenance.git_dirty(), bool)


def test_no_commit_outside_a_bus_seg_checkout(tmp_path, monkeypatch) -> None:
    """An installed copy inside some other repository (a venv in a project) has no commit."""
    repo = tmp_path / "project"
    package = repo / ".venv" / "site-packages" / "bus_seg"
    package.mkdir(parents=True)
    _git("init", "-q", cwd=repo)
    monkeypatch.setattr(provenance, "_package_dir", lambda: package)
    assert provenance.git_commit() is None and provenance.git_dirty() is None


def test_run_provenance_fields() -> None:
    facts = provenance.run_provenance()
    assert set(facts["versions"]) == set(provenance.LIBRARIES)
    assert facts["versions"]["torch"] and facts["bus_seg_version"]
    assert facts["command"]
    assert "numpy==" in provenance.pip_freeze()
