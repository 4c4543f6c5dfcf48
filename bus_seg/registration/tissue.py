"""Tissue of the biopsy core: foreground of a low-resolution WSI level, as a mask on a pixel grid.

The grid is a pyramid level (block-averaged further when the level is much finer than the
requested ``tissue_mpp``). Its pixel ``(r, c)`` has its centre at level-0 QuPath corner
coordinates ``(origin_x + (c + 0.5) * downsample_x, origin_y + (r + 0.5) * downsample_y)``, with
per-axis downsamples (level-0 size / level size on each axis, times the block size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu, threshold_triangle

from bus_seg.errors import RegistrationError
from bus_seg.io.wsi import WSI, block_mean
from bus_seg.registration.settings import RegistrationSettings

DARK_LEVEL = 25
"""Grid pixels whose brightest channel is below this are never tissue (scanner margins, empty
tiles, pen and ink)."""
GLASS_TOLERANCE = 6
"""Pixels within this brightness of the glass's brightness mode estimate the glass colour."""
SAMPLE_SIZE = 500_000
"""At most about this many pixels estimate the glass colour and the threshold."""
COARSE_MPP = 16.0
"""µm per pixel of the coarse grid the tissue's boxes are found on (never finer than
``tissue_mpp``)."""
REGION_MARGIN_UM = 400.0
"""Glass read around each piece found on the coarse grid."""
COARSE_MIN_AREA_SHARE = 0.25
MAX_SLIDE_MM = 100.0
"""Largest physical side of a slide image: glass slides are 75 × 25 mm (large format 75 × 50)."""
"""Coarse pieces smaller than this share of ``min_fragment_area_mm2`` get no box."""
MAX_REGION_SHARE = 0.75
"""Boxes covering more than this share of the slide (or ``wsi_roi``): the whole is read."""
MIN_REGION_PIXELS = 2**20
"""Working windows of at most this many level pixels are read whole."""

Roi = tuple[int, int, int, int]


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


def read_tissue_map(wsi: WSI, roi: Roi | None, settings: RegistrationSettings) -> TissueMap:
    """Read the WSI at about ``settings.tissue_mpp`` and find its tissue (inside ``roi``).

    With ``settings.tissue_regions`` the tissue is first found on a coarse grid (about
    :data:`COARSE_MPP`), and only its bounding boxes (with :data:`REGION_MARGIN_UM` of glass,
    aligned to the file's tiles) are read at the working resolution: the grid then covers the
    boxes, and the glass colour and threshold are estimated from them (so pixels at the edge of
    the tissue may differ from a whole-level read). The grid's pixels are those the whole level
    would give (same level, same block origin). When the slide is small or the boxes would
    cover most of it, the whole level (or ``roi``) is read, band by band. Without
    ``tissue_regions`` the whole level (or ``roi``) is decoded at once (the plain reference).

    Raises:
        InputError: the slide cannot be decoded.
        RegistrationError: no tissue is found, or the slide is larger than any glass slide at
            its MPP (a wrong ``wsi_mpp``; checked before any pixel is decoded).
    """
    check_physical_size(wsi)
    level = wsi.best_level(settings.tissue_mpp)
    block = max(1, math.floor(settings.tissue_mpp / wsi.level_mpp(level) + 1e-6))
    window = wsi.roi_to_level(level, roi)
    read = None
    if not settings.tissue_regions:
        rgb, corner = block_mean(wsi.read_level(level, roi), block), window[:2]
    else:
        boxes = _tissue_boxes(wsi, roi, settings, level, block, window)
        if boxes is None:
            rgb, corner = wsi.read_reduced(level, block, roi)[0], window[:2]
        else:
            rgb, read, corner = _read_boxes(wsi, level, block, boxes)
    (height0, width0), (height, width) = wsi.level_shapes[0], wsi.level_shapes[level]
    level_ds = (width0 / width, height0 / height)
    downsample = (level_ds[0] * block, level_ds[1] * block)
    origin = (corner[0] * level_ds[0], corner[1] * level_ds[1])
    inside = roi_mask(rgb.shape[:2], origin, downsample, roi)
    if read is not None:
        inside &= read
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


def check_physical_size(wsi: WSI) -> None:
    """Refuse a slide whose level 0 spans more than :data:`MAX_SLIDE_MM` at its MPP.

    Raises:
        RegistrationError: names the size in pixels and mm, the MPP and the likely fix.
    """
    height, width = wsi.level_shapes[0]
    side_mm = max(height, width) * wsi.mpp / 1000.0
    if side_mm > MAX_SLIDE_MM:
        raise RegistrationError(
            f"the slide is {width}×{height} px, {width * wsi.mpp / 1000:.0f}×{height * wsi.mpp / 1000:.0f} mm "
            f"at {wsi.mpp:g} µm/px: larger than any glass slide (≤ {MAX_SLIDE_MM:g} mm); check wsi_mpp "
            "(micrometres per level-0 pixel) or the file's resolution tags"
        )


