"""Batch normalisation that also trains on a batch of one image.

Global-pooling branches (the image-pooling branch of DeepLabV3's ASPP, PAN's and UPerNet's pooling
blocks) reduce a feature map to 1×1 and then apply BatchNorm. With one image in the batch that
BatchNorm sees a single value per channel, and ``nn.BatchNorm2d`` raises "Expected more than 1
value per channel when training". Batch statistics are meaningless there (a single value
normalises to zero), so :class:`SingleValueSafeBatchNorm2d` normalises that case with its running
statistics, exactly as in evaluation mode. Everything else, including the state dict, is that of
``nn.BatchNorm2d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SingleValueSafeBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` that uses its running statistics when a batch has one value per channel.

    With more than one value per channel (any batch of two or more images, or any feature map
    larger than 1×1) it behaves exactly as ``nn.BatchNorm2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single_value = x.dim() == 4 and x.shape[0] * x.shape[2] * x.shape[3] == 1
        if self.training and single_value and self.running_mean is not None:
            return F.batch_norm(
                x,
                self.running_mean,
                self.running_var,
                self.weight,
                self.bias,
                training=False,
                momentum=0.0,
                eps=self.eps,
            )
        return super().forward(x)


def convert_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every plain ``nn.BatchNorm2d`` in ``module`` by :class:`SingleValueSafeBatchNorm2d`.

    Follows ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``: parameters and buffers are carried
    over, so weights loaded before or after the conversion are unaffected. Subclasses of
    ``nn.BatchNorm2d`` (timm's ``BatchNormAct2d``, ``SyncBatchNorm``) are left as they are.

    Args:
        module: The network (or a single layer) to convert.

    Returns:
        The converted module (``module`` itself unless it is a ``BatchNorm2d``).
    """
    converted = module
    if type(module) is nn.BatchNorm2d:
        converted = SingleValueSafeBatchNorm2d(
            module.num_features,
            eps=module.eps,
            momentum=module.momentum,
            affine=module.affine,
            track_running_stats=module.track_running_stats,
            device=module.weight.device if module.affine else None,
            dtype=module.weight.dtype if module.affine else None,
        )
        if module.affine:
            converted.weight = module.weight
            converted.bias = module.bias
        converted.running_mean = module.running_mean
        converted.running_var = module.running_var
        converted.num_batches_tracked = module.num_batches_tracked
        converted.train(module.training)
    for name, child in module.named_children():
        converted.add_module(name, convert_batchnorm(child))
    return converted
