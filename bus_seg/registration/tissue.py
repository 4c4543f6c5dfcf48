"""Tissue of the biopsy core: foreground of a low-resolution WSI level, as a mask on a pixel grid.

The grid is a pyramid level (block-averaged further when the level is much finer than the
requested ``tissue_mpp``). Its pixel ``(r, c)`` has its centre at level-0 QuPath corner
coordinates ``(origin_x + (c + 0.5) * downsample_x, origin_y + (r + 0.5) * downsample_y)``, with
per-axis downsamples (level-0 size / level size on each axis, times the block size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu, threshold_triangle

from bus_seg.errors import RegistrationError
from bus_seg.io.wsi import WSI
from bus_seg.registration.settings import RegistrationSettings

DARK_LEVEL = 25
"""Grid pixels whose brightest channel is below this are never tissue (scanner margins, empty
tiles, pen and ink)."""
GLASS_TOLERANCE = 6
"""Pixels within this brightness of the glass's brightness mode estimate the glass colour."""
SAMPLE_SIZE = 500_000
"""At most about this many pixels estimate the glass colour and the threshold."""


@dataclass
class TissueMap:
    """The tissue mask of a core on a pixel grid of the WSI, and how that grid sits on level 0.

    Attributes:
        mask: H×W bool tissue mask (debris not yet removed).
        rgb: H×W×3 uint8 image of the grid (for QC pictures).
        origin: ``(x, y)`` of the grid's top-left corner in level-0 pixels.
        downsample: ``(x, y)`` level-0 pixels per grid pixel on each axis.
        mpp: micrometres per level-0 pixel.
        level: the pyramid level read.
        threshold: the foreground-score threshold used.
        warnings: notes for the report.
    """

    mask: np.ndarray
    rgb: np.ndarray
    origin: tuple[float, float]
    downsample: tuple[float, float]
    mpp: float
    level: int
    threshold: float
    warnings: list[str] = field(default_factory=list)

    @property
    def pixel_um(self) -> tuple[float, float]:
        """Grid pixel size ``(x, y)`` in micrometres."""
        return self.downsample[0] * self.mpp, self.downsample[1] * self.mpp

    def to_level0(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Level-0 corner coordinates ``(N, 2)`` of grid positions (centres at integers)."""
        x = self.origin[0] + (np.asarray(cols, dtype=float) + 0.5) * self.downsample[0]
        y = self.origin[1] + (np.asarray(rows, dtype=float) + 0.5) * self.downsample[1]
        return np.column_stack([x, y])

    def to_um(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Physical coordinates ``(N, 2)`` in µm (level-0 corner coordinates × MPP)."""
        return self.to_level0(rows, cols) * self.mpp

    def um_to_grid(self, points_um: np.ndarray) -> np.ndarray:
        """Grid positions ``(N, 2)`` as ``(col, row)`` of physical points (inverse of to_um)."""
        points = np.asarray(points_um, dtype=float) / self.mpp
        col = (points[:, 0] - self.origin[0]) / self.downsample[0] - 0.5
        row = (points[:, 1] - self.origin[1]) / self.downsample[1] - 0.5
        return np.column_stack([col, row])


def read_tissue_map(
    wsi: WSI, roi: tuple[int, int, int, int] | None, settings: RegistrationSettings
) -> TissueMap:
    """Read the WSI at about ``settings.tissue_mpp`` and find its tissue (inside ``roi``).

    Raises:
        InputError: the slide cannot be decoded.
        RegistrationError: no tissue is found.
    """
    level = wsi.best_level(settings.tissue_mpp)
    window = wsi.roi_to_level(level, roi)
    rgb = wsi.read_level(level, roi)
    (height0, width0), (height, width) = wsi.level_shapes[0], wsi.level_shapes[level]
    level_ds = (width0 / width, height0 / height)
    block = max(1, math.floor(settings.tissue_mpp / wsi.level_mpp(level) + 1e-6))
    rgb = block_mean(rgb, block)
    downsample = (level_ds[0] * block, level_ds[1] * block)
    origin = (window[0] * level_ds[0], window[1] * level_ds[1])
    inside = roi_mask(rgb.shape[:2], origin, downsample, roi)
    grid_um = min(downsample) * wsi.mpp
    mask, threshold = detect_tissue(rgb, settings, inside)
    mask = clean_mask(mask, settings.tissue_close_um / grid_um, settings.fill_holes) & inside
    if not mask.any():
        raise RegistrationError(
            f"no tissue found in the WSI{' inside wsi_roi' if roi else ''} (level {level}, "
            f"{grid_um:.3g} µm/px, threshold {threshold:.3g}); check wsi_path/wsi_roi, or set "
            "registration.tissue_threshold"
        )
    return TissueMap(mask, rgb, origin, downsample, wsi.mpp, level, threshold)


def block_mean(rgb: np.ndarray, block: int) -> np.ndarray:
    """Average ``block``×``block`` pixel blocks (the edge padded with white) as uint8."""
    if block == 1:
        return rgb
    height, width = rgb.shape[:2]
    pad_h, pad_w = (-height) % block, (-width) % block
    padded = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), constant_values=255)
    wide = np.uint16 if block <= 16 else np.uint32
    sums = np.zeros((padded.shape[0] // block, padded.shape[1] // block, 3), dtype=wide)
    for row in range(block):
        for col in range(block):
            sums += padded[row::block, col::block]
    return ((sums + block * block // 2) // (block * block)).astype(np.uint8)


def roi_mask(
    shape: tuple[int, int],
    origin: tuple[float, float],
    downsample: tuple[float, float],
    roi: tuple[int, int, int, int] | None,
) -> np.ndarray:
    """Grid pixels whose centres lie in the level-0 box ``roi = (x, y, w, h)`` (all if None)."""
    height, width = shape
    if roi is None:
        return np.ones(shape, dtype=bool)
    x, y, w, h = roi
    cx = origin[0] + (np.arange(width) + 0.5) * downsample[0]
    cy = origin[1] + (np.arange(height) + 0.5) * downsample[1]
    return ((cy >= y) & (cy < y + h))[:, None] & ((cx >= x) & (cx < x + w))[None, :]


def foreground_score(
    rgb: np.ndarray, method: str, inside: np.ndarray | None = None
) -> np.ndarray:
    """Per-pixel tissue score: summed optical density (``od``) or HSV saturation.

    The optical density of each channel is taken relative to the glass colour (see
    :func:`glass_colour`), so tinted or dim backgrounds score about zero.
    """
    if method == "saturation":
        top = rgb.max(axis=2).astype(np.float32)
        spread = top - rgb.min(axis=2)
        return spread / np.maximum(top, 1.0)
    glass = glass_colour(rgb, inside)
    levels = np.maximum(np.arange(256, dtype=np.float32), 1.0)
    score = np.zeros(rgb.shape[:2], dtype=np.float32)
    for channel in range(3):
        table = np.clip(-np.log10(levels / glass[channel]), 0.0, None).astype(np.float32)
        score += table[rgb[..., channel]]
    return score


def glass_colour(rgb: np.ndarray, inside: np.ndarray | None = None) -> np.ndarray:
    """Colour of the empty glass: median colour of the pixels at the brightness mode.

    The mode is sought among the brighter half of the pixels (``inside`` only), so the glass
    is found whether it covers most of the image or not.
    """
    pixels = rgb[inside] if inside is not None else rgb.reshape(-1, 3)
    if len(pixels) == 0:
        return np.full(3, 255.0, dtype=np.float32)
    pixels = pixels[:: max(1, len(pixels) // SAMPLE_SIZE)]
    brightness = (pixels.astype(np.uint16).sum(axis=1) // 3).astype(np.uint8)
    bright = brightness >= _histogram_median(brightness)
    mode = int(np.argmax(np.bincount(brightness[bright], minlength=256)))
    near = np.abs(brightness.astype(np.int16) - mode) <= GLASS_TOLERANCE
    glass = [_histogram_median(pixels[near, channel]) for channel in range(3)]
    return np.maximum(np.array(glass, dtype=np.float32), 1.0)


def _histogram_median(values: np.ndarray) -> int:
    """Median of uint8 values (lower median), from their histogram."""
    counts = np.cumsum(np.bincount(values, minlength=256))
    return int(np.searchsorted(counts, (counts[-1] + 1) // 2))


def detect_tissue(
    rgb: np.ndarray, settings: RegistrationSettings, inside: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Threshold the foreground score.

    The threshold is ``settings.tissue_threshold`` when set, else the lower of Otsu's and the
    triangle threshold (Otsu alone splits pale stroma from dark tumour when tumour is common;
    the triangle method finds the foot of the glass peak), never below
    ``settings.tissue_min_threshold``. Very dark pixels are never tissue.

    Returns:
        ``(mask, threshold)``.
    """
    score = foreground_score(rgb, settings.tissue_method, inside)
    values = score[inside] if inside is not None else score.ravel()
    values = values[:: max(1, values.size // SAMPLE_SIZE)]
    if settings.tissue_threshold is not None:
        threshold = float(settings.tissue_threshold)
    elif values.size == 0 or np.ptp(values) == 0:
        threshold = settings.tissue_min_threshold
    else:
        automatic = min(threshold_otsu(values), threshold_triangle(values))
        threshold = max(float(automatic), settings.tissue_min_threshold)
    dark = (rgb[..., 0] < DARK_LEVEL) & (rgb[..., 1] < DARK_LEVEL) & (rgb[..., 2] < DARK_LEVEL)
    mask = (score > threshold) & ~dark
    return mask, threshold


def clean_mask(mask: np.ndarray, close_radius_px: float, fill_holes: bool) -> np.ndarray:
    """Tidy a thresholded mask: an opening with a 3×3 square removes specks and spurs thinner
    than 3 pixels, a closing with a square of side ``2 * close_radius_px + 1`` closes small
    cracks, and holes (background not connected to the border) are optionally filled.

    Both use separable minimum/maximum filters, so their cost does not grow with the radius.
    """
    opened = ndimage.maximum_filter(ndimage.minimum_filter(mask, size=3, mode="constant"), size=3)
    radius = int(round(close_radius_px))
    if radius >= 1:
        size = 2 * radius + 1
        dilated = ndimage.maximum_filter(opened, size=size, mode="constant", cval=False)
        opened = ndimage.minimum_filter(dilated, size=size, mode="constant", cval=True)
    if fill_holes:
        opened = fill_mask_holes(opened)
    return opened


def fill_mask_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every background region that does not touch the border filled."""
    background, _ = ndimage.label(~mask)
    edge = np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])
    open_to_border = np.zeros(background.max() + 1, dtype=bool)
    open_to_border[edge] = True
    open_to_border[0] = True  # label 0 is the mask itself
    return mask | ~open_to_border[background]
