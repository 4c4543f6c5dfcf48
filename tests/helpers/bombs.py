"""Small files that claim huge images ("decompression bombs"), made in a test in milliseconds.

- :func:`write_tiff_bomb`: a tiled, deflate-compressed TIFF whose tiles all point at one
  compressed zero tile, so a 30000×30000 RGB image takes about 120 kB on disk;
- :func:`write_dicom_bomb`: a DICOM file (deflated by default) whose header claims
  ``rows × columns``; ``real_pixels`` writes real zero pixel data (compressed by deflate), so
  the file truly inflates to the claimed size.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, generate_uid

_SHORT, _LONG = 3, 4


def write_tiff_bomb(path: Path, height: int, width: int, samples: int = 3, tile: int = 256) -> Path:
    """A classic tiled TIFF of ``height × width × samples`` uint8 whose tiles share one zero tile."""
    tile_data = zlib.compress(bytes(tile * tile * samples))
    n_tiles = -(-height // tile) * -(-width // tile)
    tags = {
        256: (_LONG, [width]),
        257: (_LONG, [height]),
        258: (_SHORT, [8] * samples),
        259: (_SHORT, [8]),  # deflate
        262: (_SHORT, [2 if samples == 3 else 1]),
        277: (_SHORT, [samples]),
        284: (_SHORT, [1]),
        322: (_SHORT, [tile]),
        323: (_SHORT, [tile]),
        324: (_LONG, None),  # tile offsets, filled below
        325: (_LONG, [len(tile_data)] * n_tiles),
    }
    header = 8
    ifd_size = 2 + 12 * len(tags) + 4
    blob = bytearray()
    data_start = header + ifd_size
    values_area: dict[int, int] = {}
    # layout: header, IFD, the one tile, then the tag values that do not fit in the IFD
    blob_offset = data_start + len(tile_data)
    tags[324] = (_LONG, [data_start] * n_tiles)
    for code, (kind, values) in sorted(tags.items()):
        size = (2 if kind == _SHORT else 4) * len(values)
        if size > 4:
            values_area[code] = blob_offset + len(blob)
            blob += struct.pack(f"<{len(values)}{'H' if kind == _SHORT else 'I'}", *values)
            if len(blob) % 2:
                blob += b"\0"
    ifd = struct.pack("<H", len(tags))
    for code, (kind, values) in sorted(tags.items()):
        if code in values_area:
            field = struct.pack("<I", values_area[code])
        else:
            field = struct.pack(f"<{len(values)}{'H' if kind == _SHORT else 'I'}", *values)
            field = field.ljust(4, b"\0")
        ifd += struct.pack("<HHI", code, kind, len(values)) + field
    ifd += struct.pack("<I", 0)
    path.write_bytes(b"II*\0" + struct.pack("<I", header) + ifd + tile_data + bytes(blob))
    return path


def write_dicom_bomb(
    path: Path,
    rows: int,
    columns: int,
    *,
    frames: int = 1,
    deflated: bool = True,
    real_pixels: bool = False,
) -> Path:
    """A DICOM file whose header claims ``frames × rows × columns`` 8-bit gray pixels.

    Args:
        real_pixels: write all the claimed (zero) pixel bytes (deflate makes them small);
            otherwise the pixel data holds a single row.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"  # US image storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian if deflated else ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "US"
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.Rows, dataset.Columns = rows, columns
    if frames > 1:
        dataset.NumberOfFrames = frames
    dataset.BitsAllocated = dataset.BitsStored = 8
    dataset.HighBit = 7
    dataset.PixelRepresentation = 0
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, dataset)
    n_bytes = rows * columns * frames if real_pixels else columns
    n_bytes += n_bytes % 2
    pixel_header = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, n_bytes)
    with path.open("wb") as handle:
        handle.write(b"\0" * 128 + b"DICM")
        meta_buffer = DicomBytesIO()
        meta_buffer.is_little_endian, meta_buffer.is_implicit_VR = True, False
        write_file_meta_info(meta_buffer, meta)
        handle.write(meta_buffer.getvalue())
        compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS) if deflated else None
        for chunk in _chunks(body.getvalue() + pixel_header, n_bytes):
            handle.write(compressor.compress(chunk) if compressor else chunk)
        if compressor:
            handle.write(compressor.flush())
    return path


def _chunks(head: bytes, zeros: int, size: int = 16 << 20):
    yield head
    while zeros > 0:
        yield bytes(min(size, zeros))
        zeros -= size
