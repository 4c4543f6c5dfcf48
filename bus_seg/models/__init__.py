"""Segmentation model registry (torchvision FCN/DeepLabV3 and segmentation-models-pytorch).

``build_model(name, ...)`` returns a :class:`SegmentationNet` whose ``forward(x)`` gives
``{"out": logits, "aux": logits?}`` at the input resolution; ``available_models()`` lists the
names; ``head_parameter_names(module)`` names the non-backbone parameters (for a higher head
learning rate).
"""

from __future__ import annotations

from bus_seg.models.registry import available_models, build_model
from bus_seg.models.wrapper import SegmentationNet, head_parameter_names

__all__ = ["SegmentationNet", "available_models", "build_model", "head_parameter_names"]
