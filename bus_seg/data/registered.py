"""Registered cohorts: the manifest is registered (cached) and its label maps are served."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bus_seg.data.datamodules import SegmentationDataModule
from bus_seg.data.samples import SegmentationSample
from bus_seg.errors import ConfigError, InputError

LABEL_SOURCES = ("registered", "reference", "lesion_mask")


class RegisteredCohortDataModule(SegmentationDataModule):
    """Serve (ultrasound image, label map) pairs of a cohort in the contract's format.

    ``prepare_data`` registers the cohort into ``<cache_dir>/registered/<key>`` (cached per case;
    see :func:`bus_seg.registration.register_cohort`). When ``manifest`` is None and ``simulate``
    is given, the cohort is first simulated (and cached) with :func:`bus_seg.simulate.ensure_cohort`.

    Args:
        manifest: the cohort manifest CSV, or None to simulate one.
        registration: registration settings (a ``conf/registration`` option).
        cache_dir: folder for simulated cohorts and registration outputs.
        simulate: simulator settings used when ``manifest`` is None.
        labels: ``registered`` (labels made by registration), ``reference`` (the manifest's
            ``label_path`` column, e.g. the simulator's ground truth) or ``lesion_mask`` (the
            whole lesion of ``lesion_mask_path`` as a full label: the fully supervised bound,
            not histology).
        workers: processes used by simulation and registration.
        **kwargs: split, transform and loader settings of :class:`SegmentationDataModule`.
    """

    def __init__(
        self,
        manifest: str | None = None,
        registration: Mapping[str, Any] | None = None,
        cache_dir: str = ".cache/bus_seg",
        simulate: Mapping[str, Any] | None = None,
        labels: str = "registered",
        workers: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if labels not in LABEL_SOURCES:
            raise ConfigError(
                f"data.labels={labels!r} is unknown; choose one of {list(LABEL_SOURCES)}"
            )
        if manifest is None and not simulate:
            raise ConfigError(
                "data.manifest is not set: give data.manifest=<cohort manifest.csv> (or data=simulated)"
            )
        self.manifest_path = Path(manifest) if manifest else None
        self.registration = dict(registration or {})
        self.cache_dir, self.simulate = Path(cache_dir), dict(simulate or {})
        self.labels, self.workers = labels, workers
        self.registration_report: pd.DataFrame | None = None

    def cohort_manifest(self) -> Path:
        """The manifest to register: the given one, or the cached simulated cohort."""
        if self.manifest_path is not None:
            return self.manifest_path
        from bus_seg.simulate import ensure_cohort

        folder = self.cache_dir / "cohorts" / _digest(self.simulate)
        return ensure_cohort(folder, self.simulate, workers=self.workers)

    def registered_dir(self, manifest: Path) -> Path:
        """Output folder of the registration of ``manifest`` (one per manifest location)."""
        return self.cache_dir / "registered" / _digest({"manifest": str(manifest.resolve())})

    def prepare_data(self) -> None:
        # Lightning calls this before fit and again before test: register (and show its
        # progress bar) once per DataModule.
        if self.registration_report is not None:
            return
        from bus_seg.registration import RegistrationSettings, register_cohort

        manifest = self.cohort_manifest()
        result = register_cohort(
            manifest,
            self.registered_dir(manifest),
            RegistrationSettings.from_config(self.registration),
            workers=self.workers,
        )
        self.registration_report = result.report

    def load_samples(self) -> list[SegmentationSample]:
        from bus_seg.io.manifest import read_manifest

        if self.registration_report is None:
            self.prepare_data()
        manifest_path = self.cohort_manifest()
        manifest = read_manifest(
            manifest_path,
            require_tract=self.registration.get("needle", "manual") != "auto",
            allow_outside_paths=bool(self.registration.get("allow_outside_paths", False)),
        )
        report = self.registration_report
        ok = report[report["status"] == "ok"].set_index("case_id")
        labels_dir = self.registered_dir(manifest_path) / "labels"
        samples = []
        for record in manifest.records:
            if record.case_id not in ok.index:
                continue
            label_kind = "label_map"
            if self.labels == "reference":
                if record.label_path is None:
                    raise InputError(
                        f"case {record.case_id!r} has no label_path; data.labels=reference needs one for every case",
                        manifest.path,
                    )
                label = record.label_path
            elif self.labels == "lesion_mask":
                if record.lesion_mask_path is None:
                    raise InputError(
                        f"case {record.case_id!r} has no lesion_mask_path; data.labels=lesion_mask needs one "
                        "for every case (cohort format 1.1)",
                        manifest.path,
                    )
                label, label_kind = record.lesion_mask_path, "masks"
            else:
                label = labels_dir / f"{record.case_id}.png"
            spacing = ok.loc[record.case_id].get("us_spacing_mm")
            samples.append(
                SegmentationSample(
                    image_id=record.case_id,
                    patient_id=record.patient_id,
                    image_path=record.us_path,
                    label_paths=(label,),
                    label_kind=label_kind,
                    split=record.split,
                    spacing_mm=float(spacing) if pd.notna(spacing) else record.us_spacing_mm,
                    lesion_mask_path=record.lesion_mask_path,
                    lesion_roi=record.lesion_roi,
                    image_frame=record.us_frame,
                )
            )
        if not samples:
            raise InputError(
                f"no case of the cohort registered; see {self.registered_dir(manifest_path) / 'report.csv'}",
                manifest_path,
            )
        return samples


def _digest(settings: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[
        :12
    ]
