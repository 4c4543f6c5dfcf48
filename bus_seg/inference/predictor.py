"""Predict cancer probability and label maps at the original size of new ultrasound images."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bus_seg.inference.preprocess import Letterbox, Preprocessing, Preprocessor, restore_size
from bus_seg.inference.runners import OnnxRunner, TorchRunner, resolve_device
from bus_seg.inference.trained_net import load_trained_net
from bus_seg.labels import CANCER_LABEL


@dataclass
class Prediction:
    """One image's prediction at its original size.

    Attributes:
        probability: H×W float32 cancer probability (softmax of the resized logits).
        labels: H×W uint8 predicted labels (argmax: 1 cancer, 0 not).
    """

    probability: np.ndarray
    labels: np.ndarray


class Predictor:
    """A logits backend plus the preprocessing the model was trained with.

    Args:
        runner: ``runner(N×C×S×S input) -> N×classes×S×S logits`` (a :class:`TorchRunner` or
            :class:`OnnxRunner`).
        preprocessing: the run's eval preprocessing.
    """

    def __init__(
        self, runner: Callable[[torch.Tensor], torch.Tensor], preprocessing: Preprocessing
    ) -> None:
        self.runner = runner
        self.preprocessing = preprocessing
        self.preprocessor = Preprocessor(preprocessing)

    @classmethod
    def from_checkpoint(
        cls,
        ckpt_path: str | Path,
        device: str = "auto",
        channels_last: bool = False,
        precision: str = "32",
    ) -> Predictor:
        """Eager PyTorch prediction with the model and preprocessing stored in a checkpoint."""
        net, preprocessing, _ = load_trained_net(ckpt_path)
        return cls(
            TorchRunner(net, resolve_device(device), channels_last, precision), preprocessing
        )

    @classmethod
    def from_onnx(
        cls,
        onnx_path: str | Path,
        preprocessing: Preprocessing | None = None,
        threads: int | None = None,
    ) -> Predictor:
        """ONNX Runtime prediction; the preprocessing defaults to the one stored at export."""
        runner = OnnxRunner(onnx_path, threads)
        return cls(runner, preprocessing or runner.preprocessing())

    def predict_batch(self, batch: torch.Tensor, boxes: Sequence[Letterbox]) -> list[Prediction]:
        """Predictions of preprocessed inputs (``N×C×S×S``) at the sizes their letterboxes record."""
        logits = self.runner(batch)
        predictions = []
        for image_logits, box in zip(logits, boxes, strict=True):
            restored = restore_size(image_logits, box)
            predictions.append(
                Prediction(
                    probability=restored.softmax(dim=0)[CANCER_LABEL].numpy(),
                    labels=restored.argmax(dim=0).to(torch.uint8).numpy(),
                )
            )
        return predictions

    def predict(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Predictions of H×W uint8 gray images (any sizes), in one batch."""
        prepared = [self.preprocessor(image) for image in images]
        return self.predict_batch(
            torch.stack([image for image, _ in prepared]), [box for _, box in prepared]
        )
