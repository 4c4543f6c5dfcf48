"""Registration settings: configs, validation with messages naming the option, cache split."""

from __future__ import annotations

import dataclasses

import pytest
from omegaconf import OmegaConf

from bus_seg.config import compose_config
from bus_seg.errors import ConfigError
from bus_seg.registration.settings import RegistrationSettings

OPTIONS = ["fit_tract_profile", "fit_tract_area", "physical", "auto_needle"]


def composed(option: str) -> dict:
    cfg = compose_config([f"registration={option}", "manifest=m", "out_dir=o"], "register")
    return OmegaConf.to_container(cfg.registration)


@pytest.mark.parametrize("option", OPTIONS)
def test_every_registration_option_builds_and_exposes_every_setting(option: str) -> None:
    values = composed(option)
    assert set(values) == {f.name for f in dataclasses.fields(RegistrationSettings)}
    settings = RegistrationSettings.from_config(values)
    assert settings.to_dict() == values


def test_defaults_equal_the_default_option() -> None:
    assert RegistrationSettings.from_config(composed("fit_tract_profile")) == RegistrationSettings()


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"placement": "stretch"}, "registration.placement"),
        ({"projection": "volume"}, "registration.projection"),
        ({"profile_threshold": 0.0}, "registration.profile_threshold"),
        ({"profile_threshold": 1.5}, "registration.profile_threshold"),
        ({"shrinkage": 1.0}, "registration.shrinkage"),
        ({"tissue_mpp": -4}, "registration.tissue_mpp"),
        ({"min_fragment_area_mm2": "big"}, "registration.min_fragment_area_mm2"),
        ({"qc": "yes"}, "registration.qc"),
        ({"qc_dpi": 72.5}, "registration.qc_dpi"),
        ({"cancer_classes": []}, "registration.cancer_classes"),
        ({"needle": "magnet"}, "registration.needle"),
        ({"anchor": "middle"}, "registration.anchor"),
        ({"core_diameter_mm_override": 0}, "registration.core_diameter_mm_override"),
        ({"profile_treshold": 0.5}, "registration.profile_treshold"),
    ],
)
def test_bad_settings_name_the_option(values: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        RegistrationSettings.from_config(values)


def test_qc_settings_do_not_enter_the_label_settings() -> None:
    base = RegistrationSettings()
    changed = RegistrationSettings.from_config({"qc": False, "qc_dpi": 50})
    assert base.label_settings() == changed.label_settings()
    assert base.qc_settings() != changed.qc_settings()
    thresholded = RegistrationSettings.from_config({"profile_threshold": 0.4})
    assert thresholded.label_settings() != base.label_settings()


def test_integers_and_single_class_names_are_coerced() -> None:
    settings = RegistrationSettings.from_config({"tissue_mpp": 8, "cancer_classes": "Tumor"})
    assert settings.tissue_mpp == 8.0 and isinstance(settings.tissue_mpp, float)
    assert settings.cancer_classes == ("Tumor",)
