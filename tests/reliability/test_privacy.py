"""No DICOM identifying tag value reaches any output, log, cache or W&B offline run (grep test).

A small cohort whose ultrasound images are DICOM files carrying distinctive identifying tags
(patient name, id, birth date, institution, physicians, accession number, ...) goes through
validation, registration, a training run with ``logger=wandb`` (offline) and prediction. Every
byte of every file they write (outputs, caches, the W&B run and cache folders, the log of every
logger, stdout and stderr) is then searched for each tag value, and every file name too. Only the
manifest's ``case_id``/``patient_id`` may identify a case.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from hydra import compose
from omegaconf import DictConfig, open_dict

from bus_seg.cli.predict import predict
from bus_seg.cli.validate import run as run_validate
from bus_seg.io.images import read_gray
from bus_seg.io.manifest import read_manifest, write_manifest
from bus_seg.registration import RegistrationSettings, register_cohort
from bus_seg.train import train
from tests.helpers.configs import packaged_configs
from tests.helpers.dicom import write_dicom
from tests.helpers.registration_factory import CaseSpec, FragmentSpec, write_cohort

pytest.importorskip("wandb")

SECRETS = {
    "PatientName": "Quokkaface^Zebulon",
    "PatientID": "PID7Q3X9ZK",
    "PatientBirthDate": "19431127",
    "PatientAddress": "12 Hiddenlane Mews",
    "OtherPatientIDs": "ALTID4471QX",
    "InstitutionName": "Grimsbury Secret Infirmary",
    "InstitutionAddress": "99 Obscura Road",
    "ReferringPhysicianName": "Xylophant^Hortensia",
    "PerformingPhysicianName": "Quillfeather^Ambrose",
    "OperatorsName": "Vantablack^Odile",
    "AccessionNumber": "ACC55Z1Q8",
    "StudyID": "STQ77Z",
    "StationName": "ULTRAQZ9",
}


def secret_variants(uids: list[str]) -> set[bytes]:
    """Every tag value as written, with '^' as a space, person names in 'Given Family' order, and
    the files' study, series and instance UIDs."""
    variants = set(uids)
    for value in SECRETS.values():
        variants |= {value, value.replace("^", " ")}
        if "^" in value:
            family, given = value.split("^", 1)
            variants |= {f"{given} {family}", family, given}
    return {v.lower().encode() for v in variants}


def identified_cohort(root: Path, n_cases: int = 5) -> Path:
    """A registrable cohort (test registration factory) whose ultrasound images are DICOM."""
    specs = [
        CaseSpec(
            f"case{i}",
            [FragmentSpec(3000, tilt_deg=3), FragmentSpec(2000, gap_um=300)],
            [(1000, 2500)],
            tract=(30.0, 50.0 + 4 * i, 110.0, 100.0),
            mpp=5.0,
            seed=i,
        )
        for i in range(n_cases)
    ]
    manifest = write_cohort(specs, root)
    rows = []
    for record in read_manifest(manifest).records:
        dicom = write_dicom(
            record.us_path.with_suffix(".dcm"),
            read_gray(record.us_path),
            pixel_spacing=(0.1, 0.1),
            tags=SECRETS,
        )
        record.us_path.unlink()
        rows.append(
            {
                "case_id": record.case_id,
                "patient_id": record.patient_id,
                "us_path": dicom.relative_to(root),
                "tract_x0": record.tract[0],
                "tract_y0": record.tract[1],
                "tract_x1": record.tract[2],
                "tract_y1": record.tract[3],
                "wsi_path": record.wsi_path.relative_to(root),
                "annotation_path": record.annotation_path.relative_to(root),
                "label_path": record.label_path.relative_to(root),
            }
        )
    return write_manifest(manifest, rows)


def compose_entry(config_name: str, *overrides: str) -> DictConfig:
    with packaged_configs():
        return compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)


