"""LightningDataModules: one base that splits and serves samples, one subclass per data source."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from bus_seg.data.csv_table import read_image_label_table
from bus_seg.data.dataset import SegmentationDataset
from bus_seg.data.mask_folder import scan_mask_folder
from bus_seg.data.samples import WEAK_LABELS, SegmentationSample
from bus_seg.data.sampling import EpochSampler, ResumableDataLoader, SeededAugmentation
from bus_seg.data.splits import SUBSETS, split_by_patient
from bus_seg.data.synthetic import write_synthetic_dataset
from bus_seg.data.transforms import build_transform, check_image_size
from bus_seg.errors import ConfigError, InputError
from bus_seg.labels import DEFAULT_MEAN, DEFAULT_STD

log = logging.getLogger(__name__)


class SegmentationDataModule(pl.LightningDataModule):
    """Patient-level split, albumentations transforms and loaders around ``load_samples()``.

    Args:
        image_size: side of the square network input (multiple of 32).
        batch_size: images per batch (per process under DDP).
        num_workers: DataLoader worker processes.
        split_fractions: train/val/test fractions of patients.
        seed: seed of the loaders' shuffling and augmentation (the run's ``seed``).
        split_seed: seed of the patient split (the same seed gives the same split); None: ``seed``.
        num_folds: k of k-fold cross-validation, or None.
        fold: the validation fold when ``num_folds`` is set.
        augment: training preset (``train`` or ``none``).
        mean: intensity mean for normalisation (images scaled to [0, 1] first).
        std: intensity standard deviation for normalisation.
        pin_memory: pin host memory (GPU training).
        weak_labels: ``none`` (default), ``lesion_roi`` or ``lesion_mask``: in the training
            subset only, unlabelled pixels outside the lesion box (``lesion_roi``) or outline
            (``lesion_mask_path``) are taken as non-cancer. Weak knowledge, not histology: every
            run that uses it records it in its config and metrics.
    """

    def __init__(
        self,
        image_size: int = 128,
        batch_size: int = 8,
        num_workers: int = 0,
        split_fractions: Sequence[float] = (0.7, 0.2, 0.1),
        seed: int = 42,
        split_seed: int | None = None,
        num_folds: int | None = None,
        fold: int | None = None,
        augment: str = "train",
        mean: float = DEFAULT_MEAN,
        std: float = DEFAULT_STD,
        pin_memory: bool = False,
        weak_labels: str = "none",
    ) -> None:
        super().__init__()
        check_image_size(image_size)
        if weak_labels not in WEAK_LABELS:
            raise ConfigError(
                f"data.weak_labels={weak_labels!r} is unknown; choose one of {list(WEAK_LABELS)}"
            )
        self.weak_labels = weak_labels
        self.image_size, self.batch_size, self.num_workers = image_size, batch_size, num_workers
        self.split_fractions, self.seed = tuple(split_fractions), seed
        self.split_seed = seed if split_seed is None else split_seed
        self.num_folds, self.fold = num_folds, fold
        self.augment, self.mean, self.std, self.pin_memory = augment, mean, std, pin_memory
        self.subsets: dict[str, list[SegmentationSample]] = {}
        self.datasets: dict[str, SegmentationDataset] = {}

    def load_samples(self) -> list[SegmentationSample]:
        """Every sample of the data source (subclasses implement it)."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        samples = self.load_samples()
        self.subsets = split_by_patient(
            samples, self.split_fractions, self.split_seed, self.num_folds, self.fold
        )
        check_disjoint_patients(self.subsets)
        empty = [name for name in ("train", "val") if not self.subsets[name]]
        if empty:
            raise InputError(
                f"the {' and '.join(empty)} subset is empty ({len(samples)} images of "
                f"{len({s.patient_id for s in samples})} patients); add data or change data.split_fractions"
            )
        self._check_weak_labels(self.subsets["train"])
        for name in SUBSETS:
            preset = self.augment if name == "train" else "eval"
            transform = build_transform(preset, self.image_size, self.mean, self.std)
            weak = self.weak_labels if name == "train" else "none"
            self.datasets[name] = SegmentationDataset(self.subsets[name], transform, weak)

    def _check_weak_labels(self, train: list[SegmentationSample]) -> None:
        """Refuse a weak-label setting that no training sample can serve; note partial cover."""
        if self.weak_labels == "none":
            return
        column = "lesion_roi" if self.weak_labels == "lesion_roi" else "lesion_mask_path"
        lacking = [s.image_id for s in train if not s.has_weak_region(self.weak_labels)]
        if len(lacking) == len(train):
            raise ConfigError(
                f"data.weak_labels={self.weak_labels} needs the cohort column {column!r}, but no "
                f"training case has it; add it to the manifest (cohort format 1.1) or set "
                f"data.weak_labels=none"
            )
        if lacking:
            log.warning(
                "data.weak_labels=%s: %d of %d training cases have no %s and train on their strip only "
                "(first: %s)",
                self.weak_labels,
                len(lacking),
                len(train),
                column,
                lacking[0],
            )

    def split_table(self) -> pd.DataFrame:
        """One row per image: image_id, patient_id, subset (for the run's output folder)."""
        return pd.DataFrame(
            [
                {"image_id": s.image_id, "patient_id": s.patient_id, "subset": name}
                for name in SUBSETS
                for s in self.subsets.get(name, [])
            ]
        )

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        """A loader of one subset; the shuffled (training) one is seeded and resumable mid-epoch.

        Every loader gets its own generator, so creating its iterator draws nothing from the
        global torch RNG (which the model's dropout uses); see :mod:`bus_seg.data.sampling`.
        """
        dataset = self.datasets[name]
        options = {
            "batch_size": self.batch_size,
            "num_workers": self.num_workers,
            "pin_memory": self.pin_memory,
            "persistent_workers": self.num_workers > 0,
            "generator": torch.Generator().manual_seed(self.seed),
        }
        if not shuffle:
            return DataLoader(dataset, shuffle=False, **options)
        return ResumableDataLoader(
            SeededAugmentation(dataset, self.seed),
            sampler=EpochSampler(dataset, self.seed),
            drop_last=len(dataset) > self.batch_size,
            **options,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test" if self.datasets["test"].samples else "val", shuffle=False)


def check_disjoint_patients(subsets: dict[str, list[SegmentationSample]]) -> None:
    """Raise unless every patient lies in exactly one subset (a guard against split leaks).

    Raises:
        InputError: a patient is in two subsets; names the patient and the subsets.
    """
    owner: dict[str, str] = {}
    for name in SUBSETS:
        for sample in subsets.get(name, []):
            first = owner.setdefault(sample.patient_id, name)
            if first != name:
                raise InputError(
                    f"patient {sample.patient_id!r} is in both the {first} and the {name} subset; "
                    "a patient must stay in one subset: check the split column and the patient ids"
                )


class MaskFolderDataModule(SegmentationDataModule):
    """BUSI-style folders (see :func:`bus_seg.data.mask_folder.scan_mask_folder`)."""

    def __init__(
        self,
        root: str,
        classes: Sequence[str] | None = None,
        spacing_mm: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.root, self.classes, self.spacing_mm = (
            Path(root),
            list(classes) if classes else None,
            spacing_mm,
        )

    def load_samples(self) -> list[SegmentationSample]:
        return scan_mask_folder(self.root, self.classes, self.spacing_mm)


class ImageLabelCSVDataModule(SegmentationDataModule):
    """A CSV of images and label maps (see :func:`bus_seg.data.csv_table.read_image_label_table`)."""

    def __init__(self, table: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = Path(table)

    def load_samples(self) -> list[SegmentationSample]:
        return read_image_label_table(self.table)


class SyntheticDataModule(ImageLabelCSVDataModule):
    """The built-in synthetic dataset, written once under ``cache_dir``."""

    def __init__(
        self,
        cache_dir: str,
        num_images: int = 24,
        size: int = 96,
        data_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        folder = Path(cache_dir) / f"synthetic_n{num_images}_s{size}_seed{data_seed}"
        super().__init__(table=str(folder / "table.csv"), **kwargs)
        self.folder, self.num_images, self.size, self.data_seed = (
            folder,
            num_images,
            size,
            data_seed,
        )

    def prepare_data(self) -> None:
        write_synthetic_dataset(self.folder, self.num_images, self.size, self.data_seed)

    def load_samples(self) -> list[SegmentationSample]:
        self.prepare_data()
        return super().load_samples()
