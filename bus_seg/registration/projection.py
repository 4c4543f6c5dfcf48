"""Projections: how the labels of the mapped tissue fill the strip (``profile`` or ``area``).

Both start from the same grid as the tissue mask: a grid pixel is cancer when its centre lies in
a cancer polygon (or on a non-zero pixel of a label image), and only tissue pixels count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
import SimpleITK as sitk
from scipy import ndimage

from bus_seg.io.annotations import Annotation, rasterize
from bus_seg.labels import IGNORE_LABEL
from bus_seg.registration.fragments import CoreGeometry, Fragment
from bus_seg.registration.mapping import TractMapping, resample_along_core
from bus_seg.registration.tissue import TissueMap

_NO_TISSUE = 2
_AREA_MARGIN_BINS = 2


def cancer_on_grid(annotation: Annotation, tissue: TissueMap) -> np.ndarray:
    """Boolean mask of the grid pixels whose centres are cancer (per-axis downsamples honoured)."""
    shape = tissue.mask.shape
    down_x, down_y = tissue.downsample
    if math.isclose(down_x, down_y, rel_tol=0, abs_tol=1e-12):
        return annotation.cancer_mask(shape, down_x, tissue.origin)
    if annotation.labels is not None:
        rows = np.floor(tissue.origin[1] + (np.arange(shape[0]) + 0.5) * down_y).astype(np.int64)
        cols = np.floor(tissue.origin[0] + (np.arange(shape[1]) + 0.5) * down_x).astype(np.int64)
        rows_ok = (rows >= 0) & (rows < annotation.labels.shape[0])
        cols_ok = (cols >= 0) & (cols < annotation.labels.shape[1])
        mask = np.zeros(shape, dtype=bool)
        mask[np.ix_(rows_ok, cols_ok)] = (
            annotation.labels[np.ix_(rows[rows_ok], cols[cols_ok])] != 0
        )
        return mask
    if annotation.cancer is None:
        return np.zeros(shape, dtype=bool)
    # Stretch y so that both axes share the x downsample, then rasterize as usual.
    stretch = down_x / down_y
    geometry = shapely.transform(annotation.cancer, lambda xy: xy * (1.0, stretch))
    return rasterize(geometry, shape, down_x, (tissue.origin[0], tissue.origin[1] * stretch))


@dataclass(frozen=True)
class CoreProfile:
    """Labels along the core, one per bin of cumulative tissue length.

    Attributes:
        labels: 0/1 per bin (empty bins already filled from the nearest bin with tissue).
        tissue: tissue pixels per bin.
        cancer: cancer tissue pixels per bin.
        step_um: bin width; the bins tile ``[0, L]`` exactly.
    """

    labels: np.ndarray
    tissue: np.ndarray
    cancer: np.ndarray
    step_um: float


def core_profile(
    core: CoreGeometry, tissue: TissueMap, cancer: np.ndarray, threshold: float
) -> CoreProfile:
    """Per-position cancer label: cancer where at least ``threshold`` of the tissue across is.

    Each tissue pixel falls in the bin of its cumulative tissue length (the lengths of the
    pieces before it plus its position along its own piece). Bins are about one grid pixel
    wide, far finer than an ultrasound pixel once mapped. A bin without tissue takes the label
    of the nearest bin with tissue.
    """
    count = max(1, math.ceil(core.total_length_um / min(tissue.pixel_um)))
    step = core.total_length_um / count
    tissue_counts = np.zeros(count, dtype=np.int64)
    cancer_counts = np.zeros(count, dtype=np.int64)
    for fragment, offset in zip(core.fragments, core.offsets_um, strict=True):
        along = np.clip(
            fragment.along(tissue.to_um(fragment.rows, fragment.cols)), 0.0, fragment.length_um
        )
        bins = np.minimum(((offset + along) / step).astype(np.int64), count - 1)
        tissue_counts += np.bincount(bins, minlength=count)
        cancer_counts += np.bincount(bins[cancer[fragment.rows, fragment.cols]], minlength=count)
    has_tissue = tissue_counts > 0
    labels = (cancer_counts >= threshold * tissue_counts - 1e-9) & has_tissue
    labels = _fill_from_nearest(labels.astype(np.uint8), ~has_tissue)
    return CoreProfile(labels, tissue_counts, cancer_counts, step)


def _fill_from_nearest(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Replace ``missing`` entries by the value of the nearest entry that is not missing."""
    if not missing.any() or missing.all():
        return values
    _, indices = ndimage.distance_transform_edt(missing, return_indices=True)
    return values[tuple(indices)]


