"""The B-mode phantom: deterministic, lesion mask = field at pixel centres, hypoechoic lesion."""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage

from bus_seg.simulate.lesion_field import MaskField, rasterize_field
from bus_seg.simulate.phantom import render_phantom, sample_anatomy
from bus_seg.simulate.settings import PhantomSettings
from bus_seg.simulate.speckle import log_compress, speckle_envelope


def _render(seed: int, settings: PhantomSettings | None = None):
    settings = settings or PhantomSettings()
    rng = np.random.default_rng(seed)
    return render_phantom(sample_anatomy(settings, rng), settings, rng, shift_mm=0.5)


def test_same_seed_same_image_and_different_seed_differs() -> None:
    a, b, c = _render(1), _render(1), _render(2)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.lesion_mask, b.lesion_mask)
    assert not np.array_equal(a.image, c.image)


def test_image_size_type_and_speed() -> None:
    settings = PhantomSettings(image_size=(256, 256), spacing_mm=0.15)
    start = time.perf_counter()
    phantom = _render(3, settings)
    assert time.perf_counter() - start < 1.5  # about 0.1 s on an idle core
    assert phantom.image.shape == (256, 256) and phantom.image.dtype == np.uint8
    assert phantom.spacing_mm == 0.15
    assert 0 < phantom.lesion_mask.mean() < 0.5


def test_mask_is_the_field_at_pixel_centres() -> None:
    phantom = _render(4)
    assert np.array_equal(
        rasterize_field(phantom.field, phantom.lesion_mask.shape), phantom.lesion_mask
    )


def test_lesion_is_hypoechoic() -> None:
    for seed in range(4):
        phantom = _render(seed)
        inside = ndimage.binary_erosion(phantom.lesion_mask, iterations=3)
        ring = ndimage.binary_dilation(
            phantom.lesion_mask, iterations=12
        ) & ~ndimage.binary_dilation(phantom.lesion_mask, iterations=4)
        assert phantom.image[inside].mean() < 0.6 * phantom.image[ring].mean()


def test_speckle_is_rayleigh_like() -> None:
    rng = np.random.default_rng(0)
    envelope = speckle_envelope(np.ones((256, 256), dtype=np.float32), (1.2, 2.0), rng)
    snr = envelope.mean() / envelope.std()
    assert 1.6 < snr < 2.2  # Rayleigh: 1.91
    assert abs(np.mean(envelope**2) - 1.0) < 0.15  # mean power = echogenicity
    image = log_compress(envelope, 50.0, float(np.percentile(envelope, 99)))
    assert image.dtype == np.uint8 and image.max() == 255


def test_mask_field_interpolates_between_centres() -> None:
    mask = np.zeros((5, 5), dtype=bool)
    mask[1:4, 1:4] = True
    field = MaskField(mask)
    x = np.array([2.0, 0.6, 0.4, 3.4, 3.6])
    y = np.array([2.0, 2.0, 2.0, 2.0, 2.0])
    assert field.contains(x, y).tolist() == [True, True, False, True, False]
