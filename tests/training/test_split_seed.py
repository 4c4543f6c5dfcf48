"""``data.split_seed`` fixes the patient split; the run's ``seed`` no longer moves the test set."""

from __future__ import annotations

from hydra.utils import instantiate

from bus_seg.data.splits import split_by_patient

DATA = ["data=synthetic", "data.num_images=20", "data.size=32", "data.image_size=32"]


def _test_ids(compose_config, *overrides: str) -> list[str]:
    datamodule = instantiate(compose_config(*DATA, *overrides).data)
    datamodule.setup("test")
    return sorted(s.image_id for s in datamodule.subsets["test"])


def test_training_seeds_share_one_test_set(compose_config) -> None:
    seeds = {tuple(_test_ids(compose_config, f"seed={seed}")) for seed in (1, 2, 3)}
    assert len(seeds) == 1 and next(iter(seeds))


def test_default_split_is_the_seed_42_split_of_before(compose_config) -> None:
    datamodule = instantiate(compose_config(*DATA, "seed=7").data)
    datamodule.setup("test")
    before = split_by_patient(datamodule.load_samples(), datamodule.split_fractions, 42)
    assert datamodule.split_seed == 42 and datamodule.seed == 7
    assert sorted(s.image_id for s in datamodule.subsets["test"]) == sorted(
        s.image_id for s in before["test"]
    )


def test_split_seed_moves_the_split(compose_config) -> None:
    assert _test_ids(compose_config, "data.split_seed=42") != _test_ids(
        compose_config, "data.split_seed=3"
    )
