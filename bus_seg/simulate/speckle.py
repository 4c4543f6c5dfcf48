"""Ultrasound speckle: a complex scatterer field blurred by the point-spread function, its
envelope, and log compression to an 8-bit B-mode image."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def smooth_noise(
    shape: tuple[int, int], sigma_px: float | tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """Gaussian-filtered white noise with zero mean and unit standard deviation (float32)."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    smooth = ndimage.gaussian_filter(noise, sigma_px, mode="wrap")
    return (smooth - smooth.mean()) / max(float(smooth.std()), 1e-6)


def speckle_envelope(
    echogenicity: np.ndarray,
    psf_sigma_px: tuple[float, float],
    rng: np.random.Generator,
    compounding: int = 1,
) -> np.ndarray:
    """Envelope of fully developed speckle over a map of backscattered power.

    Complex Gaussian scatterers weighted by ``sqrt(echogenicity)`` are convolved with a
    Gaussian point-spread function (axial, lateral standard deviations in pixels); the
    magnitude is Rayleigh distributed with a local mean that follows the echogenicity.
    Spatial compounding averages the envelopes of independent looks, as scanners do, which
    lowers the speckle contrast by about the square root of their number.

    Args:
        echogenicity: H×W backscattered power (linear, ≥ 0).
        psf_sigma_px: ``(axial, lateral)`` PSF standard deviations in pixels.
        rng: random generator of the scatterers.
        compounding: number of independent looks averaged.

    Returns:
        H×W float32 envelope.
    """
    amplitude = np.sqrt(np.maximum(echogenicity, 0.0)).astype(np.float32)
    # Normalise so that the mean power equals the echogenicity of a uniform region.
    gain = np.sqrt(2.0 * np.pi * psf_sigma_px[0] * psf_sigma_px[1]) / compounding
    envelope = np.zeros(echogenicity.shape, dtype=np.float32)
    for _ in range(compounding):
        real = rng.standard_normal(echogenicity.shape, dtype=np.float32) * amplitude
        imag = rng.standard_normal(echogenicity.shape, dtype=np.float32) * amplitude
        real = ndimage.gaussian_filter(real, psf_sigma_px, mode="reflect")
        imag = ndimage.gaussian_filter(imag, psf_sigma_px, mode="reflect")
        envelope += np.hypot(real, imag) * gain
    return envelope


def log_compress(
    envelope: np.ndarray, dynamic_range_db: float, reference: float, gamma: float = 1.0
) -> np.ndarray:
    """Map an envelope to 8-bit gray: ``reference`` -> 255, ``dynamic_range_db`` below -> 0."""
    decibels = 20.0 * np.log10(np.maximum(envelope, 1e-12) / reference)
    level = np.clip((decibels + dynamic_range_db) / dynamic_range_db, 0.0, 1.0) ** gamma
    return np.rint(level * 255.0).astype(np.uint8)
