"""A real (tiny) checkpoint: one training batch of a bus-seg-train run on the synthetic data; input
images (PNG, DICOM) to predict on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from omegaconf import open_dict
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from bus_seg.config import compose_config
from bus_seg.io.images import write_png
from bus_seg.train import train

RUN_OVERRIDES = [
    "data=synthetic",
    "data.num_images=8",
    "data.size=64",
    "data.image_size=64",
    "data.batch_size=4",
    "data.num_workers=0",
    "trainer=cpu",
    "logger=csv",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=1",
    "test=false",
]
US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"


@pytest.fixture(scope="package")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``checkpoints/last.ckpt`` of a one-batch run of the tiny model (64×64 inputs)."""
    root = tmp_path_factory.mktemp("tiny_run")
    cfg = compose_config(RUN_OVERRIDES, output_dir=root / "run")
    with open_dict(cfg):
        cfg.paths.cache_dir = str(root / "cache")
    train(cfg)
    return root / "run" / "checkpoints" / "last.ckpt"


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Three gray PNGs of different, non-square sizes (one in a subfolder) and a BUSI-style mask."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    for name, shape in {"a": (50, 90), "b": (120, 80), "sub/c": (64, 64)}.items():
        write_png(folder / f"{name}.png", rng.integers(0, 256, shape, dtype=np.uint8))
    write_png(folder / "a_mask.png", np.zeros((50, 90), dtype=np.uint8))
    return folder


@pytest.fixture
def write_dicom() -> Callable[[Path, np.ndarray, float], Path]:
    """Writes ``pixels`` as a DICOM US file with ``PixelSpacing`` (see :func:`dicom_file`)."""
    return dicom_file


def dicom_file(path: Path, pixels: np.ndarray, pixel_spacing_mm: float) -> Path:
    """A minimal DICOM US file (Explicit VR Little Endian, 8-bit gray) with PixelSpacing."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = (
        US_IMAGE_STORAGE,
        meta.MediaStorageSOPInstanceUID,
        "US",
    )
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelSpacing = [pixel_spacing_mm, pixel_spacing_mm]
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
