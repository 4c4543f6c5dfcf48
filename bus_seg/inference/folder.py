"""Predict on many images in batches and write maps, overlays and a per-image CSV."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from bus_seg.errors import BusSegError, ConfigError, InputError
from bus_seg.inference.cine import FRAME_MODES, predict_frames, write_cine_outputs
from bus_seg.inference.inputs import PredictInput
from bus_seg.inference.predictor import Prediction, Predictor
from bus_seg.inference.preprocess import Letterbox, Preprocessor
from bus_seg.inference.writers import PROBABILITY_FORMATS, overlay, write_probability_map
from bus_seg.io.atomic import atomic_path
from bus_seg.io.images import write_png
from bus_seg.io.ultrasound import (
    UltrasoundImage,
    frame_count,
    read_ultrasound,
    read_ultrasound_frames,
)

log = logging.getLogger(__name__)

CSV_NAME = "predictions.csv"
CSV_COLUMNS = (
    "image_id",
    "source_path",
    "frame",
    "height",
    "width",
    "spacing_mm",
    "spacing_source",
    "cancer_area",
    "area_unit",
    "cancer_area_px",
    "cancer_area_mm2",
    "cancer_fraction",
    "max_probability",
    "probability_map",
    "label_map",
    "overlay",
    "notes",
    "error",
)


@dataclass
class LoadedImage:
    """An input read and preprocessed (or the reason it could not be)."""

    item: PredictInput
    ultrasound: UltrasoundImage | None = None
    image: torch.Tensor | None = None
    box: Letterbox | None = None
    error: str | None = None


class InputImages(Dataset):
    """Reads (:func:`~bus_seg.io.ultrasound.read_ultrasound`) and preprocesses inputs; an unreadable
    file becomes a :class:`LoadedImage` with its error instead of stopping the run."""

    def __init__(self, inputs: Sequence[PredictInput], preprocessor: Preprocessor) -> None:
        self.inputs, self.preprocessor = list(inputs), preprocessor

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> LoadedImage:
        item = self.inputs[index]
        try:
            ultrasound = read_ultrasound(item.path, item.spacing_mm, item.frame)
        except BusSegError as err:
            return LoadedImage(item, error=str(err))
        image, box = self.preprocessor(ultrasound.pixels)
        return LoadedImage(item, ultrasound, image, box)


def keep_as_list(batch: list[LoadedImage]) -> list[LoadedImage]:
    """DataLoader collate function: the batch stays a list (inputs may have failed to load)."""
    return batch


@dataclass
class PredictionRun:
    """What :func:`predict_to_folder` wrote: the per-image table and where it is."""

    table: pd.DataFrame
    csv_path: Path
    out_dir: Path

    @property
    def n_failed(self) -> int:
        return int(self.table["error"].notna().sum())


def predict_to_folder(
    predictor: Predictor,
    inputs: Sequence[PredictInput],
    out_dir: str | Path,
    *,
    batch_size: int = 8,
    num_workers: int = 0,
    probability_format: str = "png16",
    overlays: bool = True,
    progress: bool = True,
    frames: str = "one",
) -> PredictionRun:
    """Predict every input and write, under ``out_dir``, for each image id:
    ``probabilities/<id>.png`` (16-bit, p·65535) or ``.tif`` (float32), ``labels/<id>.png``
    (uint8, 1 cancer, 0 not) and ``overlays/<id>.png``, all at the image's original size, plus
    ``predictions.csv`` (one row per input: size, spacing, cancer area in mm² when the spacing
    is known and in pixels always, maximum probability, output files, or the read error).

    With ``frames="all"`` every frame of a cine loop (multi-frame DICOM, multi-page TIFF) is
    predicted: its maps are multi-page TIFFs (:func:`~bus_seg.inference.cine.write_cine_outputs`,
    page ``i`` = frame ``i``), with one CSV row per frame after the rows of the other inputs.

    Args:
        predictor: model and preprocessing.
        inputs: images to predict (:func:`~bus_seg.inference.inputs.collect_inputs`).
        out_dir: output folder (created when missing).
        batch_size: images per forward pass.
        num_workers: DataLoader processes reading and preprocessing images.
        probability_format: ``png16`` or ``tiff``.
        overlays: write overlay pictures.
        progress: show a tqdm progress bar.
        frames: ``one`` (an input's ``us_frame``, else frame 0) or ``all`` (every frame of a
            cine loop).

    Raises:
        ConfigError: unknown probability format or frames mode, or a non-positive batch size.
        InputError: two image ids give the same output file names.
    """
    if probability_format not in PROBABILITY_FORMATS:
        raise ConfigError(
            f"probability_format={probability_format!r} is unknown; use one of {list(PROBABILITY_FORMATS)}"
        )
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be at least 1")
    if frames not in FRAME_MODES:
        raise ConfigError(f"frames={frames!r} is unknown; use one of {list(FRAME_MODES)}")
    _check_distinct_outputs(inputs)
    out_dir = Path(out_dir)
    loops = [x for x in inputs if frames == "all" and frame_count(x.path) > 1]
    inputs = [x for x in inputs if x not in loops]
    loader = DataLoader(
        InputImages(inputs, predictor.preprocessor),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=keep_as_list,
    )
    rows = []
    with tqdm(total=len(inputs), unit="image", desc="predict", disable=not progress) as bar:
        for batch in loader:
            loaded = [x for x in batch if x.error is None]
            predictions = (
                predictor.predict_batch(
                    torch.stack([x.image for x in loaded]), [x.box for x in loaded]
                )
                if loaded
                else []
            )
            predicted = iter(predictions)
            for x in batch:
                if x.error is not None:
                    log.warning("not predicted: %s", x.error)
                    rows.append(
                        {
                            "image_id": x.item.image_id,
                            "source_path": str(x.item.path),
                            "error": x.error,
                        }
                    )
                else:
                    rows.append(
                        _write_outputs(x, next(predicted), out_dir, probability_format, overlays)
                    )
            bar.update(len(batch))
        for item in loops:
            rows.extend(_predict_loop(predictor, item, out_dir, batch_size, overlays))
            bar.update(1)
    table = pd.DataFrame(rows, columns=list(CSV_COLUMNS))
    csv_path = out_dir / CSV_NAME
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    return PredictionRun(table, csv_path, out_dir)


def output_stem(image_id: str) -> str:
    """The file name (without suffix) of an image's outputs: its id, other characters than
    letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", image_id)


