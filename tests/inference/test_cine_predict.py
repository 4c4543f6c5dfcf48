"""bus-seg-predict on cine loops: every frame (frames=all) as multi-page maps, or us_frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from omegaconf import DictConfig

from bus_seg.cli.predict import predict
from bus_seg.config import compose_config
from bus_seg.errors import ConfigError
from bus_seg.inference import PredictInput, Predictor, collect_inputs, predict_to_folder
from bus_seg.inference.writers import overlay_size
from bus_seg.io.images import read_array, write_png
from tests.helpers.dicom import write_cine


@pytest.fixture
def loop() -> np.ndarray:
    """Three different frames: noise, its negative, and a bright square on black."""
    rng = np.random.default_rng(5)
    first = rng.integers(0, 256, (48, 72), dtype=np.uint8)
    square = np.zeros_like(first)
    square[10:30, 20:50] = 230
    return np.stack([first, 255 - first, square])


def test_every_frame_of_a_cine_loop_is_predicted(
    tiny_checkpoint: Path, tmp_path: Path, loop: np.ndarray
) -> None:
    folder = tmp_path / "in"
    write_cine(folder / "loop.dcm", loop, 0.2)
    write_png(folder / "still.png", loop[0])
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    run = predict_to_folder(
        predictor,
        collect_inputs(folder),
        tmp_path / "out",
        batch_size=2,
        frames="all",
        progress=False,
    )
    table = run.table
    assert table["error"].isna().all()
    cine = table[table["image_id"] == "loop"]
    assert list(cine["frame"]) == [0, 1, 2] and (cine["spacing_mm"] == 0.2).all()
    assert set(cine["label_map"]) == {"labels/loop.tif"}
    assert list(table.loc[table["image_id"] == "still", "label_map"]) == ["labels/still.png"]

    labels = tifffile.imread(tmp_path / "out" / "labels" / "loop.tif")
    probabilities = tifffile.imread(tmp_path / "out" / "probabilities" / "loop.tif")
    overlays = tifffile.imread(tmp_path / "out" / "overlays" / "loop.tif")
    assert labels.shape == (3, 48, 72) and labels.dtype == np.uint8
    assert probabilities.shape == (3, 48, 72) and probabilities.dtype == np.float32
    assert overlays.shape == (3, *overlay_size(48, 72), 3)
    single = predictor.predict(list(loop))
    for index, expected in enumerate(single):
        np.testing.assert_array_equal(labels[index], expected.labels)
        np.testing.assert_allclose(probabilities[index], expected.probability, atol=1e-6)
        assert cine.iloc[index]["cancer_area_px"] == int((expected.labels == 1).sum())
    assert not np.array_equal(single[0].probability, single[2].probability)


def test_us_frame_picks_the_frame_predicted(
    tiny_checkpoint: Path, tmp_path: Path, loop: np.ndarray
) -> None:
    path = write_cine(tmp_path / "loop.dcm", loop, 0.2)
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    run = predict_to_folder(
        predictor, [PredictInput("case", path, None, frame=2)], tmp_path / "out", progress=False
    )
    row = run.table.iloc[0]
    assert row["frame"] == 2 and pd.isna(row["error"])
    labels = read_array(tmp_path / "out" / row["label_map"])
    np.testing.assert_array_equal(labels, predictor.predict([loop[2]])[0].labels)


def test_unknown_frames_mode_is_a_clear_error(tiny_checkpoint: Path, tmp_path: Path) -> None:
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    with pytest.raises(ConfigError, match="frames='every' is unknown.*'one', 'all'"):
        predict_to_folder(predictor, [], tmp_path, frames="every")


def predict_config(tmp_path: Path, *overrides: str) -> DictConfig:
    return compose_config(
        ["device=cpu", "progress=false", *overrides],
        config_name="predict",
        output_dir=tmp_path / "hydra",
    )


def test_entry_point_writes_a_multi_page_tiff_loop(
    tiny_checkpoint: Path, tmp_path: Path, loop: np.ndarray
) -> None:
    path = tmp_path / "loop.tif"
    tifffile.imwrite(path, loop, photometric="minisblack")
    overrides = [f"ckpt_path={tiny_checkpoint}", f"input={path}", f"out_dir={tmp_path / 'out'}"]
    table = pd.read_csv(predict(predict_config(tmp_path, *overrides, "frames=all")))
    assert list(table["frame"]) == [0, 1, 2]
    assert tifffile.imread(tmp_path / "out" / "labels" / "loop.tif").shape == (3, 48, 72)
    first_only = pd.read_csv(
        predict(predict_config(tmp_path, *overrides[:2], f"out_dir={tmp_path / 'one'}"))
    )
    assert len(first_only) == 1 and "first page" in first_only.loc[0, "notes"]
