"""The lesion as a continuous field over ultrasound pixel coordinates.

The biopsy core samples the lesion far more finely than the ultrasound pixel grid, so the core's
labels come from a field that answers "is this point lesion?" for any real coordinates. The
lesion mask written with each image is the same field at the pixel centres.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import ndimage


class LesionField(Protocol):
    """Whether points of the ultrasound image lie in a lesion."""

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Boolean array: lesion at ``(x, y)`` (ultrasound pixels, centres at integers)?"""


@dataclass(frozen=True)
class MaskField:
    """A raster lesion mask, interpolated bilinearly and thresholded at one half.

    At the pixel centres it equals the mask; between them its boundary runs through the
    midpoints of lesion/non-lesion neighbours. Points outside the image are not lesion.
    """

    mask: np.ndarray

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        values = ndimage.map_coordinates(
            self.mask.astype(np.float32, copy=False),
            [np.ravel(y), np.ravel(x)],
            order=1,
            mode="constant",
            cval=0.0,
            prefilter=False,
        )
        return (values >= 0.5).reshape(np.shape(x))


def rasterize_field(field: LesionField, shape: tuple[int, int]) -> np.ndarray:
    """The field at the pixel centres of an image of ``shape``: a boolean mask."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    return field.contains(cols.astype(np.float64), rows.astype(np.float64))