def _check_distinct_outputs(inputs: Sequence[PredictInput]) -> None:
    seen: dict[str, PredictInput] = {}
    for item in inputs:
        stem = output_stem(item.image_id)
        if stem in seen:
            raise InputError(
                f"this image and {seen[stem].path} (ids {seen[stem].image_id!r}, {item.image_id!r}) would write "
                f"the same output files ({stem}.png); give every image a distinct manifest case_id or file name",
                item.path,
            )
        seen[stem] = item


def _write_outputs(
    loaded: LoadedImage,
    prediction: Prediction,
    out_dir: Path,
    probability_format: str,
    overlays: bool,
) -> dict[str, Any]:
    image_id, ultrasound = loaded.item.image_id, loaded.ultrasound
    assert ultrasound is not None
    stem = output_stem(image_id)
    probability_map = write_probability_map(
        out_dir / "probabilities" / stem, prediction.probability, probability_format
    )
    label_map = write_png(out_dir / "labels" / f"{stem}.png", prediction.labels)
    overlay_path = None
    if overlays:
        overlay_path = write_png(
            out_dir / "overlays" / f"{stem}.png",
            overlay(ultrasound.pixels, prediction.labels, prediction.probability, image_id),
        )
    files = {"probability_map": probability_map, "label_map": label_map, "overlay": overlay_path}
    return _row(loaded.item, None, ultrasound, prediction, files, out_dir)


def _predict_loop(
    predictor: Predictor, item: PredictInput, out_dir: Path, batch_size: int, overlays: bool
) -> list[dict[str, Any]]:
    """Predict every frame of a cine loop; one row per frame (or one row with the read error)."""
    try:
        frames = read_ultrasound_frames(item.path, item.spacing_mm)
    except BusSegError as err:
        log.warning("not predicted: %s", err)
        return [{"image_id": item.image_id, "source_path": str(item.path), "error": str(err)}]
    predictions = predict_frames(predictor, frames, batch_size)
    files = write_cine_outputs(out_dir, output_stem(item.image_id), frames, predictions, overlays)
    return [
        _row(item, index, ultrasound, prediction, files, out_dir)
        for index, (ultrasound, prediction) in enumerate(zip(frames, predictions, strict=True))
    ]


def _row(
    item: PredictInput,
    frame: int | None,
    ultrasound: UltrasoundImage,
    prediction: Prediction,
    files: dict[str, Path | None],
    out_dir: Path,
) -> dict[str, Any]:
    """The CSV row of one predicted image (or one frame of a cine loop)."""
    area_px = int((prediction.labels == 1).sum())
    spacing = ultrasound.spacing_mm
    area_mm2 = area_px * spacing**2 if spacing else None
    height, width = ultrasound.shape
    return {
        "image_id": item.image_id,
        "source_path": str(item.path),
        "frame": frame if frame is not None else item.frame,
        "height": height,
        "width": width,
        "spacing_mm": spacing,
        "spacing_source": ultrasound.spacing_source,
        "cancer_area": area_mm2 if area_mm2 is not None else area_px,
        "area_unit": "mm2" if area_mm2 is not None else "px",
        "cancer_area_px": area_px,
        "cancer_area_mm2": area_mm2,
        "cancer_fraction": area_px / (height * width),
        "max_probability": float(prediction.probability.max()),
        **{
            column: str(path.relative_to(out_dir)) if path is not None else None
            for column, path in files.items()
        },
        "notes": "; ".join(ultrasound.warnings) or None,
        "error": None,
    }
