"""BUSI-style mask folders: ``<root>/<class>/<name>.png`` with ``<name>_mask.png``, ``<name>_mask_1.png``…

The file layout only (which files pair up); what the images are used for belongs to the rooms
that read them (datasets, the simulator, validation).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bus_seg.errors import InputError
from bus_seg.io.images import read_gray

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
"""Suffixes of the images and masks of a mask folder (case-insensitive)."""
MASK_PATTERN = re.compile(r"^(?P<stem>.+)_mask(_\d+)?$")
"""Matches the stem of a mask file; ``stem`` is the stem of its image."""


@dataclass(frozen=True)
class MaskedImage:
    """One image of a mask folder and its lesion masks.

    Attributes:
        image_id: the file stem, prefixed by its class folder (``<class>__<stem>``) only when
            two classes share a stem.
        image_path: the image.
        mask_paths: its masks (several are merged into one lesion).
    """

    image_id: str
    image_path: Path
    mask_paths: tuple[Path, ...]


def is_image_file(path: Path) -> bool:
    """Whether ``path`` is a visible file with one of :data:`IMAGE_SUFFIXES`."""
    return (
        path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
    )


def class_subfolders(root: Path) -> list[Path]:
    """The visible subfolders of ``root`` (its class folders), sorted."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def pair_mask_files(folder: Path) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """Images by stem, and the masks of each stem, in one folder (unpaired ones included)."""
    images: dict[str, Path] = {}
    masks: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(folder.iterdir()):
        if not is_image_file(path):
            continue
        match = MASK_PATTERN.match(path.stem)
        if match:
            masks[match["stem"]].append(path)
        else:
            images[path.stem] = path
    return images, dict(masks)


def scan_mask_folder(root: str | Path, classes: Sequence[str] | None = None) -> list[MaskedImage]:
    """Find every image of a mask folder with its masks.

    Args:
        root: the folder; images sit in class subfolders (``benign/``, ``malignant/``) or in it directly.
        classes: class subfolders to use (e.g. ``["malignant"]``); None = every subfolder, or the
            folder itself when it has no subfolders.

    Raises:
        InputError: the folder or a class is missing, an image has no mask, a mask has no image,
            or no image is found.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(
            "data folder not found; set data.root=<folder> (BUSI-style: <class>/<name>.png + <name>_mask.png) "
            "or BUS_SEG_DATA for the shared data",
            root,
        )
    found = [
        (folder, stem, image, masks)
        for folder in _class_folders(root, classes)
        for stem, image, masks in _scan_one(folder)
    ]
    if not found:
        raise InputError(
            "no images found (expected <name>.png with <name>_mask.png beside it)", root
        )
    stems = [stem for _, stem, _, _ in found]
    shared = {stem for stem in stems if stems.count(stem) > 1}
    return [
        MaskedImage(f"{folder.name}__{stem}" if stem in shared else stem, image, masks)
        for folder, stem, image, masks in found
    ]


def read_sized_gray(path: Path, shape: tuple[int, int], image_path: Path) -> np.ndarray:
    """A label or mask image read as gray, which must have its image's ``shape``.

    Raises:
        InputError: the file cannot be read or its size differs from ``shape``.
    """
    array = read_gray(path)
    if array.shape != shape:
        raise InputError(
            f"size {array.shape[1]}×{array.shape[0]} differs from its image {image_path.name} "
            f"({shape[1]}×{shape[0]}); labels must have exactly the image's size",
            path,
        )
    return array


def read_mask_union(
    mask_paths: Sequence[Path], shape: tuple[int, int], image_path: Path
) -> np.ndarray:
    """H×W uint8: 1 where any of the masks is non-zero, else 0.

    Raises:
        InputError: a mask cannot be read or its size differs from ``shape``.
    """
    union = np.zeros(shape, dtype=np.uint8)
    for path in mask_paths:
        union |= (read_sized_gray(path, shape, image_path) > 0).astype(np.uint8)
    return union


def _class_folders(root: Path, classes: Sequence[str] | None) -> list[Path]:
    subfolders = class_subfolders(root)
    if classes is None:
        return subfolders or [root]
    missing = [c for c in classes if not (root / c).is_dir()]
    if missing:
        raise InputError(
            f"class folder(s) {missing} not found; available: {[p.name for p in subfolders]} (data.classes)",
            root,
        )
    return [root / c for c in classes]


def _scan_one(folder: Path) -> list[tuple[str, Path, tuple[Path, ...]]]:
    """(stem, image, masks) of every image in one folder."""
    images, masks = pair_mask_files(folder)
    orphans = sorted(set(masks) - set(images))
    if orphans:
        raise InputError(
            f"mask without image: {masks[orphans[0]][0].name} (and {len(orphans) - 1} more)", folder
        )
    unmasked = sorted(set(images) - set(masks))
    if unmasked:
        raise InputError(
            f"image without mask: {images[unmasked[0]].name} ({len(unmasked)} in all); add <name>_mask.png "
            "beside it or remove the image",
            folder,
        )
    return [(stem, images[stem], tuple(masks[stem])) for stem in sorted(images)]
