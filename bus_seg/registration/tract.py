"""The sampled segment of the needle tract in the ultrasound image and its strip.

The strip follows the cohort format's rectangle rule (:mod:`bus_seg.io.cohort_format`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bus_seg.errors import RegistrationError
from bus_seg.io.cohort_format import in_strip, strip_coordinates


@dataclass(frozen=True)
class Tract:
    """A sampled segment of the needle tract and the width of its strip.

    Attributes:
        x0, y0: proximal end (pixels, centres at integers).
        x1, y1: distal end.
        spacing_mm: ultrasound pixel size (mm, isotropic).
        diameter_mm: strip width (the core diameter).
    """

    x0: float
    y0: float
    x1: float
    y1: float
    spacing_mm: float
    diameter_mm: float

    @property
    def length_px(self) -> float:
        """Segment length in pixels."""
        return math.hypot(self.x1 - self.x0, self.y1 - self.y0)

    @property
    def length_mm(self) -> float:
        """Segment length in millimetres."""
        return self.length_px * self.spacing_mm

    @property
    def half_width_px(self) -> float:
        """Half the strip width in pixels."""
        return self.diameter_mm / self.spacing_mm / 2.0

    @property
    def direction(self) -> np.ndarray:
        """Unit vector ``(dx, dy)`` from the proximal to the distal end."""
        length = self.length_px
        return np.array([(self.x1 - self.x0) / length, (self.y1 - self.y0) / length])

    @property
    def normal(self) -> np.ndarray:
        """Unit vector across the strip: the direction turned by +90° (x right, y down)."""
        dx, dy = self.direction
        return np.array([-dy, dx])

    def check_inside(self, shape: tuple[int, int]) -> None:
        """Check that both ends lie on an image of ``shape = (height, width)``.

        Raises:
            RegistrationError: an end is not a number or lies outside the image.
        """
        height, width = shape
        for name, x, y in (("proximal", self.x0, self.y0), ("distal", self.x1, self.y1)):
            if not (math.isfinite(x) and math.isfinite(y)):
                raise RegistrationError(f"the {name} tract point ({x}, {y}) is not a number")
            if not (-0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5):
                raise RegistrationError(
                    f"the {name} tract point ({x:g}, {y:g}) lies outside the {width}×{height} "
                    f"ultrasound image (pixel centres x 0–{width - 1}, y 0–{height - 1}); fix "
                    "tract_x0/tract_y0/tract_x1/tract_y1 (pixels of the full-resolution image)"
                )

    def check_length(self) -> None:
        """Check that the segment is at least as long as the core diameter.

        Raises:
            RegistrationError: the segment is shorter than the strip is wide.
        """
        if not self.length_mm >= self.diameter_mm:
            raise RegistrationError(
                f"the tract segment is {self.length_mm:.3g} mm long, shorter than the core "
                f"diameter {self.diameter_mm:g} mm; check the tract points and us_spacing_mm"
            )

    def coordinates(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Tract coordinates of every pixel centre of an image of ``shape``.

        Returns:
            ``(s, v)``: distance along the segment from the proximal end and signed distance
            across it (along :attr:`normal`), both H×W in pixels.
        """
        return strip_coordinates(shape, (self.x0, self.y0), (self.x1, self.y1))

    def strip_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean H×W mask of the strip by the rectangle rule (ends and edges included)."""
        along, across = self.coordinates(shape)
        return in_strip(along, across, self.length_px, self.half_width_px)
