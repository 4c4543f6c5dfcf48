"""H&E-like rendering of a core's tissue: stain concentrations mixed by Beer-Lambert.

Cancer is rendered as nests of crowded, large, dark nuclei in pale purple cytoplasm with thin
stromal strands; non-cancer as pink fibrous stroma with sparse spindle nuclei, a few lymphocytes
and fat lobules (white vacuoles in thin membranes, kept away from the tissue's edge so that a
tissue detector that fills holes sees solid tissue). Optionally, the cancer takes patches of a
real H&E image instead. Sizes are micrometres, so any MPP renders the same tissue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from bus_seg.simulate.slide import SlideRasters

_HEMATOXYLIN = np.array([0.62, 0.72, 0.31])
_EOSIN = np.array([0.17, 0.88, 0.42])
_BACKGROUND_RGB = np.array([241.0, 239.0, 243.0])
_LEVELS = 256
_MAX_HEMATOXYLIN = 1.6
_MAX_EOSIN = 0.8


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


@dataclass(frozen=True, eq=False)
class Stain:
    """One slide's staining: colour of each stain, their strength and the glass colour.

    Attributes:
        background: RGB of blank glass.
        table: ``_LEVELS``×``_LEVELS``×3 uint8 RGB for quantised (hematoxylin, eosin)
            concentrations (Beer-Lambert: ``background · 10^-(h·H + e·E)``).
    """

    background: np.ndarray
    table: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, variation: float) -> Stain:
        """A slide's stain with random variation of the stain vectors and strengths."""
        hematoxylin = _unit(_HEMATOXYLIN * (1 + rng.uniform(-variation, variation, 3)))
        eosin = _unit(_EOSIN * (1 + rng.uniform(-variation, variation, 3)))
        h_strength, e_strength = 1 + rng.uniform(-variation, variation, 2)
        background = np.clip(_BACKGROUND_RGB + rng.uniform(-3, 3, 3), 0, 255)
        h = np.linspace(0, _MAX_HEMATOXYLIN, _LEVELS)[:, None, None] * h_strength
        e = np.linspace(0, _MAX_EOSIN, _LEVELS)[None, :, None] * e_strength
        density = h * hematoxylin + e * eosin
        table = np.clip(np.rint(background * 10.0 ** (-density)), 0, 255).astype(np.uint8)
        return cls(background, table)

    def colour(self, hematoxylin: np.ndarray, eosin: np.ndarray) -> np.ndarray:
        """RGB uint8 of concentration maps (looked up in the quantised table)."""
        h = np.clip(hematoxylin * ((_LEVELS - 1) / _MAX_HEMATOXYLIN), 0, _LEVELS - 1)
        e = np.clip(eosin * ((_LEVELS - 1) / _MAX_EOSIN), 0, _LEVELS - 1)
        return self.table[h.astype(np.intp), e.astype(np.intp)]


