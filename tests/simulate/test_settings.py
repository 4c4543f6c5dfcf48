"""Simulation settings: conf/simulate.yaml composes to the Python defaults, presets load, bad
values name the option."""

from __future__ import annotations

import pytest

from bus_seg.errors import ConfigError
from bus_seg.simulate import SimulationSettings
from bus_seg.simulate.settings import FaultSettings
from tests.helpers.configs import compose_entry


def _compose(*overrides: str):
    return compose_entry("simulate", "out_dir=x", *overrides)


def test_yaml_defaults_equal_python_defaults() -> None:
    assert SimulationSettings.from_config(_compose()) == SimulationSettings()


def test_groups_select_source_and_fault_preset() -> None:
    settings = SimulationSettings.from_config(
        _compose(
            "source=mask_folder", "source.path=/data/busi", "simulation=hard", "faults.debris=[0,1]"
        )
    )
    assert settings.source.kind == "mask_folder"
    assert settings.source.path == "/data/busi"
    assert settings.faults.difficulty == "hard"
    assert settings.faults.fragments == FaultSettings.preset("hard").fragments
    assert settings.faults.debris == (0, 1)


def test_plain_mapping_with_shorthands() -> None:
    settings = SimulationSettings.from_config(
        {"source": "phantom", "num_cases": 60, "seed": 7, "difficulty": "easy"}
    )
    assert (settings.num_cases, settings.seed, settings.difficulty) == (60, 7, "easy")
    assert settings.faults == FaultSettings.preset("easy")


def test_presets_grow_harder() -> None:
    easy, default, hard = (FaultSettings.preset(n) for n in ("easy", "default", "hard"))
    assert easy.fragments[1] <= default.fragments[1] <= hard.fragments[1]
    assert easy.core_rotation_deg <= default.core_rotation_deg <= hard.core_rotation_deg
    assert easy.serial_section_probability == 0.0


def test_hash_follows_settings() -> None:
    assert (
        SimulationSettings().settings_hash() == SimulationSettings.from_config({}).settings_hash()
    )
    assert SimulationSettings().settings_hash() != SimulationSettings(seed=1).settings_hash()


@pytest.mark.parametrize(
    ("config", "option"),
    [
        ({"num_cases": 0}, "num_cases"),
        ({"seed": -1}, "seed"),
        ({"faults": {"fragments": [0, 2]}}, "faults.fragments"),
        ({"faults": {"fragments": [3, 1]}}, "faults.fragments"),
        ({"faults": {"shrinkage": [0.3, 0.1]}}, "faults.shrinkage"),
        ({"faults": {"shrinkage": [-0.1, 0.1]}}, "faults.shrinkage"),
        ({"faults": {"gap_mm": [0.0, 1.0]}}, "faults.gap_mm"),
        ({"faults": {"debris_area_mm2": [0.01, 0.06]}}, "faults.debris_area_mm2"),
        ({"faults": {"serial_section_probability": 1.5}}, "faults.serial_section_probability"),
        ({"difficulty": "brutal"}, "faults.difficulty"),
        ({"tract": {"segment_length_mm": [-1, 5]}}, "tract.segment_length_mm"),
        ({"tract": {"cancer_fraction": [0.0, 1.0]}}, "tract.cancer_fraction"),
        ({"tract": {"gauge": 15}}, "tract.gauge"),
        ({"tract": {"entry_sides": ["top"]}}, "tract.entry_sides"),
        ({"phantom": {"spacing_mm": 0}}, "phantom.spacing_mm"),
        ({"phantom": {"image_size": [32, 32]}}, "phantom.image_size"),
        ({"wsi": {"formats": {"ome_tiff": 0, "tiff": 0, "png": 0}}}, "wsi.formats"),
        ({"wsi": {"formats": {"svs": 1}}}, "wsi.formats"),
        ({"wsi": {"mpp": 0}}, "wsi.mpp"),
        ({"wsi": {"compression": "lzma"}}, "wsi.compression"),
        ({"wsi": {"level_downsamples": [3]}}, "wsi.level_downsamples"),
        ({"annotation": {"label_image_probability": 2}}, "annotation.label_image_probability"),
        ({"images_per_patient": [2, 1]}, "images_per_patient"),
        ({"split": {"train": 1, "holdout": 1}}, "split"),
        ({"proximal_ends": ["middle"]}, "proximal_ends"),
        ({"source": {"kind": "mask_folder"}}, "source.path"),
        ({"source": {"kind": "dicom"}}, "source.kind"),
        ({"phantom": {"speckle": 1}}, "phantom.speckle"),
        ({"num_case": 3}, "num_case"),
    ],
)
def test_bad_settings_name_the_option(config: dict, option: str) -> None:
    with pytest.raises(ConfigError, match=option.replace(".", r"\.")):
        SimulationSettings.from_config(config)


def test_scan_mpp_needs_a_whole_ratio_and_the_scanner_formats() -> None:
    scanner = {"svs": 0.5, "ome_tiff": 0.5}
    settings = SimulationSettings.from_config(
        {"wsi": {"mpp": 2.0, "scan_mpp": 0.25, "formats": scanner}}
    )
    assert settings.wsi.scan_mpp == 0.25 and settings.wsi.formats["tiff"] == 0.0
    with pytest.raises(ConfigError, match="wsi.scan_mpp.*whole number"):
        SimulationSettings.from_config({"wsi": {"mpp": 2.0, "scan_mpp": 0.3, "formats": scanner}})
    with pytest.raises(ConfigError, match=r"\+wsi.formats.svs"):
        SimulationSettings.from_config({"wsi": {"mpp": 2.0, "scan_mpp": 0.5}})
    with pytest.raises(ConfigError, match="scanner's resolution"):
        SimulationSettings.from_config({"wsi": {"formats": {"svs": 1.0, "ome_tiff": 0.0}}})
