"""Agreement of two label maps along a tract: cancer Dice and boundary error (mm).

Both compare label maps in the cohort encoding (1 cancer, 0 sampled non-cancer, 255 not
sampled), e.g. registered labels against a cohort's reference ``label_path``.
"""

from __future__ import annotations

import numpy as np

from bus_seg.labels import CANCER_LABEL, IGNORE_LABEL
from bus_seg.registration.tract import Tract


def cancer_dice(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Dice of the cancer pixels (label 1) of two label maps, pooled over the image.

    ``2 |P ∩ R| / (|P| + |R|)`` with P, R the pixels labelled 1; 0 and 255 are both "not
    cancer". Two maps without any cancer score 1.0.
    """
    pred, ref = np.asarray(predicted) == CANCER_LABEL, np.asarray(reference) == CANCER_LABEL
    total = int(pred.sum()) + int(ref.sum())
    if total == 0:
        return 1.0
    return 2.0 * int((pred & ref).sum()) / total


def cancer_along_tract(labels: np.ndarray, tract: Tract) -> np.ndarray:
    """Cancer state per one-pixel position along the tract, proximal to distal.

    Strip pixels are grouped by their distance along the segment rounded to whole pixels; a
    position is cancer when more than half of its labelled (0/1) pixels are 1, and not cancer
    otherwise (including positions with no labelled pixel).

    Returns:
        bool array, one entry per position ``0 .. round(length_px)``.
    """
    strip = tract.strip_mask(labels.shape)
    along = tract.coordinates(labels.shape)[0][strip]
    values = np.asarray(labels)[strip]
    positions = np.clip(np.rint(along).astype(np.int64), 0, int(round(tract.length_px)))
    size = int(round(tract.length_px)) + 1
    labelled = values != IGNORE_LABEL
    counts = np.bincount(positions[labelled], minlength=size)
    cancer = np.bincount(positions[labelled & (values == CANCER_LABEL)], minlength=size)
    return 2 * cancer > counts


def boundary_error_mm(predicted: np.ndarray, reference: np.ndarray, tract: Tract) -> float:
    """Mean distance between matching cancer boundaries of two label maps along the tract (mm).

    Each map is reduced to its cancer state per position along the tract
    (:func:`cancer_along_tract`); a boundary is a change of state between neighbouring
    positions, located halfway between them, and is rising (entering cancer, going distally)
    or falling. Every boundary of either map is matched to the nearest boundary of the same
    kind in the other map; a boundary without any counterpart of its kind counts as the
    tract's length. The result is the mean over all boundaries of both maps; two maps
    without boundaries score 0.0.
    """
    boundaries = [_boundaries(cancer_along_tract(m, tract)) for m in (predicted, reference)]
    distances = []
    for mine, other in (boundaries, boundaries[::-1]):
        for kind in (True, False):
            theirs = other[kind]
            for position in mine[kind]:
                if theirs.size:
                    distances.append(float(np.min(np.abs(theirs - position))) * tract.spacing_mm)
                else:
                    distances.append(tract.length_mm)
    return float(np.mean(distances)) if distances else 0.0


def _boundaries(state: np.ndarray) -> dict[bool, np.ndarray]:
    """Positions (pixels along the tract) of rising (True) and falling (False) boundaries."""
    change = np.nonzero(state[1:] != state[:-1])[0]
    rising = state[change + 1]
    return {True: change[rising] + 0.5, False: change[~rising] + 0.5}
