"""A tiny built-in dataset for tests and smoke runs: speckled images, dark lesions, strip labels.

It needs no input files. Labels mimic registered cohorts: a strip through the lesion is labelled
(1 lesion, 0 not), everything else is 255. For realistic cohorts use :mod:`bus_seg.simulate`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.draw import ellipse, polygon

from bus_seg.io.atomic import write_text_atomic
from bus_seg.io.images import write_png
from bus_seg.labels import IGNORE_LABEL

SPACING_MM = 0.2


def synthetic_case(
    rng: np.random.Generator, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One (image, strip labels, full lesion mask) triple of ``size``×``size`` pixels."""
    speckle = gaussian_filter(rng.rayleigh(1.0, (size, size)), sigma=0.8)
    lesion = np.zeros((size, size), dtype=np.uint8)
    cy, cx = rng.uniform(0.35, 0.65, 2) * size
    ry, rx = rng.uniform(0.08, 0.2, 2) * size
    rr, cc = ellipse(cy, cx, ry, rx, shape=lesion.shape, rotation=rng.uniform(0, np.pi))
    lesion[rr, cc] = 1
    image = speckle * np.where(lesion > 0, 0.35, 1.0) * np.linspace(1.2, 0.7, size)[:, None]
    image = np.clip(image / np.percentile(image, 99.5) * 230, 0, 255).astype(np.uint8)
    angle = rng.uniform(0, np.pi)
    direction, normal = (
        np.array([np.cos(angle), np.sin(angle)]),
        np.array([-np.sin(angle), np.cos(angle)]),
    )
    half_length, half_width = 0.45 * size, max(2.0, 0.04 * size)
    centre = np.array([cx, cy])
    corners = [
        centre + sl * half_length * direction + sw * half_width * normal
        for sl, sw in ((-1, -1), (1, -1), (1, 1), (-1, 1))
    ]
    strip = np.zeros_like(lesion, dtype=bool)
    rr, cc = polygon([c[1] for c in corners], [c[0] for c in corners], shape=strip.shape)
    strip[rr, cc] = True
    labels = np.where(strip, lesion, IGNORE_LABEL).astype(np.uint8)
    return image, labels, lesion


def write_synthetic_dataset(
    out_dir: str | Path, num_images: int = 24, size: int = 96, seed: int = 0
) -> Path:
    """Write the dataset (PNG files + ``table.csv``) once; later calls reuse it. Returns the CSV path."""
    out_dir = Path(out_dir)
    table = out_dir / "table.csv"
    if table.is_file():
        return table
    rng = np.random.default_rng(seed)
    rows = ["image_id,patient_id,image_path,label_path,lesion_mask_path,spacing_mm"]
    for index in range(num_images):
        image, labels, lesion = synthetic_case(rng, size)
        case = f"syn{index:03d}"
        write_png(out_dir / "images" / f"{case}.png", image)
        write_png(out_dir / "labels" / f"{case}.png", labels)
        write_png(out_dir / "lesions" / f"{case}.png", lesion)
        patient = f"p{index // 2:03d}"
        rows.append(
            f"{case},{patient},images/{case}.png,labels/{case}.png,lesions/{case}.png,{SPACING_MM}"
        )
    return write_text_atomic(table, "\n".join(rows) + "\n")
