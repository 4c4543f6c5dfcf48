"""Build (or reuse) the registered cohort a replication run trains on, and time it.

Composes the training config from the same overrides as the runs (so the cohort and its
registration land in the same cache the runs read), simulates the cohort when it is not cached,
registers it, and writes a JSON record: how long simulation and registration took, whether they
were cached, how many cases registered, and the patient-level split sizes.

    python experiments/paper_replication/prepare_cohort.py OUT.json experiment=paper_fcn101 [...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import OmegaConf

from bus_seg.config import compose_config
from bus_seg.io.atomic import write_json_atomic


def prepare_cohort(out_json: Path, overrides: list[str]) -> dict:
    """Simulate (if needed) and register the cohort of ``overrides``; write and return the record."""
    cfg = compose_config(overrides, output_dir=out_json.parent / "cohort")
    datamodule = instantiate(cfg.data)
    cohorts_dir = datamodule.cache_dir / "cohorts"
    cached_before = {p.name for p in cohorts_dir.iterdir()} if cohorts_dir.is_dir() else set()
    start = time.perf_counter()
    manifest = datamodule.cohort_manifest()
    simulated = time.perf_counter()
    datamodule.prepare_data()
    registered = time.perf_counter()
    report = datamodule.registration_report
    datamodule.setup("fit")
    simulate = (
        OmegaConf.to_container(cfg.data.simulate, resolve=True) if cfg.data.get("simulate") else {}
    )
    record = {
        "overrides": list(overrides),
        "manifest": str(manifest),
        "simulate": simulate,
        "simulation_seed": simulate.get("seed"),
        "split_seed": int(cfg.data.split_seed),
        "cases": int(len(report)),
        "registered_ok": int((report["status"] == "ok").sum()),
        "registration_failed": int((report["status"] != "ok").sum()),
        "simulation_cached": manifest.parent.name in cached_before,
        "registration_cached_cases": int(report["cached"].astype(bool).sum()),
        "simulate_s": round(simulated - start, 1),
        "register_s": round(registered - simulated, 1),
        "workers": int(datamodule.workers),
        "split_images": {name: len(subset) for name, subset in datamodule.subsets.items()},
    }
    write_json_atomic(out_json, record)
    return record


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    record = prepare_cohort(Path(sys.argv[1]), sys.argv[2:])
    print(
        f"[paper_replication] cohort: {record['registered_ok']}/{record['cases']} cases registered; "
        f"simulation {record['simulate_s']} s (cached: {record['simulation_cached']}), "
        f"registration {record['register_s']} s; split {record['split_images']}"
    )


if __name__ == "__main__":
    main()
