"""``bus-seg-validate``: check a cohort manifest and/or a mask folder before registering or training.

A Hydra app (``conf/validate.yaml``) that writes nothing. It prints one line per problem and a
summary, and exits with 0 when all is well, 1 on errors (an unreadable manifest included) or,
with ``strict=true``, on warnings, and 2 when no input is given or a setting is wrong.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig

from bus_seg.cli.app import CONFIG_PATH, HYDRA_VERSION_BASE, exits_cleanly, run_app

if TYPE_CHECKING:
    from bus_seg.data.validation import ValidationReport

USAGE = (
    "nothing to validate: give manifest=<cohort.csv> and/or mask_folder=<folder>, e.g. "
    "bus-seg-validate manifest=cohort/manifest.csv"
)


def run(cfg: DictConfig) -> int:
    """Validate what ``cfg`` names, print the problems and a summary; return the exit status."""
    if cfg.manifest is None and cfg.mask_folder is None:
        print(USAGE, file=sys.stderr)
        return 2
    from bus_seg.data.validation import check_cohort, check_mask_folder
    from bus_seg.registration.settings import READER_SETTINGS, RegistrationSettings

    reports: list[tuple[ValidationReport, str]] = []
    if cfg.manifest is not None:
        readers = {key: cfg[key] for key in READER_SETTINGS}
        report = check_cohort(
            str(cfg.manifest),
            require_tract=bool(cfg.require_tract),
            allow_outside_paths=bool(cfg.allow_outside_paths),
            check_files=bool(cfg.check_files),
            registration=RegistrationSettings.from_config(readers),
        )
        reports.append((report, "cases"))
    if cfg.mask_folder is not None:
        classes = list(cfg.classes) if cfg.classes is not None else None
        reports.append((check_mask_folder(str(cfg.mask_folder), classes), "images"))
    failed = False
    for report, unit in reports:
        for problem in report.problems:
            print(problem)
        errors, warnings = len(report.errors), len(report.warnings)
        print(f"validated {report.checked} {unit}: {errors} errors, {warnings} warnings")
        failed |= errors > 0 or (bool(cfg.strict) and warnings > 0)
    return 1 if failed else 0


@hydra.main(version_base=HYDRA_VERSION_BASE, config_path=CONFIG_PATH, config_name="validate")
@exits_cleanly
def _app(cfg: DictConfig) -> None:
    sys.exit(run(cfg))


def main() -> None:
    """Console entry point of ``bus-seg-validate`` (``--strict`` is taken as ``strict=true``)."""
    sys.argv = ["strict=true" if arg == "--strict" else arg for arg in sys.argv]
    run_app(_app, "validate", "bus-seg-validate")


if __name__ == "__main__":
    main()
