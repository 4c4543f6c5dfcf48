"""Weak region labels (cohort format 1.1): the outside of ``lesion_roi`` / ``lesion_mask_path``
as weak non-cancer (254) in training targets, never changing the registered strip, with clear
errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bus_seg.data.datamodules import SegmentationDataModule
from bus_seg.data.dataset import SegmentationDataset
from bus_seg.data.samples import SegmentationSample
from bus_seg.data.transforms import build_transform
from bus_seg.errors import ConfigError, InputError
from bus_seg.io.images import write_png
from bus_seg.io.manifest import read_manifest, write_manifest
from bus_seg.labels import WEAK_NEGATIVE_LABEL

H, W = 32, 64


def make_sample(tmp_path: Path, name: str, **fields) -> SegmentationSample:
    image = write_png(tmp_path / f"{name}.png", np.full((H, W), 100, dtype=np.uint8))
    labels = np.full((H, W), 255, dtype=np.uint8)
    labels[15:17, 10:50] = 0
    labels[15:17, 20:30] = 1  # the strip: cancer in x 20..29, non-cancer elsewhere on it
    label = write_png(tmp_path / f"{name}_label.png", labels)
    return SegmentationSample(name, name, image, (label,), **fields)


def served_label(sample: SegmentationSample, weak: str) -> np.ndarray:
    dataset = SegmentationDataset([sample], build_transform("none", W), weak)
    # image_size = W: the 64×32 image is not resized, only padded to 64×64 (rows 16..47).
    return dataset[0]["label"].numpy()[16:48]


def test_lesion_roi_outside_becomes_non_cancer_and_the_strip_is_kept(tmp_path: Path) -> None:
    sample = make_sample(tmp_path, "a", lesion_roi=(18, 8, 16, 14))
    label = served_label(sample, "lesion_roi")
    strip = served_label(sample, "none")
    inside = np.zeros((H, W), dtype=bool)
    inside[8:22, 18:34] = True
    on_strip = strip != 255
    assert np.array_equal(label[on_strip], strip[on_strip]), "registered labels never change"
    assert (label[~inside & ~on_strip] == WEAK_NEGATIVE_LABEL).all()
    assert (label[inside & ~on_strip] == 255).all()


def test_padding_is_outside_the_region_too(tmp_path: Path) -> None:
    # The 64×32 image is padded to 64×64 (rows 0..15 and 48..63): with weak labels the padding is
    # outside the box, so weak non-cancer; without them it stays unlabelled.
    sample = make_sample(tmp_path, "p", lesion_roi=(18, 8, 16, 14))
    weak = SegmentationDataset([sample], build_transform("none", W), "lesion_roi")[0]["label"]
    plain = SegmentationDataset([sample], build_transform("none", W), "none")[0]["label"]
    for rows in (slice(0, 16), slice(48, 64)):
        assert (weak[rows] == WEAK_NEGATIVE_LABEL).all() and (plain[rows] == 255).all()


def test_lesion_mask_outside_becomes_non_cancer(tmp_path: Path) -> None:
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[10:20, 20:30] = 7  # any non-zero value is lesion
    path = write_png(tmp_path / "mask.png", mask)
    label = served_label(make_sample(tmp_path, "b", lesion_mask_path=path), "lesion_mask")
    outside = (mask == 0) & (served_label(make_sample(tmp_path, "b2"), "none") == 255)
    assert (label[outside] == WEAK_NEGATIVE_LABEL).all() and (label[10:15, 20:30] == 255).all()


def test_lesion_roi_beyond_the_image_names_the_case(tmp_path: Path) -> None:
    sample = make_sample(tmp_path, "c", lesion_roi=(50, 0, 20, 10))
    with pytest.raises(
        InputError, match="case 'c': lesion_roi 50,0,20,10 reaches beyond the 64×32"
    ):
        served_label(sample, "lesion_roi")


def test_lesion_mask_of_the_wrong_size_names_the_file(tmp_path: Path) -> None:
    path = write_png(tmp_path / "small_mask.png", np.ones((10, 10), dtype=np.uint8))
    with pytest.raises(
        InputError, match="small_mask.png.*labels must have exactly the image's size"
    ):
        served_label(make_sample(tmp_path, "d", lesion_mask_path=path), "lesion_mask")


class Fixed(SegmentationDataModule):
    def __init__(self, samples: list[SegmentationSample], **kwargs) -> None:
        super().__init__(**kwargs)
        self.samples = samples

    def load_samples(self) -> list[SegmentationSample]:
        return self.samples


def test_weak_labels_setting_errors_and_training_subset_only(tmp_path: Path) -> None:
    samples = [make_sample(tmp_path, f"s{i}", lesion_roi=(18, 8, 16, 14)) for i in range(6)]
    with pytest.raises(ConfigError, match="data.weak_labels='box' is unknown"):
        Fixed(samples, weak_labels="box")
    no_roi = [make_sample(tmp_path, f"n{i}") for i in range(6)]
    module = Fixed(no_roi, weak_labels="lesion_roi", image_size=64, split_fractions=(0.5, 0.5, 0.0))
    with pytest.raises(
        ConfigError, match="data.weak_labels=lesion_roi needs the cohort column 'lesion_roi'"
    ):
        module.setup()
    module = Fixed(
        samples, weak_labels="lesion_roi", image_size=64, split_fractions=(0.5, 0.5, 0.0)
    )
    module.setup()
    assert module.datasets["train"].weak_labels == "lesion_roi"
    assert (
        module.datasets["val"].weak_labels == "none"
        and module.datasets["test"].weak_labels == "none"
    )


def test_manifest_reads_the_lesion_columns(tmp_path: Path) -> None:
    for name in ("us.png", "wsi.png", "ann.png", "lesion.png"):
        write_png(tmp_path / name, np.zeros((4, 4), dtype=np.uint8))
    base = {
        "patient_id": "p",
        "us_path": "us.png",
        "us_spacing_mm": 0.1,
        "tract_x0": 0,
        "tract_y0": 1,
        "tract_x1": 3,
        "tract_y1": 1,
        "wsi_path": "wsi.png",
        "wsi_mpp": 1,
        "annotation_path": "ann.png",
    }
    path = write_manifest(
        tmp_path / "manifest.csv",
        [
            {"case_id": "a", **base, "lesion_roi": "1,0,2,3", "lesion_mask_path": "lesion.png"},
            {"case_id": "b", **base},
            {"case_id": "c", **base, "lesion_roi": "1,0,0,3"},
        ],
    )
    manifest = read_manifest(path)
    first, second = manifest.records
    assert first.lesion_roi == (1, 0, 2, 3) and first.lesion_mask_path == tmp_path / "lesion.png"
    assert second.lesion_roi is None and second.lesion_mask_path is None
    assert [(i.row, i.column) for i in manifest.errors] == [(3, "lesion_roi")]
    assert "ultrasound pixels" in manifest.errors[0].message


def test_runs_with_weak_labels_say_so_in_the_report_settings() -> None:
    from bus_seg.config import compose_config
    from bus_seg.training.run_outputs import RunOutputs

    summary = RunOutputs.config_summary(compose_config(["experiment=busi_strip_roi"]))
    assert summary["weak_labels"] == "lesion_roi" and summary["labels"] == "registered"
    assert summary["regularisers"] == "compactness, crf, entropy, box"
