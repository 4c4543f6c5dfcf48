"""Predictions for every frame of a cine loop, written as multi-page TIFFs (``frames=all``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
import torch

from bus_seg.inference.predictor import Prediction, Predictor
from bus_seg.inference.writers import overlay
from bus_seg.io.atomic import atomic_path
from bus_seg.io.ultrasound import UltrasoundImage

FRAME_MODES = ("one", "all")
"""``one``: the manifest's ``us_frame`` or frame 0; ``all``: every frame of a cine loop."""


def predict_frames(
    predictor: Predictor, frames: list[UltrasoundImage], batch_size: int
) -> list[Prediction]:
    """Predict every frame, ``batch_size`` frames per forward pass."""
    predictions: list[Prediction] = []
    for start in range(0, len(frames), batch_size):
        prepared = [predictor.preprocessor(f.pixels) for f in frames[start : start + batch_size]]
        images = torch.stack([image for image, _ in prepared])
        predictions += predictor.predict_batch(images, [box for _, box in prepared])
    return predictions


def write_cine_outputs(
    out_dir: Path,
    stem: str,
    frames: list[UltrasoundImage],
    predictions: list[Prediction],
    overlays: bool,
) -> dict[str, Path | None]:
    """Write one multi-page TIFF per output, page ``i`` for frame ``i``.

    ``probabilities/<stem>.tif`` holds float32 probabilities, ``labels/<stem>.tif`` uint8 label
    maps (1 cancer, 0 not) and ``overlays/<stem>.tif`` RGB overlays (when ``overlays``).

    Returns:
        The written files by CSV column: ``probability_map``, ``label_map``, ``overlay``.
    """
    stacks: dict[str, np.ndarray] = {
        "probability_map": np.stack([p.probability.astype(np.float32) for p in predictions]),
        "label_map": np.stack([p.labels.astype(np.uint8) for p in predictions]),
    }
    if overlays:
        stacks["overlay"] = np.stack(
            [
                overlay(f.pixels, p.labels, p.probability, f"{stem}, frame {i}")
                for i, (f, p) in enumerate(zip(frames, predictions, strict=True))
            ]
        )
    folders = {"probability_map": "probabilities", "label_map": "labels", "overlay": "overlays"}
    written: dict[str, Path | None] = {"overlay": None}
    for column, stack in stacks.items():
        path = out_dir / folders[column] / f"{stem}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tifffile.imwrite(
                tmp,
                stack,
                photometric="rgb" if column == "overlay" else "minisblack",
                compression="zlib",
            )
        written[column] = path
    return written
