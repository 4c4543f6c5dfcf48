"""bus-seg-predict: maps at the original size, overlays, the area CSV, backends and inputs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import DictConfig

from bus_seg.cli.predict import predict
from bus_seg.config import compose_config
from bus_seg.errors import ConfigError, InputError
from bus_seg.inference import PredictInput, Predictor, collect_inputs, predict_to_folder
from bus_seg.inference.preprocess import Preprocessing, Preprocessor, restore_size
from bus_seg.inference.writers import overlay_size, read_probability_map
from bus_seg.io.images import read_array, write_png


def predict_config(tmp_path: Path, *overrides: str) -> DictConfig:
    """The composed ``predict`` entry config (CPU, no progress bar) writing under ``tmp_path``."""
    return compose_config(
        ["device=cpu", "progress=false", *overrides],
        config_name="predict",
        output_dir=tmp_path / "hydra",
    )


@pytest.mark.parametrize("shape", [(50, 90), (120, 80), (64, 64), (7, 200)])
def test_letterbox_round_trip_restores_the_original_grid(shape: tuple[int, int]) -> None:
    preprocessor = Preprocessor(Preprocessing(image_size=64))
    image, box = preprocessor(np.zeros(shape, dtype=np.uint8))
    assert image.shape == (1, 64, 64) and (box.height, box.width) == shape
    # a left/right split of the resized image maps back to the same split of the original
    logits = torch.zeros(2, 64, 64)
    logits[1, :, : (box.x0 + box.x1) // 2] = 5.0
    restored = restore_size(logits, box).argmax(dim=0)
    assert restored.shape == shape
    assert restored[:, 0].all() and not restored[:, -1].any()


def test_predict_folder_writes_maps_overlays_and_areas(
    tiny_checkpoint: Path, image_folder: Path, tmp_path: Path
) -> None:
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    inputs = collect_inputs(image_folder, spacing_mm=0.1)
    assert [i.image_id for i in inputs] == ["a", "b", "sub__c"], (
        "masks are skipped, subfolders kept"
    )
    run = predict_to_folder(predictor, inputs, tmp_path / "out", batch_size=2, progress=False)
    table = pd.read_csv(run.csv_path)
    assert len(table) == 3 and table["error"].isna().all()
    for row in table.itertuples():
        source = read_array(row.source_path)
        probability = read_probability_map(tmp_path / "out" / row.probability_map)
        labels = read_array(tmp_path / "out" / row.label_map)
        overlay = read_array(tmp_path / "out" / row.overlay)
        assert probability.shape == labels.shape == source.shape == (row.height, row.width)
        assert overlay.shape == (*overlay_size(*source.shape), 3)
        assert set(np.unique(labels)) <= {0, 1}
        assert np.array_equal(labels == 1, probability > 0.5), (
            "labels are the argmax of the two classes"
        )
        assert row.cancer_area_px == int((labels == 1).sum())
        assert row.area_unit == "mm2" and row.cancer_area_mm2 == pytest.approx(
            row.cancer_area_px * 0.01
        )


def test_batching_does_not_change_predictions(tiny_checkpoint: Path, image_folder: Path) -> None:
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    images = [read_array(p.path) for p in collect_inputs(image_folder)]
    together = predictor.predict(images)
    for image, batched in zip(images, together, strict=True):
        (alone,) = predictor.predict([image])
        np.testing.assert_allclose(alone.probability, batched.probability, atol=1e-5)


def test_unknown_spacing_gives_pixel_areas_and_bad_files_are_reported(
    tiny_checkpoint: Path, image_folder: Path, tmp_path: Path
) -> None:
    (image_folder / "broken.png").write_bytes(b"not a png")
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    run = predict_to_folder(
        predictor,
        collect_inputs(image_folder),
        tmp_path / "out",
        probability_format="tiff",
        progress=False,
    )
    table = run.table.set_index("image_id")
    assert run.n_failed == 1 and "broken" in str(table.loc["broken", "error"])
    ok = table.drop(index="broken")
    assert (ok["area_unit"] == "px").all() and ok["cancer_area_mm2"].isna().all()
    assert (tmp_path / "out" / "probabilities" / "a.tif").is_file()


def test_manifest_input_uses_its_spacing(tmp_path: Path, image_folder: Path) -> None:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "case_id,patient_id,us_path,us_spacing_mm,wsi_path,annotation_path,core_diameter_mm,proximal_end\n"
        "case1,p1,images/a.png,0.25,slide.svs,ann.geojson,1.0,left\n"
        "case2,p2,images/b.png,,slide.svs,ann.geojson,1.0,left\n"
    )
    inputs = collect_inputs(manifest, spacing_mm=0.5)
    assert [(i.image_id, i.path.name, i.spacing_mm) for i in inputs] == [
        ("case1", "a.png", 0.25),
        ("case2", "b.png", 0.5),
    ]


def test_bad_inputs_and_options_are_clear(tiny_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="input not found"):
        collect_inputs(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image found"):
        collect_inputs(tmp_path / "empty")
    with pytest.raises(ConfigError, match="device"):
        Predictor.from_checkpoint(tiny_checkpoint, device="tpu")
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {}}, plain)
    with pytest.raises(ConfigError, match="bus_seg_config"):
        Predictor.from_checkpoint(plain)


def test_cli_predicts_a_folder_with_the_onnx_backend(
    tiny_checkpoint: Path, image_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cli"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bus_seg.cli.predict",
            f"ckpt_path={tiny_checkpoint}",
            f"input={image_folder}",
            f"out_dir={out}",
            "backend=onnx",
            "progress=false",
            f"hydra.run.dir={tmp_path / 'hydra'}",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "predicted 3 of 3 images" in result.stdout
    table = pd.read_csv(out / "predictions.csv")
    assert list(table["image_id"]) == ["a", "b", "sub__c"]
    assert (out / "model.onnx").is_file() and (out / "overlays" / "b.png").is_file()
    onnx_labels = read_array(out / "labels" / "b.png")
    (eager,) = Predictor.from_checkpoint(tiny_checkpoint, device="cpu").predict(
        [read_array(image_folder / "b.png")]
    )
    assert (onnx_labels == eager.labels).mean() > 0.999


def test_predict_config_without_checkpoint_is_clear(tmp_path: Path, image_folder: Path) -> None:
    cfg = predict_config(tmp_path, f"input={image_folder}", f"out_dir={tmp_path}")
    with pytest.raises(ConfigError, match="set ckpt_path="):
        predict(cfg)
    cfg.backend = "tensorrt"
    with pytest.raises(ConfigError, match="backend="):
        predict(cfg)


def test_entry_point_predicts_one_file_and_a_manifest(
    tiny_checkpoint: Path, image_folder: Path, tmp_path: Path
) -> None:
    csv_path = predict(
        predict_config(
            tmp_path,
            f"ckpt_path={tiny_checkpoint}",
            f"input={image_folder / 'b.png'}",
            f"out_dir={tmp_path / 'one'}",
        )
    )
    one = pd.read_csv(csv_path)
    assert list(one["image_id"]) == ["b"] and list(one["area_unit"]) == ["px"]
    assert (tmp_path / "one" / "labels" / "b.png").is_file()

    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "case_id,patient_id,us_path,us_spacing_mm,wsi_path,annotation_path,core_diameter_mm,proximal_end\n"
        "case1,p1,images/a.png,0.25,slide.svs,ann.geojson,1.0,left\n"
        "case2,p2,images/b.png,,slide.svs,ann.geojson,1.0,left\n"
    )
    overrides = [
        f"ckpt_path={tiny_checkpoint}",
        f"input={manifest}",
        f"out_dir={tmp_path / 'cohort'}",
        "spacing_mm=0.5",
    ]
    table = pd.read_csv(predict(predict_config(tmp_path, *overrides))).set_index("image_id")
    assert list(table.index) == ["case1", "case2"] and (table["area_unit"] == "mm2").all()
    assert (
        list(table["spacing_mm"]) == [0.25, 0.5] and (table["spacing_source"] == "manifest").all()
    )
    np.testing.assert_allclose(
        table["cancer_area_mm2"], table["cancer_area_px"] * table["spacing_mm"] ** 2
    )
    assert (tmp_path / "cohort" / "overlays" / "case1.png").is_file()


def test_dicom_inputs_give_areas_in_mm2_from_their_own_spacing(
    tiny_checkpoint: Path, tmp_path: Path, write_dicom: Callable[[Path, np.ndarray, float], Path]
) -> None:
    rng = np.random.default_rng(2)
    folder = tmp_path / "dicoms"
    write_dicom(folder / "scan.dcm", rng.integers(0, 256, (60, 80), dtype=np.uint8), 0.2)
    write_dicom(
        folder / "1.2.840.99", rng.integers(0, 256, (70, 70), dtype=np.uint8), 0.1
    )  # exported without suffix
    (folder / "notes.txt").write_text("not an image")
    inputs = collect_inputs(folder)
    assert [i.image_id for i in inputs] == ["1.2.840.99", "scan"]
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    table = predict_to_folder(predictor, inputs, tmp_path / "out", progress=False).table.set_index(
        "image_id"
    )
    assert table["error"].isna().all() and (table["spacing_source"] == "dicom-pixelspacing").all()
    assert list(table["spacing_mm"]) == pytest.approx([0.1, 0.2])
    assert list(table[["height", "width"]].itertuples(index=False, name=None)) == [
        (70, 70),
        (60, 80),
    ]
    np.testing.assert_allclose(
        table["cancer_area_mm2"], table["cancer_area_px"] * table["spacing_mm"] ** 2
    )
    labels = read_array(tmp_path / "out" / table.loc["scan", "label_map"])
    assert (
        labels.shape == (60, 80) and int((labels == 1).sum()) == table.loc["scan", "cancer_area_px"]
    )


def test_outputs_never_overwrite_each_other(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = tmp_path / "same_stem"
    for name in ("a.png", "a.bmp"):
        write_png(folder / name, np.zeros((8, 8), dtype=np.uint8))
    assert [i.image_id for i in collect_inputs(folder)] == ["a_bmp", "a_png"], (
        "the suffix tells them apart"
    )
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    clashing = [PredictInput("case 1", folder / "a.png"), PredictInput("case_1", folder / "a.bmp")]
    with pytest.raises(InputError, match="same output files"):
        predict_to_folder(predictor, clashing, tmp_path / "out", progress=False)