class ProfileProjection:
    """One label per position along the tract: the ≥ ``threshold`` rule across the core."""

    name = "profile"

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def project(
        self,
        core: CoreGeometry,
        tissue: TissueMap,
        cancer: np.ndarray,
        mapping: TractMapping,
        shape: tuple[int, int],
    ) -> np.ndarray:
        """Ultrasound-sized labels (1/0, 255 where no tissue maps; the strip is cut later)."""
        profile = core_profile(core, tissue, cancer, self.threshold)
        return resample_along_core(profile.labels, profile.step_um, mapping, shape)


class AreaProjection:
    """The lateral layout of the tissue is kept: each strip pixel takes the label at its point.

    A strip pixel at distance ``v`` mm from the tract's centre line (positive along the normal,
    the tract direction turned +90° with x right and y down) maps to ``v * um_per_mm`` µm from
    its fragment's axis along the fragment's normal (the fragment direction turned the same
    way): the same scale as along the tract, so the tissue keeps its shape, centred on the
    fragment's rectangle. Points that fall on no tissue of the fragment (outside its outline,
    beyond its width, in holes) take the label of the nearest tissue of that fragment.
    """

    name = "area"

    def project(
        self,
        core: CoreGeometry,
        tissue: TissueMap,
        cancer: np.ndarray,
        mapping: TractMapping,
        shape: tuple[int, int],
    ) -> np.ndarray:
        """Ultrasound-sized labels (1/0, 255 where no tissue maps; the strip is cut later)."""
        step = min(tissue.pixel_um)
        bins = max(1, math.ceil(core.total_length_um / step))
        step = core.total_length_um / bins
        centres = (np.arange(bins) + 0.5) * step
        owner = resample_along_core(core.fragment_of(centres), step, mapping, shape)
        grid = _grid_image(tissue)
        reference = mapping.reference_image(shape)
        half_width = mapping.tract.diameter_mm / 2.0 * mapping.um_per_mm
        labels = np.full(shape, IGNORE_LABEL, dtype=np.uint8)
        for index, (fragment, offset) in enumerate(
            zip(core.fragments, core.offsets_um, strict=True)
        ):
            if not (owner == index).any():
                continue
            values = np.full(tissue.mask.shape, _NO_TISSUE, dtype=np.uint8)
            values[fragment.rows, fragment.cols] = cancer[fragment.rows, fragment.cols]
            frame = _fragment_frame(
                sitk_values(values, grid),
                fragment,
                max(fragment.width_um / 2.0, half_width),
                tissue,
            )
            resampled = sitk.Resample(
                frame,
                reference,
                mapping.fragment_transform(fragment, offset),
                sitk.sitkNearestNeighbor,
                IGNORE_LABEL,
            )
            mine = owner == index
            labels[mine] = sitk.GetArrayFromImage(resampled)[mine]
        return labels


def _grid_image(tissue: TissueMap) -> sitk.Image:
    """An empty image carrying the tissue grid's physical layout (µm)."""
    height, width = tissue.mask.shape
    image = sitk.Image(width, height, sitk.sitkUInt8)
    image.SetSpacing(tissue.pixel_um)
    image.SetOrigin(tuple(float(v) for v in tissue.to_um(np.array([0]), np.array([0]))[0]))
    return image


def sitk_values(values: np.ndarray, layout: sitk.Image) -> sitk.Image:
    """``values`` as a SimpleITK image with the physical layout of ``layout``."""
    image = sitk.GetImageFromArray(values)
    image.CopyInformation(layout)
    return image


def _fragment_frame(
    values: sitk.Image, fragment: Fragment, half_width_um: float, tissue: TissueMap
) -> sitk.Image:
    """The fragment's labels on a grid aligned with its axis, holes filled from nearest tissue.

    The grid spans the fragment's length (plus a margin) along its direction and
    ``±half_width_um`` (plus a margin) across it.
    """
    step = min(tissue.pixel_um)
    margin = _AREA_MARGIN_BINS * step
    along = math.ceil((fragment.length_um + 2 * margin) / step)
    across = math.ceil((2 * half_width_um + 2 * margin) / step)
    origin = (
        fragment.start_um
        - margin * fragment.direction
        - (half_width_um + margin) * fragment.normal
        + step / 2.0 * (fragment.direction + fragment.normal)
    )
    reference = sitk.Image(along, across, sitk.sitkUInt8)
    reference.SetSpacing((step, step))
    reference.SetOrigin(tuple(float(v) for v in origin))
    reference.SetDirection(
        (fragment.direction[0], fragment.normal[0], fragment.direction[1], fragment.normal[1])
    )
    frame = sitk.Resample(values, reference, sitk.Transform(), sitk.sitkNearestNeighbor, _NO_TISSUE)
    array = sitk.GetArrayFromImage(frame)
    filled = _fill_from_nearest(array, array == _NO_TISSUE)
    out = sitk.GetImageFromArray(filled)
    out.CopyInformation(frame)
    return out
