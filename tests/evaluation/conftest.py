"""Small synthetic evaluated samples: an ellipse lesion, a diagonal biopsy strip, a shifted prediction."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from bus_seg.training.eval_sample import EvalSample


def synthetic_samples(
    n: int, *, seed: int = 0, shape: tuple[int, int] = (72, 96), shift: int = 0, lesion: bool = True
) -> list[EvalSample]:
    """``n`` samples with strip labels (0/1/255), a prediction ellipse and optionally a lesion mask."""
    rng = np.random.default_rng(seed)
    height, width = shape
    yy, xx = np.mgrid[:height, :width]
    samples = []
    for index in range(n):
        cy = height // 2 + int(rng.integers(-4, 5))
        cx = width // 2 + int(rng.integers(-6, 7))
        lesion_mask = ((yy - cy) / (height / 5)) ** 2 + ((xx - cx) / (width / 4)) ** 2 <= 1
        image = rng.integers(40, 200, shape).astype(np.uint8)
        image[lesion_mask] //= 3
        strip = np.abs((yy - cy) - 0.4 * (xx - cx)) < 3
        target = np.full(shape, 255, np.uint8)
        target[strip] = 0
        target[strip & lesion_mask] = 1
        px = cx + shift + int(rng.integers(-3, 4))
        pred = (((yy - cy) / (height / 5.5)) ** 2 + ((xx - px) / (width / 4.5)) ** 2 <= 1).astype(
            np.uint8
        )
        samples.append(
            EvalSample(
                image_id=f"case_{index:03d}",
                patient_id=f"patient_{index // 2}",
                image=image,
                target=target,
                pred=pred,
                spacing_mm=0.2,
                lesion_mask=lesion_mask.astype(np.uint8) if lesion else None,
            )
        )
    return samples


@pytest.fixture
def make_samples() -> Callable[..., list[EvalSample]]:
    """Factory of :func:`synthetic_samples`."""
    return synthetic_samples
