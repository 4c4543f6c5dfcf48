"""Boundary distances between two binary regions (95th-percentile Hausdorff distance)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def region_boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` that touch the background through a 4-connected neighbour.

    Pixels on the image border count as boundary (the outside is background).
    """
    mask = mask.astype(bool, copy=False)
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def hd95(pred: np.ndarray, ref: np.ndarray) -> float:
    """Symmetric 95th-percentile Hausdorff distance between two binary regions.

    For every boundary pixel of one region the Euclidean distance to the nearest boundary pixel of
    the other is measured; the result is the larger of the two directed 95th percentiles (linear
    interpolation, as ``np.percentile``), the definition MONAI uses.

    Args:
        pred: H×W boolean predicted region.
        ref: H×W boolean reference region.

    Returns:
        The distance in pixels (multiply by an isotropic pixel size for mm), or NaN when either
        region is empty.
    """
    pred_edge, ref_edge = region_boundary(pred), region_boundary(ref)
    if not pred_edge.any() or not ref_edge.any():
        return float("nan")
    to_ref = ndimage.distance_transform_edt(~ref_edge)
    to_pred = ndimage.distance_transform_edt(~pred_edge)
    return float(max(np.percentile(to_ref[pred_edge], 95), np.percentile(to_pred[ref_edge], 95)))
