"""The label values, cancer classes and default normalisation that every room shares.

A label map (the cohort format's, and every training target, metric and figure) holds
:data:`CANCER_LABEL` where histology says cancer, :data:`NON_CANCER_LABEL` where it says sampled
non-cancer, and :data:`IGNORE_LABEL` where nothing was sampled; every loss, metric and figure
skips :data:`IGNORE_LABEL`. The network's output channel of the cancer class is
:data:`CANCER_LABEL` too.
"""

from __future__ import annotations

NON_CANCER_LABEL = 0
"""Sampled and not cancer."""
CANCER_LABEL = 1
"""Cancer (or lesion); also the index of the network's cancer channel."""
IGNORE_LABEL = 255
"""Not sampled (and padding): ignored by every loss, metric and figure."""
WEAK_NEGATIVE_LABEL = 254
"""Training targets only: non-cancer by weak knowledge (outside the lesion box or outline), kept
apart from the histology's 0 so that the loss weighs it on its own."""
LABEL_VALUES = (NON_CANCER_LABEL, CANCER_LABEL, IGNORE_LABEL)
"""The values a label map may hold."""

DEFAULT_CANCER_CLASSES: tuple[str, ...] = (
    "Tumor",
    "Tumour",
    "Cancer",
    "Carcinoma",
    "Invasive carcinoma",
    "DCIS",
)
"""Annotation class names that count as cancer (case-insensitive) unless configured otherwise."""

DEFAULT_MEAN = 0.449
"""Intensity mean of the normalisation (images scaled to [0, 1] first; ImageNet's gray mean)."""
DEFAULT_STD = 0.226
"""Intensity standard deviation of the normalisation (ImageNet's gray standard deviation)."""
