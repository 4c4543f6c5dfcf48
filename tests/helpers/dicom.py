"""DICOM ultrasound files for tests (pydicom only): single frames with calibration regions, cine loops."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"
US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
SECRETS = {
    "PatientName": "Doe^Jane",
    "PatientID": "SECRET123",
    "PatientBirthDate": "19700101",
    "AccessionNumber": "ACC998877",
    "InstitutionName": "St Hidden Hospital",
    "StudyDate": "20240229",
    "ReferringPhysicianName": "House^Gregory",
}


def region(
    delta_cm: tuple[float, float], box: tuple[int, int, int, int], units: int = 3, spatial: int = 1
) -> Dataset:
    """One item of SequenceOfUltrasoundRegions: (dx, dy) in cm over box (x0, y0, x1, y1)."""
    item = Dataset()
    item.RegionSpatialFormat = spatial
    item.RegionDataType = 1
    item.RegionLocationMinX0, item.RegionLocationMinY0 = box[0], box[1]
    item.RegionLocationMaxX1, item.RegionLocationMaxY1 = box[2], box[3]
    item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = units
    item.PhysicalDeltaX, item.PhysicalDeltaY = delta_cm
    return item


def write_dicom(
    path: Path,
    pixels: np.ndarray,
    *,
    photometric: str | None = None,
    bits_stored: int | None = None,
    regions: list[Dataset] | None = None,
    pixel_spacing: tuple[float, float] | None = None,
    frames: int = 1,
    tags: Mapping[str, str] = SECRETS,
    with_pixels: bool = True,
) -> Path:
    """A DICOM Part 10 US file (Explicit VR Little Endian) holding ``pixels`` (frames first) and
    the identifying ``tags`` (keyword: value; :data:`SECRETS` by default)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = US_IMAGE_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "US"
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    color = pixels.ndim == (4 if frames > 1 else 3)
    ds.SamplesPerPixel = 3 if color else 1
    ds.PhotometricInterpretation = photometric or ("RGB" if color else "MONOCHROME2")
    if color:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if color else pixels.shape[-2:]
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if regions is not None:
        ds.SequenceOfUltrasoundRegions = Sequence(regions)
    if pixel_spacing is not None:
        ds.PixelSpacing = list(pixel_spacing)
    if with_pixels:
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_cine(path: Path, frames: np.ndarray, spacing_mm: float | None = None) -> Path:
    """Write N×H×W uint8 ``frames`` as a multi-frame MONOCHROME2 ultrasound DICOM file (with
    PixelSpacing when ``spacing_mm`` is given; the parent folder is made)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_MULTIFRAME_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = US_MULTIFRAME_STORAGE, meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    if spacing_mm is not None:
        ds.PixelSpacing = [spacing_mm, spacing_mm]
    ds.PixelData = np.ascontiguousarray(frames, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
