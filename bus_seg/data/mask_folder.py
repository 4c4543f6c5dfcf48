"""BUSI-style mask folders: ``<root>/<class>/<name>.png`` with ``<name>_mask*.png`` beside it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bus_seg.data.samples import SegmentationSample
from bus_seg.errors import InputError
from bus_seg.io.mask_layout import IMAGE_SUFFIXES, MASK_PATTERN


def scan_mask_folder(
    root: str | Path,
    classes: Sequence[str] | None = None,
    spacing_mm: float | None = None,
) -> list[SegmentationSample]:
    """Find every image of a mask folder with its masks (several masks are merged into one lesion).

    Each image is its own patient (BUSI publishes no patient ids). The image id is the file stem,
    prefixed by its class folder (``<class>__<stem>``) only when two classes share a stem.

    Args:
        root: the folder; images sit in class subfolders (``benign/``, ``malignant/``) or in it directly.
        classes: class subfolders to use (e.g. ``["malignant"]``); None = every subfolder, or the
            folder itself when it has no subfolders.
        spacing_mm: an assumed pixel size for every image (BUSI publishes none), or None.

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
    folders = _class_folders(root, classes)
    found = [
        (folder, stem, image, masks)
        for folder in folders
        for stem, image, masks in _scan_one(folder)
    ]
    if not found:
        raise InputError(
            "no images found (expected <name>.png with <name>_mask.png beside it)", root
        )
    stems = [stem for _, stem, _, _ in found]
    shared = {stem for stem in stems if stems.count(stem) > 1}
    samples = []
    for folder, stem, image, masks in found:
        image_id = f"{folder.name}__{stem}" if stem in shared else stem
        samples.append(
            SegmentationSample(
                image_id=image_id,
                patient_id=image_id,
                image_path=image,
                label_paths=masks,
                label_kind="masks",
                spacing_mm=spacing_mm,
            )
        )
    return samples


def _class_folders(root: Path, classes: Sequence[str] | None) -> list[Path]:
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
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
    images: dict[str, Path] = {}
    masks: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
            continue
        match = MASK_PATTERN.match(path.stem)
        if match:
            masks.setdefault(match["stem"], []).append(path)
        else:
            images[path.stem] = path
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
