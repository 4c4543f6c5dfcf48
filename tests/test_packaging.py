"""The wheel ships every Hydra config, so configs are found in non-editable installs too."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
        ],
        check=True,
        cwd=out,
    )
    return next(out.glob("bus_seg-*.whl"))


def test_wheel_holds_every_config(wheel: Path) -> None:
    expected = {
        f"bus_seg/conf/{p.relative_to(ROOT / 'conf').as_posix()}"
        for p in (ROOT / "conf").rglob("*.yaml")
    }
    names = set(zipfile.ZipFile(wheel).namelist())
    assert expected, "conf/ holds configs"
    assert sorted(expected - names) == []


def test_wheel_holds_every_package_and_the_sweeper_plugin(wheel: Path) -> None:
    expected = {
        f"{p.relative_to(ROOT).as_posix()}"
        for base in ("bus_seg", "hydra_plugins")
        for p in (ROOT / base).rglob("*.py")
    }
    names = set(zipfile.ZipFile(wheel).namelist())
    assert sorted(expected - names) == []


def test_configs_compose_from_the_unpacked_wheel(wheel: Path, tmp_path: Path) -> None:
    """As installed (no checkout on the path): the entry configs compose, with the options whose
    defaults come from the settings dataclasses (registration, simulator)."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import bus_seg\n"
        "from bus_seg.config import compose_config\n"
        f"assert bus_seg.__file__.startswith({str(site)!r}), bus_seg.__file__\n"
        "print(compose_config(['registration=physical']).registration.placement)\n"
        "print(compose_config(['out_dir=x', 'simulation=hard'], 'simulate').faults.difficulty)\n"
        "print(compose_config(['model=unet']).model.in_channels)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["physical", "hard", "1"]


def test_every_config_folder_is_a_declared_package() -> None:
    """Undeclared config folders are shipped with a setuptools warning each ("Package would be
    ignored"); declaring them all keeps ``make`` quiet."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
    with (ROOT / "pyproject.toml").open("rb") as handle:
        declared = set(tomllib.load(handle)["tool"]["setuptools"]["packages"])
    folders = {
        "bus_seg.conf." + ".".join(p.relative_to(ROOT / "conf").parts)
        for p in (ROOT / "conf").rglob("*")
        if p.is_dir() and p.name != "__pycache__" and any(p.glob("*.yaml"))
    }
    assert sorted(folders - declared) == []


def test_wheel_builds_without_package_warnings(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-v",
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    log = done.stdout + done.stderr
    assert "Package would be ignored" not in log
    assert "BuildBackendWarning" not in log and "SetuptoolsDeprecationWarning" not in log
