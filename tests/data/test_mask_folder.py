"""Mask folders: masks merged, clear errors for missing folders, unmatched files, size mismatch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bus_seg.data.mask_folder import scan_mask_folder
from bus_seg.errors import InputError
from bus_seg.io.images import write_png


def write_case(
    folder: Path, name: str, masks: list[np.ndarray], size: tuple[int, int] = (20, 30)
) -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (*size, 3), dtype=np.uint8)
    write_png(folder / f"{name}.png", rgb)
    for i, mask in enumerate(masks):
        suffix = "_mask" if i == 0 else f"_mask_{i}"
        write_png(folder / f"{name}{suffix}.png", mask)


def test_masks_are_merged_and_rgb_becomes_gray(tmp_path: Path) -> None:
    a = np.zeros((20, 30), np.uint8)
    a[2:5, 2:5] = 255
    b = np.zeros((20, 30), np.uint8)
    b[10:12, 10:15] = 1
    write_case(tmp_path / "malignant", "malignant (1)", [a, b])
    write_case(tmp_path / "benign", "benign (1)", [a])
    samples = scan_mask_folder(tmp_path, classes=["malignant"])
    assert [s.image_id for s in samples] == ["malignant (1)"]
    image = samples[0].load_image()
    labels = samples[0].load_labels(image.shape)
    assert image.shape == (20, 30) and image.dtype == np.uint8
    assert labels.sum() == 9 + 10 and set(np.unique(labels)) == {0, 1}


def test_missing_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="data folder not found"):
        scan_mask_folder(tmp_path / "nope")


def test_missing_class_lists_available(tmp_path: Path) -> None:
    write_case(tmp_path / "benign", "b1", [np.zeros((20, 30), np.uint8)])
    with pytest.raises(InputError, match="available: \\['benign'\\]"):
        scan_mask_folder(tmp_path, classes=["malignant"])


def test_image_without_mask(tmp_path: Path) -> None:
    write_png(tmp_path / "lonely.png", np.zeros((5, 5), np.uint8))
    with pytest.raises(InputError, match="image without mask: lonely.png"):
        scan_mask_folder(tmp_path)


def test_mask_size_mismatch_names_both_files(tmp_path: Path) -> None:
    write_case(tmp_path, "x", [np.zeros((10, 10), np.uint8)])
    sample = scan_mask_folder(tmp_path)[0]
    with pytest.raises(InputError, match="x_mask.png.*differs from its image x.png"):
        sample.load_labels(sample.load_image().shape)


def test_unreadable_image_names_file(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not a png")
    write_png(tmp_path / "bad_mask.png", np.zeros((5, 5), np.uint8))
    sample = scan_mask_folder(tmp_path)[0]
    with pytest.raises(InputError, match="bad.png: cannot decode image"):
        sample.load_image()


@pytest.mark.shared_data
def test_busi_malignant_is_found(shared_data: Path) -> None:
    samples = scan_mask_folder(shared_data / "busi", classes=["malignant"])
    assert len(samples) == 158
    assert any(len(s.label_paths) > 1 for s in samples), "BUSI has images with several masks"
