"""Patient-level splits: no patient in two subsets, seeded, k-fold, fixed splits win."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus_seg.data.samples import SegmentationSample
from bus_seg.data.splits import split_by_patient
from bus_seg.errors import ConfigError, InputError


def make_samples(
    n_patients: int, per_patient: int = 2, fixed: dict[str, str] | None = None
) -> list[SegmentationSample]:
    fixed = fixed or {}
    return [
        SegmentationSample(
            image_id=f"p{p}_{i}",
            patient_id=f"p{p}",
            image_path=Path("x.png"),
            label_paths=(Path("y.png"),),
            split=fixed.get(f"p{p}"),
        )
        for p in range(n_patients)
        for i in range(per_patient)
    ]


def patients(subset: list[SegmentationSample]) -> set[str]:
    return {s.patient_id for s in subset}


def test_no_patient_in_two_subsets_and_fractions() -> None:
    split = split_by_patient(make_samples(100), (0.7, 0.2, 0.1), seed=1)
    train, val, test = (patients(split[k]) for k in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert (len(train), len(val), len(test)) == (70, 20, 10)


def test_same_seed_same_split_other_seed_differs() -> None:
    samples = make_samples(40)
    a, b, c = (split_by_patient(samples, seed=s) for s in (3, 3, 4))
    assert [s.image_id for s in a["val"]] == [s.image_id for s in b["val"]]
    assert patients(a["val"]) != patients(c["val"])


def test_kfold_val_folds_partition_the_non_test_patients() -> None:
    samples = make_samples(50)
    folds = [split_by_patient(samples, seed=0, num_folds=5, fold=f) for f in range(5)]
    tests = {frozenset(patients(f["test"])) for f in folds}
    assert len(tests) == 1, "the held-out test set must not depend on the fold"
    vals = [patients(f["val"]) for f in folds]
    assert sum(len(v) for v in vals) == len(set().union(*vals)) == 50 - len(next(iter(tests)))


def test_fixed_split_wins_for_the_whole_patient() -> None:
    samples = make_samples(20, fixed={"p3": "test", "p4": "train"})
    split = split_by_patient(samples, seed=0)
    assert "p3" in patients(split["test"]) and "p4" in patients(split["train"])


def test_patient_in_two_fixed_splits_is_refused() -> None:
    samples = make_samples(3)
    samples[0] = SegmentationSample("a", "p0", Path("x"), (Path("y"),), split="train")
    samples[1] = SegmentationSample("b", "p0", Path("x"), (Path("y"),), split="test")
    with pytest.raises(InputError, match="p0"):
        split_by_patient(samples)


@pytest.mark.parametrize(
    "kwargs", [{"fractions": (0.5, 0.5)}, {"num_folds": 5, "fold": 5}, {"num_folds": 1, "fold": 0}]
)
def test_bad_split_settings(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match="data\\."):
        split_by_patient(make_samples(10), **kwargs)
