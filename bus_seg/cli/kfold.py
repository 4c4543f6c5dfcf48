"""``bus-seg-kfold RUN [RUN ...]``: aggregate k-fold runs (mean ± SD, t-based 95% CI).

A Hydra app (``conf/kfold.yaml``). Bare paths and glob patterns are collected into ``runs=[...]``
as for ``bus-seg-compare``; quote globs so that the shell passes them on unexpanded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig

from bus_seg.cli.app import CONFIG_PATH, HYDRA_VERSION_BASE, exits_cleanly
from bus_seg.cli.compare import require_runs, run_with_positional_runs

if TYPE_CHECKING:
    import pandas as pd


def run_kfold(cfg: DictConfig) -> pd.DataFrame:
    """Aggregate the folds of a composed ``kfold.yaml`` config and print where the outputs are."""
    from bus_seg.evaluation.kfold import aggregate_folds

    table = aggregate_folds(
        list(cfg.runs),
        cfg.out_dir,
        metrics=list(cfg.metrics),
        confidence_level=float(cfg.confidence_level),
    )
    print(f"[bus_seg] k-fold summary: {cfg.out_dir}/kfold.md (table: {cfg.out_dir}/kfold.csv)")
    return table


@hydra.main(version_base=HYDRA_VERSION_BASE, config_path=CONFIG_PATH, config_name="kfold")
@exits_cleanly
def _hydra_main(cfg: DictConfig) -> None:
    require_runs(cfg, "bus-seg-kfold 'logs/train/multiruns/<date>/*'")
    run_kfold(cfg)


def main() -> None:
    """Console entry point of ``bus-seg-kfold``."""
    run_with_positional_runs(_hydra_main, "kfold", "bus-seg-kfold")


if __name__ == "__main__":
    main()
