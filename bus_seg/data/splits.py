"""Patient-level splits: seeded train/val/test fractions, k-fold, and fixed splits that win."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from bus_seg.data.samples import SegmentationSample
from bus_seg.errors import ConfigError, InputError

SUBSETS = ("train", "val", "test")


def split_by_patient(
    samples: Sequence[SegmentationSample],
    fractions: Sequence[float] = (0.7, 0.2, 0.1),
    seed: int = 42,
    num_folds: int | None = None,
    fold: int | None = None,
) -> dict[str, list[SegmentationSample]]:
    """Assign every sample to train/val/test so that no patient spans two subsets.

    Samples with a fixed ``split`` keep it. The other patients are shuffled with ``seed``; the
    test fraction is held out first. Without k-fold, val takes its fraction of all patients and
    train the rest. With ``num_folds`` = k, the non-test patients are cut into k folds: fold
    ``fold`` is val and the others train. The same seed always gives the same split.

    Args:
        samples: the samples to split.
        fractions: train, val and test fractions of patients (normalised to sum to 1).
        seed: shuffling seed.
        num_folds: number of cross-validation folds, or None.
        fold: the validation fold (0-based) when ``num_folds`` is set.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` in the input order within each subset.

    Raises:
        ConfigError: bad fractions or fold settings.
        InputError: a patient has samples with two different fixed splits.
    """
    train_fraction, val_fraction, test_fraction = _check_fractions(fractions)
    if num_folds is not None and (num_folds < 2 or fold is None or not 0 <= fold < num_folds):
        raise ConfigError(
            f"data.num_folds={num_folds}, data.fold={fold}: k-fold needs num_folds >= 2 and "
            "0 <= fold < num_folds (e.g. data.num_folds=5 data.fold=0)"
        )
    patient_subset = _fixed_subsets(samples)
    free = sorted({s.patient_id for s in samples} - set(patient_subset))
    order = np.random.default_rng(seed).permutation(len(free))
    shuffled = [free[i] for i in order]
    n_test = int(round(test_fraction * len(shuffled)))
    test, rest = shuffled[:n_test], shuffled[n_test:]
    if num_folds is not None:
        folds = np.array_split(np.arange(len(rest)), num_folds)
        val = [rest[i] for i in folds[fold]]
    else:
        n_val = (
            int(round(val_fraction / (train_fraction + val_fraction) * len(rest))) if rest else 0
        )
        val = rest[:n_val]
    patient_subset.update({p: "test" for p in test})
    patient_subset.update({p: "val" for p in val})
    patient_subset.update({p: "train" for p in rest if p not in set(val)})
    subsets: dict[str, list[SegmentationSample]] = {name: [] for name in SUBSETS}
    for sample in samples:
        subsets[patient_subset[sample.patient_id]].append(sample)
    return subsets


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ConfigError(
            f"data.split_fractions={list(fractions)}: give three non-negative train/val/test fractions, e.g. [0.7, 0.2, 0.1]"
        )
    total = float(sum(fractions))
    return tuple(f / total for f in fractions)  # type: ignore[return-value]


def _fixed_subsets(samples: Sequence[SegmentationSample]) -> dict[str, str]:
    fixed: dict[str, set[str]] = defaultdict(set)
    for sample in samples:
        if sample.split is not None:
            if sample.split not in SUBSETS:
                raise InputError(
                    f"image {sample.image_id!r} has split {sample.split!r}; use train, val or test"
                )
            fixed[sample.patient_id].add(sample.split)
    conflicts = {p: sorted(s) for p, s in fixed.items() if len(s) > 1}
    if conflicts:
        patient, subsets = next(iter(conflicts.items()))
        raise InputError(
            f"patient {patient!r} has images fixed to several splits {subsets} "
            f"({len(conflicts)} such patients); a patient must stay in one subset: fix the split column"
        )
    return {patient: next(iter(s)) for patient, s in fixed.items()}
