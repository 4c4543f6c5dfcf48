"""BUSI-style mask folders as samples: ``<root>/<class>/<name>.png`` with ``<name>_mask*.png``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bus_seg.data.samples import SegmentationSample
from bus_seg.io import mask_layout


def scan_mask_folder(
    root: str | Path,
    classes: Sequence[str] | None = None,
    spacing_mm: float | None = None,
) -> list[SegmentationSample]:
    """Find every image of a mask folder with its masks (several masks are merged into one lesion).

    Each image is its own patient (BUSI publishes no patient ids). The image id is the file stem,
    prefixed by its class folder (``<class>__<stem>``) only when two classes share a stem
    (:func:`bus_seg.io.mask_layout.scan_mask_folder`).

    Args:
        root: the folder; images sit in class subfolders (``benign/``, ``malignant/``) or in it directly.
        classes: class subfolders to use (e.g. ``["malignant"]``); None = every subfolder, or the
            folder itself when it has no subfolders.
        spacing_mm: an assumed pixel size for every image (BUSI publishes none), or None.

    Raises:
        InputError: the folder or a class is missing, an image has no mask, a mask has no image,
            or no image is found.
    """
    return [
        SegmentationSample(
            image_id=found.image_id,
            patient_id=found.image_id,
            image_path=found.image_path,
            label_paths=found.mask_paths,
            label_kind="masks",
            spacing_mm=spacing_mm,
        )
        for found in mask_layout.scan_mask_folder(root, classes)
    ]
