"""``bus-seg-register``: register a cohort manifest into a folder of label maps, a report and QC.

A Hydra app (``conf/register.yaml``)::

    bus-seg-register manifest=cohort/manifest.csv out_dir=registered registration=physical

It writes ``labels/<case_id>.png``, ``report.csv`` and ``qc/<case_id>.png`` into ``out_dir``,
prints the failed cases and a summary line, and exits with 0 when every case registered, 1 when
any failed, and 2 on unusable input (manifest, settings).

Across machines, each job registers one shard of the cases (a stable hash of the case id) into
the same ``out_dir`` and writes ``shards/report-<i>-of-<n>.csv``; the same command without
``shard`` then merges: it serves every case a shard finished from the cache and registers only
the missing ones (a lost node, a failed case), writing the one ``report.csv``::

    bus-seg-register -m hydra/launcher=joblib shard=0,1,2,3 num_shards=4 manifest=m.csv out_dir=reg
    bus-seg-register manifest=m.csv out_dir=reg          # merge: report.csv, labels/ complete
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig, OmegaConf

from bus_seg.cli.app import CONFIG_PATH, HYDRA_VERSION_BASE, exits_cleanly, run_app
from bus_seg.cli.multirun_summary import in_multirun
from bus_seg.errors import ConfigError

if TYPE_CHECKING:
    from bus_seg.registration.pipeline import CohortRegistration

MAX_LISTED_FAILURES = 20


def register_from_config(cfg: DictConfig) -> CohortRegistration:
    """Run :func:`register_cohort` with the entry config's values.

    Raises:
        ConfigError: ``manifest`` or ``out_dir`` is not given.
    """
    for key in ("manifest", "out_dir"):
        if OmegaConf.is_missing(cfg, key) or cfg.get(key) in (None, ""):
            raise ConfigError(
                f"{key} is not set; give it on the command line, e.g. bus-seg-register "
                "manifest=cohort/manifest.csv out_dir=registered"
            )
    from bus_seg.registration.pipeline import register_cohort
    from bus_seg.registration.settings import RegistrationSettings

    settings = RegistrationSettings.from_config(
        OmegaConf.to_container(cfg.registration, resolve=True)
    )
    return register_cohort(
        str(cfg.manifest),
        str(cfg.out_dir),
        settings,
        workers=int(cfg.workers),
        strict=bool(cfg.strict),
        progress=bool(cfg.progress),
        use_cache=bool(cfg.use_cache),
        shard=_shard(cfg),
    )


def _shard(cfg: DictConfig) -> tuple[int, int] | None:
    """``(shard, num_shards)`` from the config, or None for a whole (merging) run.

    Raises:
        ConfigError: ``num_shards`` > 1 without ``shard``, or values out of range.
    """
    from bus_seg.registration.shards import check_shard

    shard, num_shards = cfg.get("shard"), cfg.get("num_shards", 1)
    if shard is None:
        if num_shards not in (None, 1):
            raise ConfigError(
                f"num_shards={num_shards} without shard: run every shard as a multirun, e.g. "
                f"bus-seg-register -m shard=0,1,...,{num_shards - 1} num_shards={num_shards} "
                "..., then the same command without shard/num_shards to merge"
            )
        return None
    return check_shard(shard, num_shards)


def run(cfg: DictConfig) -> int:
    """Register, print failures and the summary line; return the exit status."""
    result = register_from_config(cfg)
    for warning in result.manifest_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    failed = result.report[result.report["status"] != "ok"]
    for _, row in failed.head(MAX_LISTED_FAILURES).iterrows():
        who = row["case_id"] or f"row {row['row']}"
        print(f"failed: {who}: {row['error']}", file=sys.stderr)
    if len(failed) > MAX_LISTED_FAILURES:
        print(
            f"... and {len(failed) - MAX_LISTED_FAILURES} more; see {result.report_path}",
            file=sys.stderr,
        )
    print(result.summary())
    return 1 if result.failed else 0


@hydra.main(version_base=HYDRA_VERSION_BASE, config_path=CONFIG_PATH, config_name="register")
@exits_cleanly
def _app(cfg: DictConfig) -> int:
    status = run(cfg)
    if in_multirun():  # a shard's failed cases are in its report; the other jobs go on
        return status
    sys.exit(status)


def main() -> None:
    """Console entry point of ``bus-seg-register``."""
    run_app(_app, "register", "bus-seg-register")
