"""Inference on new ultrasound images: checkpoint loading, batched prediction at the original
image size, ONNX/TorchScript export."""

from bus_seg.inference.export import (
    ExportResult,
    export_checkpoint,
    export_onnx,
    export_torchscript,
)
from bus_seg.inference.folder import PredictionRun, predict_to_folder
from bus_seg.inference.inputs import PredictInput, collect_inputs
from bus_seg.inference.predictor import Prediction, Predictor
from bus_seg.inference.preprocess import Letterbox, Preprocessing, Preprocessor, restore_size
from bus_seg.inference.runners import LogitsOnly, OnnxRunner, TorchRunner, resolve_device
from bus_seg.inference.trained_net import load_trained_net

__all__ = [
    "ExportResult",
    "Letterbox",
    "LogitsOnly",
    "OnnxRunner",
    "Prediction",
    "PredictInput",
    "PredictionRun",
    "Predictor",
    "Preprocessing",
    "Preprocessor",
    "TorchRunner",
    "collect_inputs",
    "export_checkpoint",
    "export_onnx",
    "export_torchscript",
    "load_trained_net",
    "predict_to_folder",
    "resolve_device",
    "restore_size",
]
