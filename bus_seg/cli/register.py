"""``bus-seg-register``: register a cohort manifest into a folder of label maps, a report and QC.

A Hydra app (``conf/register.yaml``)::

    bus-seg-register manifest=cohort/manifest.csv out_dir=registered registration=physical

It writes ``labels/<case_id>.png``, ``report.csv`` and ``qc/<case_id>.png`` into ``out_dir``,
prints the failed cases and a summary line, and exits with 0 when every case registered, 1 when
any failed, and 2 on unusable input (manifest, settings).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig, OmegaConf

from bus_seg.cli.app import CONFIG_PATH, HYDRA_VERSION_BASE, exits_cleanly, run_app
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
    )


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
def _app(cfg: DictConfig) -> None:
    sys.exit(run(cfg))


def main() -> None:
    """Console entry point of ``bus-seg-register``."""
    run_app(_app, "register", "bus-seg-register")
