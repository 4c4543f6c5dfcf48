"""Scoring at each image's own resolution: undo the network input's resize-and-pad.

The data pipeline serves every image as a square network input (``LongestMaxSize`` then centred
padding, :func:`bus_seg.data.transforms.resize_and_pad`). Evaluation maps the predicted
probabilities back: the padding is cropped off, the rest is resized (bilinear) to the image's
original size, and the cancer class is where the probability exceeds 0.5 (what ``argmax`` of two
classes gives). The image, label map and lesion mask are re-read from the sample's files at their
own size, so every figure is computed on the pixels that were annotated, with the image's own
pixel size (HD95 and areas in mm).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import albumentations as A
import cv2
import numpy as np

from bus_seg.data.samples import SegmentationSample
from bus_seg.data.transforms import resize_and_pad
from bus_seg.labels import IGNORE_LABEL
from bus_seg.training.eval_sample import EvalSample

THRESHOLD = 0.5


@lru_cache(maxsize=256)
def content_box(original_shape: tuple[int, int], image_size: int) -> tuple[slice, slice]:
    """Rows and columns of the ``image_size``² network input that hold the image (not padding).

    Found by running the data pipeline's own resize-and-pad on a blank image of the original
    shape, so it follows the pipeline's rounding exactly.
    """
    blank = np.zeros(original_shape, dtype=np.uint8)
    served = A.Compose(resize_and_pad(image_size))(image=blank, mask=blank)["mask"]
    inside = served != IGNORE_LABEL
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def probability_to_native(prob: np.ndarray, original_shape: tuple[int, int]) -> np.ndarray:
    """A square network-size probability map cropped of its padding and resized to ``original_shape``.

    Args:
        prob: S×S float cancer probability at the network input size.
        original_shape: (height, width) of the image before the data pipeline.

    Returns:
        The H×W float32 probability (bilinear, pixel centres aligned as ``cv2.resize``).
    """
    if prob.ndim != 2 or prob.shape[0] != prob.shape[1]:
        raise ValueError(f"expected a square network-size probability map, got shape {prob.shape}")
    rows, cols = content_box(tuple(int(n) for n in original_shape), int(prob.shape[0]))
    crop = np.ascontiguousarray(prob[rows, cols], dtype=np.float32)
    height, width = original_shape
    return cv2.resize(crop, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)


def native_sample(sample: EvalSample, source: SegmentationSample) -> EvalSample:
    """``sample`` (network size, with ``prob``) at the resolution of its source files."""
    if sample.prob is None:
        raise ValueError(f"image {sample.image_id!r}: native scoring needs the probability map")
    image = source.load_image()
    shape = image.shape[:2]
    prob = probability_to_native(sample.prob, shape)
    return EvalSample(
        image_id=sample.image_id,
        patient_id=sample.patient_id,
        image=image,
        target=source.load_labels(shape),
        pred=(prob > THRESHOLD).astype(np.uint8),
        prob=prob,
        spacing_mm=source.spacing_mm,
        lesion_mask=source.load_lesion_mask(shape),
    )


def native_samples(
    samples: Sequence[EvalSample], sources: Mapping[str, SegmentationSample]
) -> list[EvalSample] | None:
    """Every sample at native resolution, or None when one has no source file or no probability.

    Args:
        samples: network-size samples of the test stage.
        sources: image id -> the dataset's sample record (image and label paths).
    """
    if not samples or any(s.image_id not in sources or s.prob is None for s in samples):
        return None
    return [native_sample(sample, sources[sample.image_id]) for sample in samples]
