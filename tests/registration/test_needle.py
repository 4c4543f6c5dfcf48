"""Automatic needle finding on speckle images with a drawn needle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage.draw import polygon

from bus_seg.errors import RegistrationError
from bus_seg.io.images import write_png
from bus_seg.io.manifest import read_manifest
from bus_seg.registration.case import register_case
from bus_seg.registration.needle import find_needle
from bus_seg.registration.settings import RegistrationSettings
from tests.helpers.registration_cases import small_spec
from tests.helpers.registration_factory import write_cohort

SPACING_MM = 0.1


def speckle_with_needle(
    angle_deg: float, tip: tuple[float, float], length_px: float = 180.0, seed: int = 0
) -> np.ndarray:
    """Rayleigh speckle with a bright 3-pixel-wide needle entering towards ``tip``."""
    rng = np.random.default_rng(seed)
    image = rng.rayleigh(40.0, (300, 400))
    direction = np.array([np.cos(np.deg2rad(angle_deg)), np.sin(np.deg2rad(angle_deg))])
    normal = np.array([-direction[1], direction[0]])
    end = np.array(tip)
    start = end - length_px * direction
    corners = [start + 1.5 * normal, end + 1.5 * normal, end - 1.5 * normal, start - 1.5 * normal]
    rows, cols = polygon([c[1] for c in corners], [c[0] for c in corners], image.shape)
    image[rows, cols] = 210
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("angle_deg", [10.0, 25.0, 45.0, 70.0, 135.0, 160.0])
def test_needle_tip_and_direction_are_found(angle_deg: float) -> None:
    tip = (230.0, 200.0)
    image = speckle_with_needle(angle_deg, tip)
    found = find_needle(image, SPACING_MM, throw_length_mm=12.0)
    assert np.hypot(*(np.array(found.tip) - tip)) < 5  # within 0.5 mm
    x0, y0, x1, y1 = found.tract
    assert (x1, y1) == pytest.approx(found.tip)
    assert np.hypot(x1 - x0, y1 - y0) * SPACING_MM == pytest.approx(12.0)
    angle = np.degrees(np.arctan2(y1 - y0, x1 - x0))
    assert angle == pytest.approx(angle_deg, abs=1.5)
    assert found.confidence > 0.5
    assert found.visible_length_mm == pytest.approx(18.0, abs=1.0)


def test_a_level_needle_points_away_from_the_side_it_enters() -> None:
    image = speckle_with_needle(0.0, (300.0, 150.0), length_px=250.0)  # enters at the left edge
    found = find_needle(image, SPACING_MM, throw_length_mm=10.0)
    assert found.tip[0] == pytest.approx(300.0, abs=5)
    assert found.tract[0] < found.tract[2]


def test_speckle_without_a_needle_has_low_confidence() -> None:
    image = np.clip(np.random.default_rng(3).rayleigh(40.0, (300, 400)), 0, 255).astype(np.uint8)
    assert find_needle(image, SPACING_MM, 10.0).confidence < 0.5


def test_auto_needle_registers_rows_without_tract_points(tmp_path: Path) -> None:
    spec = small_spec("needle", us_shape=(300, 400), tract=(70.0, 79.0, 230.0, 200.0))
    manifest_path = write_cohort([spec], tmp_path)
    text = manifest_path.read_text().splitlines()
    header = text[0].split(",")
    cells = text[1].split(",")
    for column in ("tract_x0", "tract_y0", "tract_x1", "tract_y1"):
        cells[header.index(column)] = ""
    manifest_path.write_text("\n".join([text[0], ",".join(cells)]) + "\n")
    angle = np.degrees(np.arctan2(121.0, 160.0))
    write_png(tmp_path / "needle" / "us.png", speckle_with_needle(angle, (230.0, 200.0), 260.0))
    record = read_manifest(manifest_path, require_tract=False).records[0]
    settings = RegistrationSettings(needle="auto", throw_length_mm=20.0)
    case = register_case(record, settings)
    assert case.fields["needle"] == "auto" and case.fields["needle_confidence"] > 0.5
    assert case.tract.length_mm == pytest.approx(20.0)
    assert np.hypot(case.tract.x1 - 230.0, case.tract.y1 - 200.0) < 5
    assert (case.labels != 255).sum() > 0
    with pytest.raises(RegistrationError, match="min_needle_confidence"):
        register_case(record, RegistrationSettings(needle="auto", min_needle_confidence=0.99))
