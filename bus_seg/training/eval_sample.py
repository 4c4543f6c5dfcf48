"""What the test stage hands to evaluation: one record per test image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EvalSample:
    """One evaluated image at the resolution the model saw it.

    Attributes:
        image_id: id of the image (the case id for registered cohorts).
        patient_id: patient of the image (paired statistics and splits use it).
        image: H×W uint8 gray ultrasound image.
        target: H×W uint8 reference labels: 1 cancer/lesion, 0 sampled non-cancer, 255 ignore.
        pred: H×W uint8 predicted labels (0/1) over the whole image.
        prob: H×W float32 predicted cancer probability, or None.
        spacing_mm: pixel size in millimetres at this resolution, or None when unknown.
        lesion_mask: H×W uint8 full lesion mask (0/1; 255 outside the image, e.g. padding to a
            square, not scored) when the cohort has one (simulated, BUSI), else None.
    """

    image_id: str
    patient_id: str
    image: np.ndarray
    target: np.ndarray
    pred: np.ndarray
    prob: np.ndarray | None = None
    spacing_mm: float | None = None
    lesion_mask: np.ndarray | None = None
