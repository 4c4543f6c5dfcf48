"""Configs have one source: option files hold only their deltas, defaults live in the settings
dataclasses, and no library code reads the config tree."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from bus_seg.config import compose_config, field_defaults
from bus_seg.labels import DEFAULT_CANCER_CLASSES
from bus_seg.registration import RegistrationSettings
from bus_seg.simulate.settings import FAULT_PRESETS, SimulationSettings, SourceSettings

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
PACKAGE = ROOT / "bus_seg"
HYDRA_GLUE = {PACKAGE / "config.py", PACKAGE / "paths.py", PACKAGE / "cli" / "app.py"}
"""Where naming the packaged config module is the point: Hydra composes from it."""

BASES = {
    "registration": field_defaults(RegistrationSettings),
    "source": field_defaults(SourceSettings),
    "model": yaml.safe_load((CONF / "model" / "_base.yaml").read_text(encoding="utf-8")),
}


def option_files(group: str) -> list[Path]:
    return sorted(p for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


@pytest.mark.parametrize(
    "path",
    [path for group in BASES for path in option_files(group)],
    ids=lambda path: f"{path.parent.name}/{path.stem}",
)
def test_option_files_hold_only_their_delta(path: Path) -> None:
    values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    assert values.pop("defaults") == ["_base", "_self_"]
    base = BASES[path.parent.name]
    repeated = sorted(key for key, value in values.items() if key in base and base[key] == value)
    assert not repeated, f"{path} repeats its base's values of {repeated}"


@pytest.mark.parametrize("option", [p.stem for p in option_files("registration")])
def test_registration_options_compose_every_setting(option: str) -> None:
    cfg = compose_config([f"registration={option}", "manifest=m", "out_dir=o"], "register")
    settings = RegistrationSettings.from_config(cfg.registration)
    assert settings.to_dict() == OmegaConf.to_container(cfg.registration)
    delta = yaml.safe_load((CONF / "registration" / f"{option}.yaml").read_text()) or {}
    changed = {k for k, v in RegistrationSettings().to_dict().items() if settings.to_dict()[k] != v}
    assert changed == set(delta) - {"defaults"}


@pytest.mark.parametrize("preset", sorted(FAULT_PRESETS))
def test_simulate_config_is_the_python_defaults(preset: str) -> None:
    cfg = compose_config(["out_dir=x", f"simulation={preset}"], "simulate")
    values = {k: v for k, v in cfg.items() if k != "hydra"}
    assert SimulationSettings.from_config(values) == SimulationSettings.from_config(
        {"difficulty": preset}
    )
    assert set(values) - {f.name for f in dataclasses.fields(SimulationSettings)} == {
        "out_dir",
        "workers",
        "progress",
    }


def test_cancer_classes_have_one_source() -> None:
    """The list is written once (in Python); no config file spells it out again."""
    spelled = [
        str(path.relative_to(ROOT))
        for path in sorted(CONF.rglob("*.yaml"))
        if "Carcinoma" in path.read_text(encoding="utf-8")
    ]
    assert spelled == []
    cfg = compose_config(["out_dir=x"], "simulate")
    assert tuple(cfg.annotation.cancer_classes) == DEFAULT_CANCER_CLASSES
    assert tuple(compose_config().registration.cancer_classes) == DEFAULT_CANCER_CLASSES


def _reads_the_config_tree(node: ast.AST) -> str | None:
    """What in ``node`` locates the packaged configs, or None."""
    if isinstance(node, ast.Name | ast.Attribute):
        name = node.id if isinstance(node, ast.Name) else node.attr
        if name == "config_dir":
            return "config_dir"
    if isinstance(node, ast.Import | ast.ImportFrom):
        names = [alias.name for alias in node.names]
        modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else names
        if any(m == "bus_seg.conf" or m.startswith("bus_seg.conf.") for m in modules):
            return "import bus_seg.conf"
        if isinstance(node, ast.ImportFrom) and node.module == "bus_seg" and "conf" in names:
            return "import bus_seg.conf"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value.strip()
        if text == "conf" or text.startswith(("conf/", "bus_seg.conf", "pkg://bus_seg.conf")):
            return repr(node.value)
    return None


def test_library_code_opens_no_config_file() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in HYDRA_GLUE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            found = _reads_the_config_tree(node)
            if found:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {found}")
    assert offenders == []


def test_the_check_finds_a_config_read() -> None:
    code = "from bus_seg.paths import config_dir\nyaml.safe_load(config_dir() / 'x.yaml')\n"
    found = {_reads_the_config_tree(node) for node in ast.walk(ast.parse(code))}
    assert "config_dir" in found
    assert _reads_the_config_tree(
        ast.parse("open('conf/simulation/easy.yaml')").body[0].value.args[0]
    )
