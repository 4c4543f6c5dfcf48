"""Where a simulated case's ultrasound image and lesion come from: the phantom or a mask folder.

:func:`plan_cases` lists the cases (ids, patients, seeds) without loading any image, so cases can
be simulated in any order or in parallel with the same result; :func:`load_source` then makes
or reads one case's image and lesion.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bus_seg.errors import ConfigError, InputError
from bus_seg.io.mask_layout import read_mask_union, scan_mask_folder
from bus_seg.io.ultrasound import read_ultrasound_pixels
from bus_seg.simulate.lesion_field import LesionField, MaskField
from bus_seg.simulate.phantom import render_phantom, sample_anatomy
from bus_seg.simulate.settings import SimulationSettings

_PATIENT_STREAM, _CASE_STREAM, _PLAN_STREAM = 0, 1, 2


@dataclass(frozen=True)
class CaseJob:
    """One case to simulate.

    Attributes:
        case_id: the manifest's case id.
        patient_id: the manifest's patient id.
        seed: entropy and spawn key of the case's random generator.
        patient_seed: entropy and spawn key of the patient's generator (phantom anatomy).
        image_path: the mask folder's image (None for the phantom).
        mask_paths: its lesion masks (merged).
        source_image: what the image came from, for the manifest (``phantom`` or a path
            relative to the mask folder).
    """

    case_id: str
    patient_id: str
    seed: tuple[int, tuple[int, ...]]
    patient_seed: tuple[int, tuple[int, ...]] | None = None
    image_path: Path | None = None
    mask_paths: tuple[Path, ...] = ()
    source_image: str = "phantom"

    def generator(self) -> np.random.Generator:
        """The case's random generator."""
        entropy, key = self.seed
        return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=key))


@dataclass(frozen=True, eq=False)
class SourceImage:
    """A case's B-mode image (before the needle is drawn) and its lesion.

    Attributes:
        image: H×W uint8.
        mask: H×W bool lesion mask.
        field: the lesion as a continuous field.
        spacing_mm: pixel size.
    """

    image: np.ndarray
    mask: np.ndarray
    field: LesionField
    spacing_mm: float


def plan_cases(settings: SimulationSettings) -> list[CaseJob]:
    """List the cases of a cohort.

    Phantom: ``num_cases`` images grouped into patients of ``images_per_patient`` images.
    Mask folder: one case per image of the chosen classes, each image its own patient.

    Raises:
        InputError: the mask folder or a class folder is missing, or an image has no mask.
    """
    if settings.source.kind == "phantom":
        return _plan_phantom(settings)
    return _plan_mask_folder(settings)


def _plan_phantom(settings: SimulationSettings) -> list[CaseJob]:
    plan = np.random.default_rng(np.random.SeedSequence(settings.seed, spawn_key=(_PLAN_STREAM,)))
    jobs: list[CaseJob] = []
    patient = 0
    low, high = settings.images_per_patient
    while len(jobs) < settings.num_cases:
        count = min(int(plan.integers(low, high + 1)), settings.num_cases - len(jobs))
        for _ in range(count):
            number = len(jobs)
            jobs.append(
                CaseJob(
                    case_id=f"sim{number:04d}",
                    patient_id=f"P{patient:04d}",
                    seed=(settings.seed, (_CASE_STREAM, number)),
                    patient_seed=(settings.seed, (_PATIENT_STREAM, patient)),
                )
            )
        patient += 1
    return jobs


def _plan_mask_folder(settings: SimulationSettings) -> list[CaseJob]:
    root = Path(settings.source.path or "")
    if not root.is_dir():
        raise ConfigError(
            f"simulation option source.path: mask folder {str(root)!r} not found; give a "
            "BUSI-style folder (<class>/<name>.png with <name>_mask.png beside it)"
        )
    try:
        samples = scan_mask_folder(root, settings.source.classes)
    except InputError as err:
        raise InputError(f"{err} (source.path / source.classes)") from err
    if settings.source.limit is not None:
        samples = samples[: int(settings.source.limit)]
    jobs: list[CaseJob] = []
    used: set[str] = set()
    for sample in samples:
        case_id = _unique(_sanitise(sample.image_path.stem), used)
        jobs.append(
            CaseJob(
                case_id=case_id,
                patient_id=case_id,
                seed=(settings.seed, (_CASE_STREAM, zlib.crc32(case_id.encode("utf-8")))),
                image_path=sample.image_path,
                mask_paths=sample.mask_paths,
                source_image=sample.image_path.relative_to(root).as_posix(),
            )
        )
    return jobs


def _sanitise(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "case"


def _unique(name: str, used: set[str]) -> str:
    candidate, number = name, 1
    while candidate in used:
        number += 1
        candidate = f"{name}_{number}"
    used.add(candidate)
    return candidate


def load_source(
    job: CaseJob, settings: SimulationSettings, rng: np.random.Generator
) -> SourceImage:
    """Make (phantom) or read (mask folder) a case's image and lesion.

    Raises:
        InputError: an image or mask cannot be read or their sizes differ.
    """
    if job.image_path is None:
        entropy, key = job.patient_seed
        patient_rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=key))
        anatomy = sample_anatomy(settings.phantom, patient_rng)
        shift = rng.uniform(*settings.phantom.view_shift_mm)
        phantom = render_phantom(anatomy, settings.phantom, rng, shift)
        return SourceImage(phantom.image, phantom.lesion_mask, phantom.field, phantom.spacing_mm)
    image = read_ultrasound_pixels(job.image_path)
    mask = read_mask_union(job.mask_paths, image.shape, job.image_path).astype(bool)
    return SourceImage(image, mask, MaskField(mask), settings.source.assumed_spacing_mm)
