"""Datasets, transforms, patient-level splits and LightningDataModules."""

from bus_seg.data.datamodules import (
    ImageLabelCSVDataModule,
    MaskFolderDataModule,
    SegmentationDataModule,
    SyntheticDataModule,
)
from bus_seg.data.registered import RegisteredCohortDataModule
from bus_seg.data.samples import SegmentationSample
from bus_seg.data.splits import split_by_patient

__all__ = [
    "ImageLabelCSVDataModule",
    "MaskFolderDataModule",
    "RegisteredCohortDataModule",
    "SegmentationDataModule",
    "SegmentationSample",
    "SyntheticDataModule",
    "split_by_patient",
]
