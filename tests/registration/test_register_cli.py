"""The bus-seg-register Hydra app: outputs, summary line, exit status, clean errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bus_seg.cli.register import register_from_config
from bus_seg.errors import ConfigError
from bus_seg.io.manifest import write_manifest
from tests.helpers.configs import compose_entry
from tests.helpers.registration_cases import small_spec
from tests.helpers.registration_factory import write_case

REGISTER = [sys.executable, "-c", "from bus_seg.cli.register import main; main()"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli_cohort")
    good = write_case(small_spec("ok_case"), root / "ok_case")
    broken = {**good, "case_id": "broken", "us_path": "ok_case/missing.png"}
    return write_manifest(root / "manifest.csv", [good, broken])


def compose_register(*overrides: str):
    return compose_entry("register", *overrides)


@pytest.mark.parametrize(
    "option", ["fit_tract_profile", "fit_tract_area", "physical", "auto_needle"]
)
def test_register_config_composes_with_every_option(option: str) -> None:
    cfg = compose_register(f"registration={option}", "manifest=m.csv", "out_dir=o")
    assert cfg.workers == 1 and cfg.use_cache is True and cfg.strict is False
    assert "placement" in cfg.registration


def test_missing_manifest_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="manifest is not set"):
        register_from_config(compose_register("out_dir=o"))


def test_cli_writes_the_outputs_and_exits_1_when_a_case_failed(
    cohort: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "registered"
    done = subprocess.run(
        [
            *REGISTER,
            f"manifest={cohort}",
            f"out_dir={out_dir}",
            "progress=false",
            "registration=physical",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert f"registered 1/2 cases (1 failed, 0 warnings) -> {out_dir}" in done.stdout
    assert "failed: broken:" in done.stderr and "missing.png" in done.stderr
    assert "Traceback" not in done.stderr
    assert (out_dir / "labels" / "ok_case.png").is_file()
    assert (out_dir / "qc" / "ok_case.png").is_file()
    assert (out_dir / "report.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registered"]  # Hydra wrote nothing


def test_cli_reports_bad_settings_cleanly(cohort: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *REGISTER,
            f"manifest={cohort}",
            f"out_dir={tmp_path / 'o'}",
            "registration.profile_threshold=2",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "registration.profile_threshold=2.0 must lie in (0, 1]" in done.stderr
    assert "Traceback" not in done.stderr
