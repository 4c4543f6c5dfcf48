"""Datasets, transforms, patient-level splits and LightningDataModules.

Exports load lazily, so light users (validation, the manifest tools) don't import Lightning.
"""

from __future__ import annotations

from bus_seg.lazy import lazy_getattr

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

__getattr__ = lazy_getattr(__name__, _EXPORTS)
