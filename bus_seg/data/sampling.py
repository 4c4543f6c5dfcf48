"""A training order that is deterministic and resumes exactly in the middle of an epoch.

Three pieces, used together by :class:`~bus_seg.data.datamodules.SegmentationDataModule`:

- :class:`EpochSampler` shuffles with a generator seeded by ``seed + epoch`` (it is a
  ``DistributedSampler``, one replica when not distributed, so Lightning keeps it under DDP) and
  yields ``(epoch, index)`` keys.
- :class:`SeededAugmentation` draws the augmentation of item ``(epoch, index)`` from a seed of
  ``(seed, epoch, index)``: the same for any number of loader workers, ranks or restarts.
- :class:`ResumableDataLoader` counts the batches it served in the current epoch and puts that in
  every checkpoint (Lightning saves the ``state_dict`` of stateful training loaders); on resume
  it skips the batches already trained on, without loading them.

With :class:`~bus_seg.training.callbacks.RandomStateInCheckpoint` for the model's own randomness
(dropout), a run killed mid-epoch and resumed from its last checkpoint ends with the weights of
an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from bus_seg.data.dataset import SegmentationDataset

ItemKey = tuple[int, int]
"""``(epoch, index)``: an item of the training subset as served in one epoch."""


class EpochSampler(DistributedSampler):
    """Seeded per-epoch shuffling that yields ``(epoch, index)`` keys and can skip its start.

    Args:
        dataset: the dataset to sample.
        seed: shuffling seed; epoch ``e`` uses ``seed + e`` (``set_epoch`` is called by Lightning).
        shuffle: shuffle (True) or keep the dataset's order.
    """

    def __init__(self, dataset: Dataset, seed: int, shuffle: bool = True) -> None:
        distributed = dist.is_available() and dist.is_initialized()
        super().__init__(
            dataset,
            num_replicas=None if distributed else 1,
            rank=None if distributed else 0,
            shuffle=shuffle,
            seed=seed,
        )
        self.skip = 0

    def __iter__(self) -> Iterator[ItemKey]:  # type: ignore[override]
        skip, self.skip = self.skip, 0
        for position, index in enumerate(super().__iter__()):
            if position >= skip:
                yield self.epoch, int(index)


class SeededAugmentation(Dataset):
    """Serve ``dataset[index]`` for key ``(epoch, index)``, augmented with a seed of both.

    Args:
        dataset: a :class:`~bus_seg.data.dataset.SegmentationDataset` (its albumentations
            ``Compose`` is reseeded before each item).
        seed: the run's seed.
    """

    def __init__(self, dataset: SegmentationDataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: ItemKey | int) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        self.dataset.transform.set_random_seed(item_seed(self.seed, epoch, index))
        return self.dataset[index]


def item_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed of ``(seed, epoch, index)`` (NumPy ``SeedSequence``: well mixed)."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


class ResumableDataLoader(DataLoader):
    """A DataLoader over an :class:`EpochSampler` whose position in the epoch is checkpointed.

    ``state_dict()`` is ``{"epoch": e, "batches": n}``: ``n`` batches of epoch ``e`` were served.
    After ``load_state_dict``, the next iteration of epoch ``e`` starts at batch ``n``. With any
    other sampler (Lightning swaps it for ``overfit_batches``) it behaves as a plain DataLoader.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._served = 0
        self._resume: dict[str, int] | None = None

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        sampler = self.sampler if isinstance(self.sampler, EpochSampler) else None
        resume, self._resume = self._resume, None
        start = 0
        if sampler is not None and resume is not None and resume["epoch"] == sampler.epoch:
            start = resume["batches"]
            sampler.skip = start * (self.batch_size or 1)
        self._served = start
        for batch in super().__iter__():
            self._served += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """Epoch and number of batches served in it."""
        epoch = self.sampler.epoch if isinstance(self.sampler, EpochSampler) else 0
        return {"epoch": int(epoch), "batches": int(self._served)}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Start the next iteration of ``state_dict["epoch"]`` after its served batches."""
        self._resume = {"epoch": int(state_dict["epoch"]), "batches": int(state_dict["batches"])}
