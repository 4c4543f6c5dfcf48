"""The contact sheet renders the cohort's cases to a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from bus_seg.simulate import render_contact_sheet


def test_contact_sheet(small_cohort: Path, tmp_path: Path) -> None:
    out = render_contact_sheet(small_cohort, tmp_path / "sheet.png", n=3, dpi=80)
    image = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert image.shape[0] > image.shape[1] / 2 and image.std() > 20
    # the cancer tint of the strips (red) and the slide's stains (purple) are both drawn
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    red = (r > g + 50) & (r > b + 50)
    purple = (b > g + 30) & (r > g + 20)
    assert red.sum() > 50 and purple.sum() > 500
