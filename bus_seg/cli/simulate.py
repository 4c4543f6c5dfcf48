"""``bus-seg-simulate``: simulate a registered cohort with ground truth (``conf/simulate.yaml``)::

    bus-seg-simulate out_dir=cohorts/phantom num_cases=20
    bus-seg-simulate out_dir=cohorts/busi source=mask_folder source.path=/data/busi
    bus-seg-simulate out_dir=cohorts/hard simulation=hard workers=2

It writes the ultrasound images, core WSIs, annotations, reference labels, ``manifest.csv`` and
``simulation.json`` into ``out_dir`` and prints a summary; bad settings or input exit with 2.
"""

from __future__ import annotations

import time

import hydra
from omegaconf import DictConfig, OmegaConf

from bus_seg.cli.app import CONFIG_PATH, HYDRA_VERSION_BASE, exits_cleanly, run_app
from bus_seg.errors import ConfigError


def run(cfg: DictConfig) -> str:
    """Simulate the cohort of an entry config; return the summary text.

    Raises:
        ConfigError: ``out_dir`` is not given or a setting is bad.
    """
    if OmegaConf.is_missing(cfg, "out_dir") or cfg.get("out_dir") in (None, ""):
        raise ConfigError(
            "out_dir is not set; give it on the command line, e.g. bus-seg-simulate "
            "out_dir=cohorts/phantom num_cases=20"
        )
    from bus_seg.simulate.cohort import read_record, simulate_cohort
    from bus_seg.simulate.settings import SimulationSettings
    from bus_seg.simulate.summary import format_summary

    settings = SimulationSettings.from_config(OmegaConf.to_container(cfg, resolve=True))
    start = time.perf_counter()
    manifest = simulate_cohort(
        str(cfg.out_dir), settings, progress=bool(cfg.progress), workers=int(cfg.workers)
    )
    seconds = time.perf_counter() - start
    record = read_record(manifest.parent) or {}
    written = len(record.get("cases", {}))
    timing = (
        f"{seconds:.1f} s ({seconds / max(written, 1):.2f} s per case, {cfg.workers} worker(s))"
    )
    return f"{format_summary(record)}\ntime: {timing}\nmanifest: {manifest}"


@hydra.main(version_base=HYDRA_VERSION_BASE, config_path=CONFIG_PATH, config_name="simulate")
@exits_cleanly
def _app(cfg: DictConfig) -> None:
    print(run(cfg))


def main() -> None:
    """Console entry point of ``bus-seg-simulate``."""
    run_app(_app, "simulate", "bus-seg-simulate")


if __name__ == "__main__":
    main()
