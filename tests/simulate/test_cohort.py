"""Simulated cohorts: they read back cleanly, are reproducible, cache, skip and never half-exist."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from bus_seg.errors import ConfigError, InputError
from bus_seg.io.annotations import read_annotation
from bus_seg.io.cohort_format import strip_mask
from bus_seg.io.images import read_gray, read_label_map
from bus_seg.io.manifest import read_manifest
from bus_seg.io.wsi import open_wsi
from bus_seg.simulate import cohort as cohort_module
from bus_seg.simulate import ensure_cohort, format_summary, read_record, simulate_cohort
from bus_seg.simulate.phantom import render_phantom, sample_anatomy
from bus_seg.simulate.settings import PhantomSettings

TINY = {"num_cases": 2, "seed": 11, "faults": {"debris": [0, 1]}}


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_manifest_reads_without_issues(small_cohort: Path, small_settings: dict) -> None:
    manifest = read_manifest(small_cohort)
    manifest.raise_for_errors()
    assert manifest.issues == [] and len(manifest.records) == small_settings["num_cases"]
    header = small_cohort.read_text().splitlines()[0].split(",")
    assert header[-4:] == ["lesion_roi", "lesion_mask_path", "difficulty", "source_image"]
    for record in manifest.records:
        assert record.us_spacing_mm == 0.15 and record.core_diameter_mm == 1.6
        assert record.split in ("train", "val", "test")
        assert record.extra["difficulty"] == "default"
    splits = {}
    for record in manifest.records:
        assert splits.setdefault(record.patient_id, record.split) == record.split


def test_every_file_is_consistent(small_cohort: Path) -> None:
    manifest = read_manifest(small_cohort)
    for record in manifest.records:
        image = read_gray(record.us_path)
        labels = read_label_map(record.label_path)
        lesion = read_gray(record.lesion_mask_path)
        assert image.shape == labels.shape == lesion.shape == (256, 256)
        rows, cols = np.nonzero(lesion)
        x, y, w, h = record.lesion_roi  # the box holds exactly the lesion's pixel centres
        assert (x, y, x + w - 1, y + h - 1) == (cols.min(), rows.min(), cols.max(), rows.max())
        assert set(np.unique(labels)) == {0, 1, 255} and set(np.unique(lesion)) <= {0, 1}
        x0, y0, x1, y1 = record.tract
        strip = strip_mask(
            labels.shape, (x0, y0), (x1, y1), record.core_diameter_mm / record.us_spacing_mm
        )
        assert np.array_equal(labels != 255, strip)
        # the reference's cancer lies mostly on the lesion
        assert lesion[labels == 1].mean() > 0.8 and lesion[labels == 0].mean() < 0.2
        with open_wsi(record.wsi_path, record.wsi_mpp) as wsi:
            assert wsi.mpp == 4.0 and not wsi.warnings
            level0 = wsi.level_shapes[0]
            if record.wsi_path.suffix != ".png":
                assert wsi.level_count >= 2
                assert all(d in (2.0, 4.0, 8.0, 16.0, 64.0) for d in wsi.level_downsamples[1:2])
        annotation = read_annotation(record.annotation_path, level0)
        assert annotation.has_cancer
        if record.wsi_roi is not None:
            x, y, w, h = record.wsi_roi
            assert x >= 0 and y >= 0 and x + w <= level0[1] and y + h <= level0[0]


def test_tifffile_alone_reads_mpp_and_levels(small_cohort: Path) -> None:
    manifest = read_manifest(small_cohort)
    tiffs = [r for r in manifest.records if r.wsi_path.suffix == ".tif"]
    assert tiffs, "the small cohort should hold TIFF slides"
    for record in tiffs:
        with tifffile.TiffFile(record.wsi_path) as tif:
            levels = tif.series[0].levels
            assert len(levels) >= 2 and levels[0].shape[2] == 3
            if tif.is_ome:
                sizes = dict(re.findall(r'(PhysicalSize[XY])="([^"]+)"', tif.ome_metadata))
                assert float(sizes["PhysicalSizeX"]) == float(sizes["PhysicalSizeY"]) == 4.0
            page = tif.pages.first
            assert page.tags["ResolutionUnit"].value == tifffile.RESUNIT.CENTIMETER
            numerator, denominator = page.tags["XResolution"].value
            assert 1e4 / (numerator / denominator) == pytest.approx(4.0)


def test_record_and_summary(small_cohort: Path, small_settings: dict) -> None:
    record = read_record(small_cohort.parent)
    assert record["settings_hash"] and len(record["cases"]) == small_settings["num_cases"]
    case = next(iter(record["cases"].values()))
    assert {"fragments", "shrinkage", "wsi_format", "annotation_format", "serial_section"} <= set(
        case
    )
    text = format_summary(record)
    assert "cases written: 4" in text and "fragments per core" in text and "WSI formats" in text


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    a = simulate_cohort(tmp_path / "a", TINY, progress=False).parent
    b = simulate_cohort(tmp_path / "b", TINY, progress=False).parent
    c = simulate_cohort(tmp_path / "c", {**TINY, "seed": 12}, progress=False).parent
    assert _hashes(a) == _hashes(b)
    hashes_c = _hashes(c)
    assert all(
        hashes_c.get(name) != digest
        for name, digest in _hashes(a).items()
        if name.startswith(("us/", "wsi/"))
    )


def test_ensure_cohort_reuses_until_settings_change(tmp_path: Path) -> None:
    out = tmp_path / "cached"
    manifest = ensure_cohort(out, TINY, progress=False)
    stamp = manifest.stat().st_mtime_ns
    assert ensure_cohort(out, TINY, progress=False).stat().st_mtime_ns == stamp
    changed = {**TINY, "num_cases": 1}
    manifest = ensure_cohort(out, changed, progress=False)
    assert len(read_manifest(manifest).records) == 1
    assert not list(tmp_path.glob(".cached*"))


def test_out_dir_with_other_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        simulate_cohort(tmp_path, TINY, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_crash_leaves_no_cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = cohort_module.simulate_case

    def failing(job, settings, staging):
        calls.append(job.case_id)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(job, settings, staging)

    monkeypatch.setattr(cohort_module, "simulate_case", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        simulate_cohort(tmp_path / "crash", TINY, progress=False)
    assert list(tmp_path.iterdir()) == []


def _mask_folder(root: Path) -> Path:
    """A BUSI-style folder: a good lesion, an empty mask, a tiny lesion, a lesion at the border."""
    folder = root / "busi" / "malignant"
    folder.mkdir(parents=True)
    settings = PhantomSettings()
    rng = np.random.default_rng(0)
    phantom = render_phantom(sample_anatomy(settings, rng), settings, rng)
    rgb = np.repeat(phantom.image[..., None], 3, axis=2)
    tiny = np.zeros((256, 256), dtype=bool)
    tiny[120:122, 120:122] = True
    border = np.zeros((256, 256), dtype=bool)
    border[100:110, 0:4] = True
    masks = {
        "good (1)": phantom.lesion_mask,
        "empty (2)": np.zeros((256, 256), bool),
        "tiny (3)": tiny,
        "edge (4)": border,
    }
    for name, mask in masks.items():
        Image.fromarray(rgb).save(folder / f"{name}.png")
        Image.fromarray(mask).save(folder / f"{name}_mask.png")  # 1-bit, like BUSI
    half = phantom.lesion_mask.copy()
    half[:, :128] = False
    Image.fromarray(np.where(half[..., None], 255, 0).repeat(4, axis=2).astype(np.uint8)).save(
        folder / "good (1)_mask_1.png"
    )
    return root / "busi"


def test_mask_folder_skips_unusable_images_with_reasons(tmp_path: Path) -> None:
    root = _mask_folder(tmp_path)
    settings = {
        "source": {"kind": "mask_folder", "path": str(root), "assumed_spacing_mm": 0.15},
        "tract": {"attempts": 60},
    }
    manifest = simulate_cohort(tmp_path / "out", settings, progress=False)
    records = read_manifest(manifest).records
    assert [r.case_id for r in records] == ["good_1"]
    assert (
        records[0].us_spacing_mm == 0.15
        and records[0].extra["source_image"] == "malignant/good (1).png"
    )
    record = read_record(manifest.parent)
    reasons = {s["source_image"]: s["reason"] for s in record["skipped"]}
    assert reasons.keys() == {
        "malignant/empty (2).png",
        "malignant/tiny (3).png",
        "malignant/edge (4).png",
    }
    assert "no lesion" in reasons["malignant/empty (2).png"]
    assert "too small" in reasons["malignant/tiny (3).png"]
    assert "border" in reasons["malignant/edge (4).png"]
    assert record["spacing_assumed"] is True
    summary = format_summary(record)
    assert "skipped: 3" in summary and "(assumed)" in summary


def test_no_usable_image_is_an_error(tmp_path: Path) -> None:
    root = _mask_folder(tmp_path)
    for path in root.glob("malignant/good*"):
        path.unlink()
    settings = {"source": {"kind": "mask_folder", "path": str(root)}, "tract": {"attempts": 30}}
    with pytest.raises(InputError, match="no case could be simulated"):
        simulate_cohort(tmp_path / "out", settings, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_workers_do_not_change_the_files(tmp_path: Path) -> None:
    serial = simulate_cohort(tmp_path / "one", {**TINY, "num_cases": 3}, progress=False).parent
    parallel = simulate_cohort(
        tmp_path / "two", {**TINY, "num_cases": 3}, progress=False, workers=2
    ).parent
    assert _hashes(serial) == _hashes(parallel)


@pytest.mark.shared_data
def test_busi_cohort(shared_data: Path, tmp_path: Path) -> None:
    settings = {"source": {"kind": "mask_folder", "path": str(shared_data / "busi"), "limit": 5}}
    manifest = read_manifest(simulate_cohort(tmp_path / "busi", settings, progress=False))
    manifest.raise_for_errors()
    record = json.loads((manifest.path.parent / "simulation.json").read_text())
    assert len(manifest.records) + len(record["skipped"]) == 5 and len(manifest.records) >= 3
    for case in manifest.records:
        assert case.us_spacing_mm == 0.1 and case.patient_id == case.case_id
        assert read_label_map(case.label_path).shape == read_gray(case.us_path).shape