def files_under(*folders: Path) -> Iterator[Path]:
    for folder in folders:
        yield from (p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def cohort_uids(cohort: Path) -> list[str]:
    """The study, series and SOP instance UIDs of the cohort's DICOM files."""
    uids = []
    for path in cohort.rglob("*.dcm"):
        dataset = pydicom.dcmread(path)
        uids += [
            str(dataset.StudyInstanceUID),
            str(dataset.SeriesInstanceUID),
            str(dataset.SOPInstanceUID),
        ]
    return uids


def leaks_in(paths: list[Path], uids: list[str]) -> list[str]:
    """``"<file>: <value>"`` for every secret found in a file's bytes or its path."""
    secrets = secret_variants(uids)
    found = []
    for path in paths:
        data = path.read_bytes().lower()
        name = str(path).lower().encode()
        found += [f"{path}: {s.decode()}" for s in secrets if s in data or s in name]
    return found


@pytest.fixture(scope="module")
def pipeline_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Validate, register, train (W&B offline) and predict on the identified cohort.

    Returns the cohort folder and the folder holding every output, cache, W&B folder and the
    log of everything printed or logged.
    """
    root = tmp_path_factory.mktemp("privacy")
    cohort, out = root / "cohort", root / "out"
    manifest = identified_cohort(cohort)
    log_file = out / "everything.log"
    out.mkdir()
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root_logger, level = logging.getLogger(), logging.getLogger().level
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.DEBUG)
    wandb_env = {
        name: str(out / "wandb_home" / name.lower())
        for name in (
            "WANDB_DIR",
            "WANDB_CACHE_DIR",
            "WANDB_CONFIG_DIR",
            "WANDB_DATA_DIR",
            "WANDB_ARTIFACT_DIR",
        )
    }
    saved_env = {name: os.environ.get(name) for name in [*wandb_env, "WANDB_MODE"]}
    os.environ.update(wandb_env, WANDB_MODE="offline")
    stdout, stderr = sys.stdout, sys.stderr
    try:
        with (
            open(out / "stdout.txt", "w") as captured_out,
            open(out / "stderr.txt", "w") as captured_err,
        ):
            sys.stdout, sys.stderr = captured_out, captured_err
            assert (
                run_validate(compose_entry("validate", f"manifest={manifest}", "strict=false")) == 0
            )
            result = register_cohort(
                manifest, out / "registered", RegistrationSettings(), progress=False
            )
            assert (result.report["status"] == "ok").all()
            train_cfg = compose_entry(
                "train",
                "data=registered_cohort",
                f"data.manifest={manifest}",
                "data.image_size=64",
                "data.batch_size=2",
                "data.num_workers=0",
                "data.workers=1",
                "trainer=cpu",
                "trainer.max_epochs=1",
                "logger=wandb",
                "evaluation.log_images=true",
                "evaluation.max_overlays=2",
                "callbacks.progress_bar=null",
            )
            with open_dict(train_cfg):
                train_cfg.paths.output_dir = train_cfg.hydra.runtime.output_dir = str(out / "train")
                train_cfg.paths.cache_dir = str(out / "cache")
            _, objects = train(train_cfg)
            checkpoint = objects["trainer"].checkpoint_callback.best_model_path
            for source in (manifest, cohort / "case0" / "us.dcm"):
                predict_cfg = compose_entry(
                    "predict", f"ckpt_path={checkpoint}", f"input={source}", "progress=false"
                )
                with open_dict(predict_cfg):
                    predict_cfg.out_dir = str(out / "predict" / source.suffix.lstrip("."))
                predict(predict_cfg)
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        root_logger.removeHandler(handler)
        root_logger.setLevel(level)
        handler.close()
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return {"cohort": cohort, "out": out}


def test_the_test_cohort_carries_the_identifying_tags(pipeline_outputs: dict[str, Path]) -> None:
    dicom = pydicom.dcmread(pipeline_outputs["cohort"] / "case0" / "us.dcm")
    assert str(dicom.PatientName) == SECRETS["PatientName"]
    uids = cohort_uids(pipeline_outputs["cohort"])
    assert len(uids) == 15
    found = leaks_in([pipeline_outputs["cohort"] / "case0" / "us.dcm"], uids)
    assert len(found) >= len(SECRETS) + 3, "the grep finds every value where it is"


def test_every_stage_wrote_its_outputs(pipeline_outputs: dict[str, Path]) -> None:
    out = pipeline_outputs["out"]
    assert len(list((out / "registered" / "labels").glob("*.png"))) == 5
    assert (out / "registered" / "report.csv").is_file()
    assert (out / "train" / "metrics.json").is_file()
    assert list((out / "train" / "wandb").glob("offline-run-*/run-*.wandb")), "a W&B offline run"
    assert list((out / "cache" / "registered").rglob("labels/*.png")), "the registration cache"
    assert len(list((out / "predict" / "csv" / "labels").glob("*.png"))) == 5
    assert list((out / "predict" / "dcm" / "labels").glob("*.png"))
    assert "validated 5 cases" in (out / "stdout.txt").read_text()
    assert (out / "everything.log").stat().st_size > 0


def test_no_identifying_tag_value_appears_in_any_output_log_or_wandb_run(
    pipeline_outputs: dict[str, Path],
) -> None:
    files = list(files_under(pipeline_outputs["out"]))
    assert len(files) > 50
    assert leaks_in(files, cohort_uids(pipeline_outputs["cohort"])) == []


def test_no_output_was_written_into_the_cohort_folder(pipeline_outputs: dict[str, Path]) -> None:
    cohort = pipeline_outputs["cohort"]
    names = {p.name for p in files_under(cohort)}
    assert names <= {"manifest.csv", "us.dcm", "truth.png", "slide.ome.tif", "annotation.geojson"}


@pytest.mark.slow
def test_the_command_line_tools_leak_nothing_either(tmp_path: Path) -> None:
    """The same pipeline through bus-seg-validate, -register, -train (W&B offline) and -predict,
    with Hydra's log files and everything the processes print."""
    cohort, out = tmp_path / "cohort", tmp_path / "out"
    manifest = identified_cohort(cohort)
    out.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="offline")
    env.update(
        {
            name: str(out / "wandb_home" / name.lower())
            for name in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR")
        }
    )
    bin_dir = Path(sys.executable).parent
    commands = {
        "validate": ["bus-seg-validate", f"manifest={manifest}"],
        "register": ["bus-seg-register", f"manifest={manifest}", f"out_dir={out / 'registered'}"],
        "train": [
            "bus-seg-train",
            "data=registered_cohort",
            f"data.manifest={manifest}",
            "data.image_size=64",
            "data.batch_size=2",
            "data.workers=1",
            "trainer=cpu",
            "trainer.max_epochs=1",
            "logger=wandb",
            "evaluation.log_images=true",
            f"hydra.run.dir={out / 'train'}",
            f"paths.cache_dir={out / 'cache'}",
        ],
        "predict": [
            "bus-seg-predict",
            f"ckpt_path={out / 'train' / 'checkpoints' / 'last.ckpt'}",
            f"input={manifest}",
            f"hydra.run.dir={out / 'predict'}",
        ],
    }
    for name, command in commands.items():
        result = subprocess.run(
            [str(bin_dir / command[0]), *command[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        (out / f"{name}.stdout").write_text(result.stdout)
        (out / f"{name}.stderr").write_text(result.stderr)
        assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"
    assert (out / "train" / "train.log").is_file() and list(
        (out / "train" / "wandb").glob("offline-run-*")
    )
    assert leaks_in(list(files_under(out)), cohort_uids(cohort)) == []
