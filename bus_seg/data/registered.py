"""Registered cohorts: the manifest is registered (cached) and its label maps are served."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bus_seg.data.cohort import (
    CohortPreparation,
    PreparedCohort,
    cohort_manifest,
    prepare_cohort,
    registered_dir,
)
from bus_seg.data.datamodules import SegmentationDataModule
from bus_seg.data.samples import SegmentationSample
from bus_seg.errors import ConfigError, InputError

LABEL_SOURCES = ("registered", "reference", "lesion_mask")


class RegisteredCohortDataModule(SegmentationDataModule):
    """Serve (ultrasound image, label map) pairs of a cohort in the contract's format.

    ``prepare_data`` prepares the cohort with :func:`bus_seg.data.cohort.prepare_cohort` (or the
    ``prepare`` given): when ``manifest`` is None and ``simulate`` is given, the cohort is first
    simulated (and cached); it is registered into ``<cache_dir>/registered/<key>`` (cached per
    case; see :func:`bus_seg.registration.register_cohort`).

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
        prepare: the cohort preparation (simulate → register → label maps) that ``prepare_data``
            runs; a task or test may inject another.
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
        prepare: CohortPreparation = prepare_cohort,
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
        self.prepare = prepare
        self.cohort: PreparedCohort | None = None

    @property
    def registration_report(self) -> pd.DataFrame | None:
        """The registration report once ``prepare_data`` ran, else None."""
        return None if self.cohort is None else self.cohort.report

    def cohort_manifest(self) -> Path:
        """The manifest to register: the given one, or the cached simulated cohort."""
        if self.cohort is not None:
            return self.cohort.manifest
        return cohort_manifest(self.manifest_path, self.cache_dir, self.simulate, self.workers)

    def registered_dir(self, manifest: Path) -> Path:
        """Output folder of the registration of ``manifest`` (one per manifest location)."""
        return registered_dir(self.cache_dir, manifest)

    def prepare_data(self) -> None:
        # Lightning calls this before fit and again before test: register (and show its
        # progress bar) once per DataModule.
        if self.cohort is None:
            self.cohort = self.prepare(
                self.manifest_path,
                self.cache_dir,
                self.registration,
                self.simulate,
                workers=self.workers,
            )

    def load_samples(self) -> list[SegmentationSample]:
        from bus_seg.io.manifest import read_manifest

        if self.cohort is None:
            self.prepare_data()
        cohort = self.cohort
        manifest_path = cohort.manifest
        manifest = read_manifest(
            manifest_path,
            require_tract=self.registration.get("needle", "manual") != "auto",
            allow_outside_paths=bool(self.registration.get("allow_outside_paths", False)),
        )
        report = cohort.report
        ok = report[report["status"] == "ok"].set_index("case_id")
        labels_dir = cohort.labels_dir
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
                f"no case of the cohort registered; see {cohort.registered_dir / 'report.csv'}",
                manifest_path,
            )
        return samples
