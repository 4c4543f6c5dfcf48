"""A torch Dataset over :class:`SegmentationSample` records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from bus_seg.data.samples import SegmentationSample
from bus_seg.labels import IGNORE_LABEL, WEAK_NEGATIVE_LABEL

NO_SPACING = float("nan")


class SegmentationDataset(Dataset):
    """Loads, transforms and serves samples as tensors.

    Each item is a dict: ``image`` (1×H×W float), ``label`` (H×W long, 255 = ignore), ``lesion``
    (H×W long full lesion mask, 255 where unknown), ``image_id``, ``patient_id`` and
    ``spacing_mm`` (at the served resolution; NaN when unknown).

    With ``weak_labels`` (``lesion_roi`` or ``lesion_mask``; training data only), unlabelled
    pixels outside the sample's lesion box or outline become 254 (weak non-cancer, see
    :data:`~bus_seg.labels.WEAK_NEGATIVE_LABEL`) in ``label``, the padding included;
    the registered labels themselves are never changed.
    """

    def __init__(
        self, samples: Sequence[SegmentationSample], transform: A.Compose, weak_labels: str = "none"
    ) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.weak_labels = weak_labels

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        image = sample.load_image()
        labels = sample.load_labels(image.shape)
        region = sample.weak_region(self.weak_labels, image.shape)
        lesion = sample.load_lesion_mask(image.shape)
        lesion_known = lesion is not None
        if lesion is None:
            lesion = np.full(image.shape, IGNORE_LABEL, dtype=np.uint8)
        targets = {"mask": labels, "lesion": lesion}
        if region is not None:
            targets["region"] = region.astype(np.uint8)
        out = self.transform(image=image, **targets)
        if region is not None:
            # Marked after the transform: padding and rotated-in borders (filled with 255, not 1)
            # lie outside the region too.
            outside = (out["mask"] == IGNORE_LABEL) & (out["region"] != 1)
            out["mask"] = np.where(outside, WEAK_NEGATIVE_LABEL, out["mask"]).astype(np.uint8)
        # LongestMaxSize scaled the image by image_size / longest side; padding keeps the spacing.
        scale = min(out["image"].shape[0] / image.shape[0], out["image"].shape[1] / image.shape[1])
        spacing = sample.spacing_mm / scale if sample.spacing_mm else NO_SPACING
        return {
            "image": torch.from_numpy(np.ascontiguousarray(out["image"])).float().unsqueeze(0),
            "label": torch.from_numpy(np.ascontiguousarray(out["mask"])).long(),
            "lesion": torch.from_numpy(np.ascontiguousarray(out["lesion"])).long(),
            "lesion_known": lesion_known,
            "image_id": sample.image_id,
            "patient_id": sample.patient_id,
            "spacing_mm": spacing,
        }