def _tissue_boxes(
    wsi: WSI,
    roi: Roi | None,
    settings: RegistrationSettings,
    level: int,
    block: int,
    window: Roi,
) -> list[Roi] | None:
    """Windows ``(x, y, w, h)`` of ``level`` around the tissue found on a coarse grid.

    Each box starts and ends on the file's tiles and on the working grid's blocks (counted
    from ``window``'s corner), clipped to ``window``; overlapping boxes are merged. None when
    the window is small, no tissue is found on the coarse grid (the caller reads the whole
    window and reports), or the boxes cover more than :data:`MAX_REGION_SHARE` of it.
    """
    if window[2] * window[3] <= MIN_REGION_PIXELS:
        return None
    coarse_mpp = max(COARSE_MPP, settings.tissue_mpp)
    coarse = wsi.best_level(coarse_mpp)
    coarse_block = max(1, math.floor(coarse_mpp / wsi.level_mpp(coarse) + 1e-6))
    rgb, coarse_window = wsi.read_reduced(coarse, coarse_block, roi)
    height0, width0 = wsi.level_shapes[0]
    height_c, width_c = wsi.level_shapes[coarse]
    step = (width0 / width_c * coarse_block, height0 / height_c * coarse_block)
    origin = (coarse_window[0] * width0 / width_c, coarse_window[1] * height0 / height_c)
    inside = roi_mask(rgb.shape[:2], origin, step, roi)
    mask, _ = detect_tissue(rgb, settings, inside)
    labels, count = ndimage.label(mask & inside, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return None
    pixel_mm2 = step[0] * step[1] * wsi.mpp**2 * 1e-6
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:] * pixel_mm2
    height, width = wsi.level_shapes[level]
    scale = (width / width0, height / height0)
    margin = (REGION_MARGIN_UM / wsi.mpp * scale[0], REGION_MARGIN_UM / wsi.mpp * scale[1])
    tile_h, tile_w = wsi.tile_shape(level)
    boxes = []
    for area, (rows, cols) in zip(areas, ndimage.find_objects(labels), strict=True):
        if area < COARSE_MIN_AREA_SHARE * settings.min_fragment_area_mm2:
            continue
        x0 = (origin[0] + cols.start * step[0]) * scale[0] - margin[0]
        x1 = (origin[0] + cols.stop * step[0]) * scale[0] + margin[0]
        y0 = (origin[1] + rows.start * step[1]) * scale[1] - margin[1]
        y1 = (origin[1] + rows.stop * step[1]) * scale[1] + margin[1]
        xs = _aligned(x0, x1, tile_w, block, window[0], window[0] + window[2])
        ys = _aligned(y0, y1, tile_h, block, window[1], window[1] + window[3])
        if xs[1] > xs[0] and ys[1] > ys[0]:
            boxes.append((xs[0], ys[0], xs[1] - xs[0], ys[1] - ys[0]))
    boxes = _merged(boxes)
    if not boxes or sum(w * h for _, _, w, h in boxes) > MAX_REGION_SHARE * window[2] * window[3]:
        return None
    return boxes


def _aligned(
    start: float, stop: float, tile: int, block: int, low: int, high: int
) -> tuple[int, int]:
    """``[start, stop)`` widened to whole tiles, then to whole blocks counted from ``low``,
    within ``[low, high)``."""
    first = max(math.floor(start / tile) * tile, low)
    last = min(math.ceil(stop / tile) * tile, high)
    first = low + (first - low) // block * block
    last = min(low + math.ceil((last - low) / block) * block, high)
    return first, last


def _merged(boxes: list[Roi]) -> list[Roi]:
    """The boxes with overlapping ones replaced by their bounding box, until none overlap."""
    boxes = list(boxes)
    index = 0
    while index < len(boxes):
        x, y, w, h = boxes[index]
        for other in range(index + 1, len(boxes)):
            ox, oy, ow, oh = boxes[other]
            if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                x0, y0 = min(x, ox), min(y, oy)
                x1, y1 = max(x + w, ox + ow), max(y + h, oy + oh)
                boxes[index] = (x0, y0, x1 - x0, y1 - y0)
                del boxes[other]
                index = -1  # a grown box may now overlap an earlier one: start again
                break
        index += 1
    return boxes


