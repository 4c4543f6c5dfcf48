"""The unit every dataset serves: one image with its labels, found on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bus_seg.errors import InputError
from bus_seg.io.mask_layout import read_mask_union, read_sized_gray
from bus_seg.io.ultrasound import read_ultrasound_pixels
from bus_seg.labels import LABEL_VALUES

WEAK_LABELS = ("none", "lesion_roi", "lesion_mask")
"""``data.weak_labels``: which weak region knowledge marks unlabelled pixels non-cancer."""


@dataclass(frozen=True)
class SegmentationSample:
    """An image and where its labels come from.

    Attributes:
        image_id: unique id (the case id for registered cohorts, the file stem for mask folders).
        patient_id: patient the image belongs to; splits never put one patient in two subsets.
        image_path: the gray or RGB image.
        label_paths: one label map (0/1/255), or several lesion masks merged (non-zero = lesion).
        label_kind: ``"label_map"`` (values 0, 1, 255 kept) or ``"masks"`` (union of non-zero).
        split: a fixed subset (``train``/``val``/``test``) or None to let the splitter decide.
        spacing_mm: pixel size of the image in millimetres, when known.
        lesion_mask_path: full lesion mask (0/non-zero), for evaluation beyond the labelled strip
            and, with ``data.weak_labels=lesion_mask``, as weak training knowledge.
        lesion_roi: ``(x, y, w, h)`` box in image pixels that holds the whole lesion, or None.
        image_frame: the frame of a cine-loop image (the manifest's ``us_frame``), or None for
            the first.
    """

    image_id: str
    patient_id: str
    image_path: Path
    label_paths: tuple[Path, ...]
    label_kind: str = "label_map"
    split: str | None = None
    spacing_mm: float | None = None
    lesion_mask_path: Path | None = None
    lesion_roi: tuple[int, int, int, int] | None = None
    image_frame: int | None = None

    def load_image(self) -> np.ndarray:
        """The image as H×W uint8 gray, read exactly as registration and inference read it
        (:func:`bus_seg.io.ultrasound.read_ultrasound_pixels`)."""
        return read_ultrasound_pixels(self.image_path, self.image_frame)

    def load_labels(self, shape: tuple[int, int]) -> np.ndarray:
        """The H×W uint8 labels (1 lesion/cancer, 0 not, 255 ignore), checked against ``shape``."""
        if self.label_kind == "masks":
            return read_mask_union(self.label_paths, shape, self.image_path)
        labels = self._read_checked(self.label_paths[0], shape).astype(np.uint8)
        bad = ~np.isin(labels, LABEL_VALUES)
        if bad.any():
            raise InputError(
                f"label map has values {sorted(np.unique(labels[bad]).tolist())[:5]} besides 0, 1 and 255; "
                "a label map must use 1 = cancer, 0 = sampled non-cancer, 255 = not sampled",
                self.label_paths[0],
            )
        return labels

    def load_lesion_mask(self, shape: tuple[int, int]) -> np.ndarray | None:
        """The full lesion mask (0/1) or None when the sample has none."""
        if self.lesion_mask_path is None:
            return None
        return (self._read_checked(self.lesion_mask_path, shape) > 0).astype(np.uint8)

    def has_weak_region(self, weak_labels: str) -> bool:
        """Whether the sample carries the knowledge that ``weak_labels`` asks for."""
        if weak_labels == "lesion_roi":
            return self.lesion_roi is not None
        if weak_labels == "lesion_mask":
            return self.lesion_mask_path is not None
        return False

    def weak_region(self, weak_labels: str, shape: tuple[int, int]) -> np.ndarray | None:
        """H×W bool: where the lesion may be (inside the box or the outline), or None.

        Raises:
            InputError: the box does not lie inside the image, or the mask has another size.
        """
        if not self.has_weak_region(weak_labels):
            return None
        if weak_labels == "lesion_mask":
            return self.load_lesion_mask(shape).astype(bool)
        x, y, w, h = self.lesion_roi
        height, width = shape
        if x + w > width or y + h > height:
            raise InputError(
                f"case {self.image_id!r}: lesion_roi {x},{y},{w},{h} reaches beyond the {width}×{height} "
                "image; a lesion_roi is x,y,w,h in ultrasound pixels with x+w <= width and y+h <= height: "
                "fix the manifest's lesion_roi cell",
                self.image_path,
            )
        region = np.zeros(shape, dtype=bool)
        region[y : y + h, x : x + w] = True
        return region

    def _read_checked(self, path: Path, shape: tuple[int, int]) -> np.ndarray:
        return read_sized_gray(path, shape, self.image_path)