def _noise(
    shape: tuple[int, int],
    sigma_um: float | tuple[float, float],
    mpp: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Smooth noise (zero mean, unit std), computed on a coarser grid and resized."""
    sigma = np.broadcast_to(np.asarray(sigma_um, dtype=np.float64) / mpp, (2,))
    step = max(1, int(min(sigma) / 1.5))
    small = (shape[0] // step + 2, shape[1] // step + 2)
    field = ndimage.gaussian_filter(
        rng.standard_normal(small, dtype=np.float32), tuple(sigma / step), mode="wrap"
    )
    field = (field - field.mean()) / max(float(field.std()), 1e-6)
    if step == 1:
        return field[: shape[0], : shape[1]]
    image = Image.fromarray(field, mode="F").resize(
        (small[1] * step, small[0] * step), Image.BILINEAR
    )
    return np.asarray(image)[: shape[0], : shape[1]]


def _nuclei(
    region: np.ndarray,
    kinds: list[tuple[float, tuple[float, float]]],
    mpp: float,
    rng: np.random.Generator,
    elongation: float = 1.0,
) -> np.ndarray:
    """Soft nucleus masks (0-1) scattered over ``region``.

    Impulses are blurred by one Gaussian and thresholded softly; an impulse's strength sets
    its nucleus' size, so several kinds ``(density per µm², (min, max) radius µm)`` share one
    filter. Nuclei are round, or stretched along x by ``elongation``, and merge when crowded.
    """
    impulses = np.zeros(region.shape, dtype=np.float32)
    flat = np.flatnonzero(region)
    reference = max(r for _, (_, r) in kinds)
    sigma = max(reference / mpp / 2.2, 0.5)
    for density, (low, high) in kinds:
        count = rng.poisson(density * len(flat) * mpp * mpp)
        if count == 0 or len(flat) == 0:
            continue
        picks = flat[rng.integers(0, len(flat), count)]
        # A Gaussian of peak A reaches the threshold 0.35 at radius σ·sqrt(2·ln(A/0.35)).
        radius_px = rng.uniform(low, high, count) / mpp
        strength = 0.35 * np.exp((radius_px / sigma) ** 2 / 2) + 0.15
        np.add.at(impulses.reshape(-1), picks, strength.astype(np.float32))
    sigmas = (sigma, sigma * elongation)
    field = ndimage.gaussian_filter(impulses, sigmas, truncate=3.0)
    field *= 2 * np.pi * sigmas[0] * sigmas[1]
    return np.clip((field - 0.35) * (1 / 0.25), 0.0, 1.0)


def _eroded(mask: np.ndarray, distance_px: float) -> np.ndarray:
    """``mask`` minus a border about ``distance_px`` wide (computed on a coarser grid)."""
    step = max(1, int(distance_px // 6))
    small = ndimage.binary_erosion(
        mask[::step, ::step], iterations=max(1, int(np.ceil(distance_px / step))), border_value=0
    )
    grown = np.repeat(np.repeat(small, step, axis=0), step, axis=1)[
        : mask.shape[0], : mask.shape[1]
    ]
    return grown & mask


def _fat_membranes(region: np.ndarray, mpp: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean membranes of fat cells (Voronoi cells about 55 µm across) within ``region``."""
    step = max(1, int(round(3.0 / mpp)))
    small = region[::step, ::step]
    flat = np.flatnonzero(small)
    count = rng.poisson(len(flat) * (step * mpp) ** 2 / 55.0**2)
    if count == 0:
        return np.zeros(region.shape, dtype=bool)
    seeds = np.zeros(small.shape, dtype=bool)
    seeds.reshape(-1)[flat[rng.integers(0, len(flat), count)]] = True
    indices = ndimage.distance_transform_edt(~seeds, return_distances=False, return_indices=True)
    cell = np.ravel_multi_index(tuple(indices), small.shape)
    edge = np.zeros(small.shape, dtype=bool)
    edge[:-1, :] |= cell[:-1, :] != cell[1:, :]
    edge[:, :-1] |= cell[:, :-1] != cell[:, 1:]
    edge = np.repeat(np.repeat(edge, step, axis=0), step, axis=1)[
        : region.shape[0], : region.shape[1]
    ]
    return edge & region


def render_tissue(
    tissue: np.ndarray,
    cancer: np.ndarray,
    mpp: float,
    rng: np.random.Generator,
    stain: Stain,
    texture: np.ndarray | None = None,
) -> np.ndarray:
    """Render one piece of tissue in H&E colours.

    Args:
        tissue: H×W bool, the piece's pixels.
        cancer: H×W bool, its cancer pixels.
        mpp: µm per pixel.
        rng: generator of every random detail.
        stain: the slide's stain.
        texture: optional RGB H&E image, already at ``mpp``, whose patches fill the cancer.

    Returns:
        H×W×3 uint8 RGB (meaningful on ``tissue`` only).
    """
    shape = tissue.shape
    cancer = cancer & tissue
    normal = tissue & ~cancer
    low = _noise(shape, 40.0, mpp, rng)
    fibres = _noise(shape, (3.0, 10.0), mpp, rng)
    grain = rng.standard_normal(shape, dtype=np.float32)

    nests = _noise(shape, 18.0, mpp, rng) > -0.9
    cells = cancer & nests
    strands = cancer & ~nests
    fat = _eroded(normal, 30.0 / mpp) & (_noise(shape, 70.0, mpp, rng) > 0.7)
    membranes = _fat_membranes(fat, mpp, rng)
    vacuole = fat & ~membranes
    stroma = (normal & ~fat) | strands

    eosin = 0.21 + 0.035 * fibres + 0.04 * low
    eosin = np.where(cells, 0.15 + 0.03 * low, eosin)
    eosin[membranes] = 0.3
    eosin[vacuole] = 0.015
    hema = np.where(cells, 0.1 + 0.02 * grain, 0.015).astype(np.float32)

    round_nuclei = np.zeros(shape, dtype=np.float32)
    if cells.any():
        rows = np.flatnonzero(cells.any(axis=1))
        window = slice(rows[0], rows[-1] + 1)
        round_nuclei[window] = _nuclei(cells[window], [(1 / 14.0**2, (3.8, 6.5))], mpp, rng)
    lymphocytes = _nuclei(stroma | membranes, [(1 / 70.0**2, (2.2, 3.0))], mpp, rng)
    spindles = _nuclei(stroma, [(1 / 22.0**2, (1.6, 2.4))], mpp, rng, elongation=2.6)
    chromatin = np.clip(0.9 + 0.15 * grain, 0.5, 1.3)
    hema += (0.55 * round_nuclei + 0.6 * spindles + 0.8 * lymphocytes) * chromatin
    eosin *= 1 - 0.5 * np.clip(round_nuclei + spindles, 0, 1)
    eosin += 0.01 * grain

    rgb = stain.colour(hema, eosin)
    if texture is not None and cancer.any():
        patches = _quilt(texture, shape, int(round(120.0 / mpp)), rng)
        rgb = np.where(cancer[..., None], patches, rgb).astype(np.uint8)
    return rgb


def paint_slide(
    rasters: SlideRasters,
    mpp: float,
    rng: np.random.Generator,
    stain: Stain,
    texture: np.ndarray | None = None,
) -> np.ndarray:
    """The slide's RGB level 0: blank glass with every piece of tissue rendered in place."""
    height, width = rasters.section.shape
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rgb[...] = np.rint(stain.background).astype(np.uint8)
    for piece in rasters.pieces:
        r0, r1, c0, c1 = piece.box
        mask = piece.mask(rasters)
        cancer = rasters.cancer[r0:r1, c0:c1]
        painted = render_tissue(mask, cancer, mpp, rng, stain, texture)
        rgb[r0:r1, c0:c1][mask] = painted[mask]
    return rgb


def _quilt(
    source: np.ndarray, shape: tuple[int, int], patch: int, rng: np.random.Generator
) -> np.ndarray:
    """Cover ``shape`` with random, flipped and turned patches of ``source``, feathered together."""
    patch = max(8, min(patch, source.shape[0], source.shape[1]))
    step = max(patch * 3 // 4, 1)
    out = np.zeros((*shape, 3), dtype=np.float32)
    weight = np.zeros(shape, dtype=np.float32)
    ramp = np.minimum(np.arange(patch) + 1, np.arange(patch)[::-1] + 1).astype(np.float32)
    window = np.minimum(ramp[:, None], ramp[None, :])
    for top in range(-(patch // 4), shape[0], step):
        for left in range(-(patch // 4), shape[1], step):
            y = int(rng.integers(0, source.shape[0] - patch + 1))
            x = int(rng.integers(0, source.shape[1] - patch + 1))
            tile = np.rot90(source[y : y + patch, x : x + patch], int(rng.integers(4)))
            if rng.random() < 0.5:
                tile = tile[:, ::-1]
            r0, c0 = max(top, 0), max(left, 0)
            r1, c1 = min(top + patch, shape[0]), min(left + patch, shape[1])
            if r1 <= r0 or c1 <= c0:
                continue
            sub = (slice(r0 - top, r1 - top), slice(c0 - left, c1 - left))
            out[r0:r1, c0:c1] += tile[sub] * window[sub][..., None]
            weight[r0:r1, c0:c1] += window[sub]
    return np.clip(np.rint(out / np.maximum(weight, 1e-6)[..., None]), 0, 255).astype(np.uint8)


def load_texture(path: str, source_mpp: float, target_mpp: float) -> np.ndarray:
    """Read an H&E image and rescale it from ``source_mpp`` to ``target_mpp`` (uint8 RGB)."""
    from bus_seg.io.images import read_array

    array = read_array(path)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    image = Image.fromarray(np.ascontiguousarray(array[..., :3]).astype(np.uint8))
    scale = source_mpp / target_mpp
    size = (max(int(round(image.width * scale)), 8), max(int(round(image.height * scale)), 8))
    return np.asarray(image.resize(size, Image.LANCZOS))