def _read_boxes(
    wsi: WSI, level: int, block: int, boxes: list[Roi]
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Read the level windows ``boxes``, block-averaged, onto one white canvas.

    Returns:
        ``(rgb, read, corner)``: the canvas, which of its pixels were read, and the level
        pixel of its top-left corner (every box starts a whole number of blocks from it).
    """
    height0, width0 = wsi.level_shapes[0]
    height, width = wsi.level_shapes[level]
    scale = (width0 / width, height0 / height)
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    shape = (math.ceil((bottom - top) / block), math.ceil((right - left) / block))
    rgb = np.full((*shape, 3), 255, dtype=np.uint8)
    read = np.zeros(shape, dtype=bool)
    for x, y, w, h in boxes:
        # a quarter pixel inside the box's edges: rounding cannot add a row or column
        roi = (
            (x + 0.25) * scale[0],
            (y + 0.25) * scale[1],
            (w - 0.5) * scale[0],
            (h - 0.5) * scale[1],
        )
        part, _ = wsi.read_reduced(level, block, roi)
        row, col = (y - top) // block, (x - left) // block
        rgb[row : row + part.shape[0], col : col + part.shape[1]] = part
        read[row : row + part.shape[0], col : col + part.shape[1]] = True
    return rgb, read, (left, top)


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


def foreground_score(rgb: np.ndarray, method: str, inside: np.ndarray | None = None) -> np.ndarray:
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
    tables = np.clip(-np.log10(levels[:, None] / glass[None, :]), 0.0, None)
    # per-channel lookup, then the channels summed, in OpenCV (about 4× numpy's indexing)
    density = cv2.LUT(np.ascontiguousarray(rgb), tables.astype(np.float32).reshape(1, 256, 3))
    return cv2.transform(density, np.ones((1, 3), dtype=np.float32)).reshape(rgb.shape[:2])


def glass_colour(rgb: np.ndarray, inside: np.ndarray | None = None) -> np.ndarray:
    """Colour of the empty glass: median colour of the pixels at the brightness mode.

    The mode is sought among the brighter half of the pixels (``inside`` only), so the glass
    is found whether it covers most of the image or not.
    """
    flat = rgb.reshape(-1, 3)
    count = len(flat) if inside is None else int(np.count_nonzero(inside))
    if count == 0:
        return np.full(3, 255.0, dtype=np.float32)
    # about SAMPLE_SIZE pixels: strided first, so that the whole image is never copied
    step = max(1, count // SAMPLE_SIZE)
    pixels = flat[::step] if inside is None else flat[::step][inside.ravel()[::step]]
    if len(pixels) == 0:
        return np.full(3, 255.0, dtype=np.float32)
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

    Both use separable rectangle filters, so their cost does not grow with the radius.
    Only the bounding box of the mask (with room for the filters) is filtered: the result is
    the same, and a sparse mask on a large grid costs little.
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return np.zeros_like(mask)
    pad = int(round(close_radius_px)) + 3
    r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + 1 + pad, mask.shape[0])
    c0, c1 = max(cols[0] - pad, 0), min(cols[-1] + 1 + pad, mask.shape[1])
    out = np.zeros_like(mask)
    out[r0:r1, c0:c1] = _clean_window(mask[r0:r1, c0:c1], close_radius_px, fill_holes)
    return out


def _clean_window(mask: np.ndarray, close_radius_px: float, fill_holes: bool) -> np.ndarray:
    """:func:`clean_mask` of a window with at least the closing's reach of background around
    its tissue.

    OpenCV's rectangle erosion and dilation on 0/1 bytes, with the borders of
    ``scipy.ndimage``'s minimum/maximum filters (background outside for the opening's
    erosion and the closing's dilation, tissue outside for its erosion, mirrored edges for
    the opening's dilation): the same pixels, about 10× faster.
    """
    square = np.ones((3, 3), dtype=np.uint8)
    eroded = cv2.erode(mask.view(np.uint8), square, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    opened = cv2.dilate(eroded, square, borderType=cv2.BORDER_REFLECT)
    radius = int(round(close_radius_px))
    if radius >= 1:
        square = np.ones((2 * radius + 1, 2 * radius + 1), dtype=np.uint8)
        dilated = cv2.dilate(opened, square, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        opened = cv2.erode(dilated, square, borderType=cv2.BORDER_CONSTANT, borderValue=1)
    opened = opened.view(bool)
    if fill_holes:
        opened = fill_mask_holes(opened)
    return opened


def fill_mask_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every background region that does not touch the border filled."""
    _, background = cv2.connectedComponents((~mask).view(np.uint8), connectivity=4)
    edge = np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])
    open_to_border = np.zeros(background.max() + 1, dtype=bool)
    open_to_border[edge] = True
    open_to_border[0] = True  # label 0 is the mask itself
    return mask | ~open_to_border[background]
