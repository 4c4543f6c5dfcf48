"""QC pictures, and tissue detection on the real SVS slides of the shared data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bus_seg.io.manifest import read_manifest
from bus_seg.io.wsi import open_wsi
from bus_seg.registration.case import register_case
from bus_seg.registration.fragments import find_fragments
from bus_seg.registration.qc import render_qc
from bus_seg.registration.settings import RegistrationSettings
from bus_seg.registration.tissue import read_tissue_map
from tests.helpers.registration_cases import small_spec
from tests.helpers.registration_factory import write_cohort


def test_qc_picture_is_a_png_with_both_panels(tmp_path: Path) -> None:
    record = read_manifest(write_cohort([small_spec("qc")], tmp_path)).records[0]
    case = register_case(record, RegistrationSettings())
    path = tmp_path / "qc.png"
    path.write_bytes(render_qc(case, dpi=50))
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (650, 260)  # 13 × 5.2 inches at 50 dpi
        pixels = np.asarray(image.convert("RGB"))
    assert (np.abs(pixels.astype(int) - (230, 0, 230)).sum(axis=2) < 60).any()  # annotation outline


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "mpp"),
    [("cmu_small_region.svs", None), ("tcga-cr-7395-01a-01-ts1.svs", 0.5)],  # tcga has no MPP
)
def test_tissue_is_found_on_the_real_slides(
    shared_data: Path, name: str, mpp: float | None
) -> None:
    settings = RegistrationSettings()
    with open_wsi(shared_data / "wsi" / name, mpp) as wsi:
        tissue = read_tissue_map(wsi, None, settings)
    assert 0.2 < tissue.mask.mean() < 0.95
    core = find_fragments(tissue, settings.min_fragment_area_mm2, "left")
    assert core.fragments and core.total_length_um > 500
