"""Datasets, transforms, patient-level splits and LightningDataModules.

Exports load lazily, so light users (validation, the manifest tools) don't import Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ImageLabelCSVDataModule": "bus_seg.data.datamodules",
    "MaskFolderDataModule": "bus_seg.data.datamodules",
    "SegmentationDataModule": "bus_seg.data.datamodules",
    "SyntheticDataModule": "bus_seg.data.datamodules",
    "RegisteredCohortDataModule": "bus_seg.data.registered",
    "SegmentationSample": "bus_seg.data.samples",
    "split_by_patient": "bus_seg.data.splits",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bus_seg.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
