"""Small simulated cohorts shared by the simulator's tests (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus_seg.simulate import simulate_cohort

SMALL = {
    "num_cases": 4,
    "seed": 3,
    "images_per_patient": [1, 2],
    "split": {"train": 0.5, "val": 0.25, "test": 0.25},
    "faults": {"serial_section_probability": 0.5, "debris": [1, 3]},
    "wsi": {"formats": {"ome_tiff": 1, "tiff": 1, "png": 1}, "manifest_mpp_probability": 0.5},
    "annotation": {"label_image_probability": 0.4, "stroma_probability": 0.5},
}
"""Every WSI format, both annotation kinds, serial sections, debris and splits, in 4 cases."""


@pytest.fixture(scope="session")
def small_settings() -> dict:
    """Settings of :func:`small_cohort`."""
    return SMALL


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Manifest of a 4-case phantom cohort."""
    return simulate_cohort(tmp_path_factory.mktemp("cohort") / "small", SMALL, progress=False)
