"""Maps from ultrasound physical space (mm) to the core: cumulative tissue length and WSI space.

Ultrasound physical coordinates are pixel centres times the spacing (origin at the centre of
pixel (0, 0), x right, y down). WSI physical coordinates are level-0 QuPath corner coordinates
times the MPP (µm). Along the tract, a point at distance ``s`` mm from the proximal end maps to
the cumulative tissue length ``l = um_per_mm * s + offset_um``; the placement strategy chooses the
two numbers. Each fragment then gets a similarity transform (rotation, uniform scale, shift)
from ultrasound to WSI space, and label images are resampled with nearest-neighbour
interpolation through these SimpleITK transforms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from bus_seg.labels import IGNORE_LABEL
from bus_seg.registration.fragments import Fragment
from bus_seg.registration.tract import Tract

ENDS_TOLERANCE = 1e-6
"""Slack (in bins) of the core's ends, so that a pixel exactly at an end is sampled."""


@dataclass(frozen=True)
class TractMapping:
    """Affine map of tract positions to cumulative tissue length.

    Attributes:
        tract: the sampled segment.
        um_per_mm: micrometres of tissue per millimetre of tract.
        offset_um: cumulative tissue length at the proximal end of the segment.
        fills_segment: whether the core covers the whole segment (``fit_tract``); if False,
            positions beyond the core's ends are not sampled.
    """

    tract: Tract
    um_per_mm: float
    offset_um: float
    fills_segment: bool

    @property
    def scale_wsi_to_us(self) -> float:
        """Length on the ultrasound per length of fixed tissue (mm per mm)."""
        return 1000.0 / self.um_per_mm

    def core_length(self, along_mm: np.ndarray) -> np.ndarray:
        """Cumulative tissue length (µm) at positions ``along_mm`` from the proximal end."""
        return self.um_per_mm * np.asarray(along_mm) + self.offset_um

    def proximal_end_mm(self) -> np.ndarray:
        """The proximal end of the segment in ultrasound physical coordinates."""
        return np.array([self.tract.x0, self.tract.y0]) * self.tract.spacing_mm

    def core_length_transform(self) -> sitk.AffineTransform:
        """Ultrasound physical point -> ``(cumulative tissue length µm, 0)``.

        The lateral coordinate collapses onto the core's centre line (a rank-1 affine map), so
        resampling a one-row image of values along the core gives the profile projection.
        """
        scale = self.um_per_mm
        dx, dy = self.tract.direction
        transform = sitk.AffineTransform(2)
        transform.SetMatrix((scale * dx, scale * dy, 0.0, 0.0))
        start = self.proximal_end_mm()
        transform.SetTranslation((self.offset_um - scale * float(start @ (dx, dy)), 0.0))
        return transform

    def fragment_transform(
        self, fragment: Fragment, fragment_offset_um: float
    ) -> sitk.Similarity2DTransform:
        """Ultrasound physical point (mm) -> WSI physical point (µm) through ``fragment``.

        The tract direction turns onto the fragment's direction and the tract normal onto the
        fragment's normal, both scaled by :attr:`um_per_mm`; the point at cumulative length
        ``l`` on the tract's centre line lands at ``l - fragment_offset_um`` along the
        fragment's own axis from its proximal end.
        """
        dx, dy = self.tract.direction
        fx, fy = fragment.direction
        angle = math.atan2(fy, fx) - math.atan2(dy, dx)
        start = self.proximal_end_mm()
        target = fragment.start_um + (self.offset_um - fragment_offset_um) * fragment.direction
        return sitk.Similarity2DTransform(
            self.um_per_mm,
            angle,
            tuple(float(v) for v in target - start),
            tuple(float(v) for v in start),
        )

    def reference_image(self, shape: tuple[int, int]) -> sitk.Image:
        """An empty ultrasound-sized image carrying the ultrasound's physical grid."""
        height, width = shape
        image = sitk.Image(width, height, sitk.sitkUInt8)
        image.SetSpacing((self.tract.spacing_mm, self.tract.spacing_mm))
        return image


def resample_along_core(
    values: np.ndarray, step_um: float, mapping: TractMapping, shape: tuple[int, int]
) -> np.ndarray:
    """Ultrasound-sized image of per-position ``values`` (bins of ``step_um`` from 0 to ``L``).

    Every pixel takes the value of the bin that holds its cumulative tissue length ``l`` (the
    last bin includes ``l = L``). One more bin at each end carries the end values, so that
    rounding at the ends of the core never leaves a pixel unlabelled. When the core does not
    fill the segment, pixels with ``l`` outside ``[0, L]`` are 255; otherwise only pixels far
    beyond the ends (outside any strip) are.
    """
    values = np.asarray(values, dtype=np.uint8)
    image = sitk.GetImageFromArray(np.concatenate([values[:1], values, values[-1:]])[None, :])
    image.SetSpacing((step_um, 1.0))
    image.SetOrigin((-step_um / 2.0, 0.0))
    resampled = sitk.Resample(
        image,
        mapping.reference_image(shape),
        mapping.core_length_transform(),
        sitk.sitkNearestNeighbor,
        IGNORE_LABEL,
    )
    out = sitk.GetArrayFromImage(resampled)
    if not mapping.fills_segment:
        along_mm = mapping.tract.coordinates(shape)[0] * mapping.tract.spacing_mm
        length = mapping.core_length(along_mm)
        slack = ENDS_TOLERANCE * step_um
        out[(length < -slack) | (length > step_um * len(values) + slack)] = IGNORE_LABEL
    return out
