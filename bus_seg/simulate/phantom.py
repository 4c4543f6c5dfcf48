"""Procedural B-mode breast phantom: layered anatomy, lesions, speckle, gain, log compression.

A patient's anatomy (layer boundaries, fat lobules, muscle fibres, lesions) is drawn once from
the patient's generator; each image of the patient views it with a small lateral probe shift and
fresh speckle. Coordinates inside this module are millimetres: ``x`` lateral, ``y`` depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from bus_seg.simulate.settings import PhantomSettings
from bus_seg.simulate.speckle import log_compress, smooth_noise, speckle_envelope

_ANGLES = 1024
"""Samples of a lesion's boundary radius over the full turn."""


@dataclass(frozen=True, eq=False)
class Lesion:
    """A star-shaped lesion: boundary radius tabulated over the angle, optional inclusion.

    Attributes:
        centre_mm: ``(x, y)`` in anatomy coordinates.
        radius_mm: boundary radius at ``_ANGLES`` equally spaced angles.
        irregular: irregular/spiculated (echogenic halo, shadow) or oval (capsule, enhancement).
        echo_db: interior echogenicity relative to glandular tissue.
        halo_mm: width of the echogenic rim.
        posterior_db: posterior enhancement (> 0) or shadowing (< 0).
        hole: ``(x, y, rx, ry, angle_rad)`` of a non-lesion inclusion, or None.
    """

    centre_mm: tuple[float, float]
    radius_mm: np.ndarray
    irregular: bool
    echo_db: float
    halo_mm: float
    posterior_db: float
    hole: tuple[float, float, float, float, float] | None

    def radial_ratio(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance from the centre divided by the boundary radius in that direction."""
        dx, dy = x - self.centre_mm[0], y - self.centre_mm[1]
        angle = np.mod(np.arctan2(dy, dx), 2 * np.pi) * (_ANGLES / (2 * np.pi))
        table = np.append(self.radius_mm, self.radius_mm[0])
        radius = np.interp(angle, np.arange(_ANGLES + 1), table)
        return np.hypot(dx, dy) / radius

    def in_hole(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether points lie in the inclusion."""
        if self.hole is None:
            return np.zeros(np.shape(x), dtype=bool)
        hx, hy, rx, ry, angle = self.hole
        c, s = np.cos(angle), np.sin(angle)
        dx, dy = x - hx, y - hy
        return ((c * dx + s * dy) / rx) ** 2 + ((-s * dx + c * dy) / ry) ** 2 < 1.0

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether points (mm) lie in the lesion (inclusion excluded)."""
        return (self.radial_ratio(x, y) < 1.0) & ~self.in_hole(x, y)


@dataclass(frozen=True, eq=False)
class Anatomy:
    """One patient's breast: layer depths (as boundary curves), lobules, fibres and lesions."""

    layers: dict[str, np.ndarray]
    """Boundary name -> (amplitudes, wavelengths, phases, base) of a sum of sines, in mm."""
    lobule_seeds: np.ndarray
    muscle_angle_rad: float
    fibre_period_mm: float
    lesions: tuple[Lesion, ...]

    def boundary(self, name: str, x: np.ndarray) -> np.ndarray:
        """Depth (mm) of a layer boundary at lateral positions ``x`` (mm)."""
        amplitudes, wavelengths, phases, base = self.layers[name]
        waves = amplitudes[:, None] * np.sin(
            2 * np.pi * x[None, :] / wavelengths[:, None] + phases[:, None]
        )
        return base[0] + waves.sum(axis=0)


@dataclass(frozen=True, eq=False)
class PhantomField:
    """The lesions of a phantom image as a field over its pixel coordinates."""

    lesions: tuple[Lesion, ...]
    spacing_mm: float
    shift_mm: float

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x_mm = np.asarray(x, dtype=np.float64) * self.spacing_mm + self.shift_mm
        y_mm = np.asarray(y, dtype=np.float64) * self.spacing_mm
        inside = np.zeros(np.shape(x_mm), dtype=bool)
        for lesion in self.lesions:
            inside |= lesion.contains(x_mm, y_mm)
        return inside


@dataclass(frozen=True, eq=False)
class PhantomImage:
    """A rendered phantom image.

    Attributes:
        image: H×W uint8 B-mode image.
        lesion_mask: H×W bool lesion mask (the field at pixel centres).
        field: the lesions as a continuous field over pixel coordinates.
        spacing_mm: pixel size.
    """

    image: np.ndarray
    lesion_mask: np.ndarray
    field: PhantomField
    spacing_mm: float


def sample_anatomy(settings: PhantomSettings, rng: np.random.Generator) -> Anatomy:
    """Draw one patient's anatomy (layers, lobules, muscle, lesions)."""
    depth, width = settings.field_of_view_mm
    shift_room = max(abs(v) for v in settings.view_shift_mm)
    span = width + 2 * shift_room

    def curve(base: float, amplitude: float) -> np.ndarray:
        count = 3
        return np.array(
            [
                rng.uniform(0.2, 1.0, count) * amplitude / np.arange(1, count + 1),
                rng.uniform(0.6, 1.6, count) * span / np.arange(1, count + 1),
                rng.uniform(0, 2 * np.pi, count),
                np.full(count, base),
            ]
        )

    skin = rng.uniform(1.4, 2.4)
    fat = depth * rng.uniform(0.13, 0.24)
    gland = depth * rng.uniform(0.6, 0.72)
    muscle_top = gland + rng.uniform(0.6, 1.6)
    muscle_bottom = muscle_top + depth * rng.uniform(0.13, 0.2)
    layers = {
        "skin": curve(skin, 0.2),
        "fat": curve(fat, 1.5),
        "gland": curve(gland, 1.8),
        "muscle_top": curve(muscle_top, 1.2),
        "muscle_bottom": curve(muscle_bottom, 1.2),
    }
    area = span * depth
    seeds = np.column_stack(
        [
            rng.uniform(-shift_room, width + shift_room, int(area / 9)),
            rng.uniform(0, depth, int(area / 9)),
        ]
    )
    count = int(rng.integers(settings.lesions[0], settings.lesions[1] + 1))
    lesions = _sample_lesions(settings, count, (skin + 1.0, fat, gland, depth), rng)
    return Anatomy(
        layers=layers,
        lobule_seeds=seeds,
        muscle_angle_rad=np.deg2rad(rng.uniform(-18, 18)),
        fibre_period_mm=rng.uniform(0.9, 1.6),
        lesions=lesions,
    )


def _sample_lesions(
    settings: PhantomSettings,
    count: int,
    depths: tuple[float, float, float, float],
    rng: np.random.Generator,
) -> tuple[Lesion, ...]:
    skin_bottom, fat, gland, depth = depths
    _, width = settings.field_of_view_mm
    lesions: list[Lesion] = []
    for _ in range(count):
        diameter = rng.uniform(*settings.lesion_diameter_mm)
        irregular = bool(rng.random() < settings.irregular_probability)
        radius = _radius_table(diameter / 2, irregular, rng)
        reach = float(radius.max())
        low = min(max(fat + 0.3 * reach, skin_bottom + reach), depth - reach - 1.0)
        high = max(min(gland, depth - reach - 1.0), low)
        centre_y = rng.uniform(low, high)
        centre_x = rng.uniform(0.3 * width, 0.7 * width)
        for other in lesions:  # keep several lesions apart
            if abs(centre_x - other.centre_mm[0]) < reach + other.radius_mm.max():
                centre_x = other.centre_mm[0] + np.sign(centre_x - other.centre_mm[0] + 1e-9) * (
                    reach + other.radius_mm.max() + 1.0
                )
        hole = None
        if rng.random() < settings.hole_probability:
            r_min = float(radius.min())
            offset = rng.uniform(0.0, 0.35) * r_min
            direction = rng.uniform(0, 2 * np.pi)
            hole = (
                centre_x + offset * np.cos(direction),
                centre_y + offset * np.sin(direction),
                rng.uniform(0.15, 0.3) * r_min,
                rng.uniform(0.1, 0.22) * r_min,
                rng.uniform(0, np.pi),
            )
        lesions.append(
            Lesion(
                centre_mm=(float(centre_x), float(centre_y)),
                radius_mm=radius,
                irregular=irregular,
                echo_db=rng.uniform(-26.0, -18.0),
                halo_mm=rng.uniform(0.6, 1.6) if irregular else rng.uniform(0.15, 0.3),
                posterior_db=rng.uniform(-9.0, -4.0) if irregular else rng.uniform(2.5, 6.0),
                hole=hole,
            )
        )
    return tuple(lesions)


def _radius_table(mean_radius: float, irregular: bool, rng: np.random.Generator) -> np.ndarray:
    """Boundary radius over the angle: an ellipse with lobulation (and spicules if irregular)."""
    angle = np.linspace(0, 2 * np.pi, _ANGLES, endpoint=False)
    aspect = rng.uniform(0.7, 1.3) if irregular else rng.uniform(1.25, 1.8)
    tilt = rng.uniform(-0.4, 0.4) if not irregular else rng.uniform(0, np.pi)
    a, b = mean_radius * np.sqrt(aspect), mean_radius / np.sqrt(aspect)
    radius = a * b / np.hypot(b * np.cos(angle - tilt), a * np.sin(angle - tilt))
    harmonics = range(2, 9) if irregular else range(2, 5)
    scale = 0.09 if irregular else 0.035
    for k in harmonics:
        radius *= 1 + scale * rng.uniform(0, 1) / np.sqrt(k) * np.cos(
            k * angle + rng.uniform(0, 2 * np.pi)
        )
    if irregular:
        for k in range(10, 18, 2):  # microlobulation
            radius *= 1 + 0.025 * rng.uniform(0, 1) * np.cos(k * angle + rng.uniform(0, 2 * np.pi))
        for centre in rng.uniform(0, 2 * np.pi, int(rng.integers(5, 14))):
            distance = np.angle(np.exp(1j * (angle - centre)))
            width = rng.uniform(0.04, 0.09)
            radius += mean_radius * rng.uniform(0.08, 0.3) * np.exp(-((distance / width) ** 2))
    return radius


def render_phantom(
    anatomy: Anatomy,
    settings: PhantomSettings,
    rng: np.random.Generator,
    shift_mm: float = 0.0,
) -> PhantomImage:
    """Render one B-mode image of a patient's anatomy.

    Args:
        anatomy: the patient (from :func:`sample_anatomy`).
        settings: image size, spacing, PSF and dynamic range.
        rng: generator of this image's speckle and gain.
        shift_mm: lateral probe shift (the anatomy moves by ``-shift_mm`` in the image).
    """
    height, width = settings.image_size
    sp = settings.spacing_mm
    x = np.arange(width) * sp + shift_mm
    y = np.arange(height) * sp
    xx, yy = np.meshgrid(x, y)
    field = PhantomField(anatomy.lesions, sp, shift_mm)

    echo_db = _tissue_echo_db(anatomy, xx, yy, sp, rng)
    mask = np.zeros((height, width), dtype=bool)
    for lesion in anatomy.lesions:
        echo_db, inside = _add_lesion(echo_db, lesion, xx, yy, sp, rng)
        mask |= inside
    power = 10.0 ** (echo_db / 10.0)
    psf = (settings.psf_axial_mm / sp, settings.psf_lateral_mm / sp)
    envelope = speckle_envelope(power, psf, rng, compounding=2)
    envelope *= _gain(y, rng)[:, None] * _aperture(width, rng)[None, :]
    envelope += _specular(anatomy, x, y, sp, rng)
    reference = float(np.percentile(envelope, 99.5))
    dynamic_range = settings.dynamic_range_db * rng.uniform(0.9, 1.1)
    image = log_compress(envelope, dynamic_range, reference, gamma=rng.uniform(1.3, 1.6))
    image = ndimage.gaussian_filter(image.astype(np.float32), 0.6)
    return PhantomImage(np.clip(np.rint(image), 0, 255).astype(np.uint8), mask, field, sp)


def _tissue_echo_db(
    anatomy: Anatomy, xx: np.ndarray, yy: np.ndarray, sp: float, rng: np.random.Generator
) -> np.ndarray:
    """Backscatter (dB relative to glandular tissue) of the layered anatomy without lesions."""
    shape = xx.shape
    x = xx[0]
    skin = anatomy.boundary("skin", x)[None, :]
    fat = anatomy.boundary("fat", x)[None, :]
    gland = anatomy.boundary("gland", x)[None, :]
    muscle_top = anatomy.boundary("muscle_top", x)[None, :]
    muscle_bottom = anatomy.boundary("muscle_bottom", x)[None, :]

    # Fat lobules: cells of the (warped, flattened) seed points, bounded by Cooper's ligaments.
    warp_x = 0.9 * smooth_noise(shape, 2.0 / sp, rng)
    warp_y = 0.6 * smooth_noise(shape, 2.0 / sp, rng)
    tree = cKDTree(anatomy.lobule_seeds * np.array([1.0, 1.7]))
    points = np.column_stack([(xx + warp_x).ravel(), (yy + warp_y).ravel() * 1.7])
    distances, _ = tree.query(points, k=2)
    ligament = np.exp(-(((distances[:, 1] - distances[:, 0]) / 0.22) ** 2)).reshape(shape)
    ligament *= np.clip(0.8 + smooth_noise(shape, 1.5 / sp, rng), 0.0, 1.0)

    low = smooth_noise(shape, 4.0 / sp, rng)
    mid = smooth_noise(shape, 1.2 / sp, rng)
    fine = smooth_noise(shape, 0.5 / sp, rng)
    echo = (-7.0 + 2.5 * mid).astype(np.float32)  # chest wall below the muscle

    in_skin = yy < skin
    in_fat = (yy >= skin) & (yy < fat)
    in_gland = (yy >= fat) & (yy < gland)
    in_retro = (yy >= gland) & (yy < muscle_top)
    in_muscle = (yy >= muscle_top) & (yy < muscle_bottom)

    echo[in_skin] = (0.5 + 1.5 * fine)[in_skin]
    fat_echo = -13.0 + 1.5 * mid + 14.0 * ligament
    echo[in_fat] = fat_echo[in_fat]
    islands = mid + 0.6 * low > 1.1
    gland_echo = np.where(islands, fat_echo, 1.0 + 2.5 * low + 1.5 * fine)
    echo[in_gland] = gland_echo[in_gland]
    echo[in_retro] = fat_echo[in_retro]

    angle = anatomy.muscle_angle_rad
    across = -xx * np.sin(angle) + yy * np.cos(angle)
    along = xx * np.cos(angle) + yy * np.sin(angle)
    warp = 1.5 * smooth_noise(shape, 3.0 / sp, rng)
    fibres = np.clip(np.sin(2 * np.pi * across / anatomy.fibre_period_mm + warp), 0, 1) ** 4
    fibres += (
        0.6
        * np.clip(np.sin(2 * np.pi * across / (0.43 * anatomy.fibre_period_mm) + 2 * warp), 0, 1)
        ** 4
    )
    dashes = np.clip(0.7 + np.sin(2 * np.pi * along / rng.uniform(4, 9) + 3 * warp), 0, 1)
    muscle_echo = -10.0 + 9.0 * fibres * dashes + 1.5 * fine
    echo[in_muscle] = muscle_echo[in_muscle]

    # Bright interfaces: skin line, fascia around the muscle.
    for boundary, strength, width in (
        (skin, 6.0, 0.25),
        (muscle_top, 9.0, 0.3),
        (muscle_bottom, 7.0, 0.35),
    ):
        echo += strength * np.exp(-(((yy - boundary) / width) ** 2))
    # Soften the layer transitions by about a PSF.
    return ndimage.gaussian_filter(echo, 0.6)


def _add_lesion(
    echo: np.ndarray,
    lesion: Lesion,
    xx: np.ndarray,
    yy: np.ndarray,
    sp: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Paint a lesion, its rim and its posterior shadow/enhancement into the echo map."""
    ratio = lesion.radial_ratio(xx, yy)
    hole = lesion.in_hole(xx, yy)
    inside = (ratio < 1.0) & ~hole
    mean_radius = float(lesion.radius_mm.mean())
    rim = (ratio >= 1.0) & (ratio < 1.0 + lesion.halo_mm / mean_radius)
    texture = smooth_noise(echo.shape, 0.8 / sp, rng)
    interior = lesion.echo_db + 3.0 * texture
    if lesion.irregular:
        rim_echo = echo + 4.0 + 2.5 * smooth_noise(echo.shape, 0.5 / sp, rng)
    else:
        rim_echo = echo + 7.0
    echo = np.where(rim, rim_echo, echo)
    echo = np.where(inside, interior, echo)

    # Posterior shadow (irregular) or enhancement (oval): columns below the lesion.
    solid = ratio < 1.0
    rows = np.arange(echo.shape[0])[:, None]
    last = np.maximum.accumulate(np.where(solid, rows, -1), axis=0)
    below = (last >= 0) & ~solid
    depth_below = (rows - last) * sp
    effect = np.where(below, lesion.posterior_db * np.exp(-depth_below / 25.0), 0.0)
    if not lesion.irregular:  # refractive edge shadows below the lateral margins
        cols = np.flatnonzero(solid.any(axis=0))
        distance = np.arange(echo.shape[1])[None, :] * sp
        for edge in (cols.min() * sp, cols.max() * sp):
            edge_shadow = (
                6.0 * np.exp(-(((distance - edge) / 0.6) ** 2)) * np.exp(-depth_below / 8.0)
            )
            effect -= np.where(below, edge_shadow, 0.0)
    effect = ndimage.gaussian_filter(effect, (1.0 / sp, 1.2 / sp))
    return echo + effect.astype(np.float32), inside


def _gain(depth_mm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Residual depth gain: attenuation left after TGC, focal-zone brightening, near field."""
    attenuation = np.exp(-rng.uniform(0.012, 0.03) * depth_mm)
    focus = rng.uniform(0.35, 0.6) * depth_mm[-1]
    focal = 1.0 + rng.uniform(0.15, 0.35) * np.exp(
        -(((depth_mm - focus) / (0.25 * depth_mm[-1])) ** 2)
    )
    return attenuation * focal


def _aperture(width: int, rng: np.random.Generator) -> np.ndarray:
    """Slight darkening towards the left and right edges of a linear array."""
    position = np.linspace(-1.0, 1.0, width)
    return 1.0 - rng.uniform(0.05, 0.2) * position**4


def _specular(
    anatomy: Anatomy, x: np.ndarray, y: np.ndarray, sp: float, rng: np.random.Generator
) -> np.ndarray:
    """Smooth specular echoes of the skin surface (transducer-skin interface)."""
    skin = anatomy.boundary("skin", x)
    line = np.exp(-(((y[:, None] - 0.25) / 0.18) ** 2)) + 0.5 * np.exp(
        -(((y[:, None] - skin[None, :]) / 0.2) ** 2)
    )
    return (rng.uniform(2.0, 3.0) * line).astype(np.float32)
