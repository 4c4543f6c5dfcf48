"""SingleValueSafeBatchNorm2d: plain BatchNorm2d except for the one-value-per-channel case."""

from __future__ import annotations

import torch
from torch import nn

from bus_seg.models.norm import SingleValueSafeBatchNorm2d, convert_batchnorm


def trained_batchnorm() -> nn.BatchNorm2d:
    layer = nn.BatchNorm2d(4)
    with torch.no_grad():
        layer.weight.uniform_(0.5, 1.5)
        layer.bias.uniform_(-0.5, 0.5)
        layer.running_mean.uniform_(-1, 1)
        layer.running_var.uniform_(0.5, 2)
    return layer


def test_conversion_keeps_parameters_buffers_and_state_dict() -> None:
    plain = trained_batchnorm()
    network = nn.Sequential(nn.Conv2d(1, 4, 3), plain, nn.Sequential(nn.BatchNorm2d(4)))
    converted = convert_batchnorm(network)
    assert isinstance(converted[1], SingleValueSafeBatchNorm2d)
    assert isinstance(converted[2][0], SingleValueSafeBatchNorm2d)
    assert converted[1].weight is plain.weight
    assert converted[1].running_mean is plain.running_mean
    assert list(converted.state_dict()) == list(network.state_dict())


def test_batches_with_several_values_behave_as_batchnorm() -> None:
    reference = trained_batchnorm()
    safe = convert_batchnorm(trained_batchnorm())
    safe.load_state_dict(reference.state_dict())
    for x in (torch.randn(2, 4, 1, 1), torch.randn(1, 4, 3, 3)):
        assert torch.allclose(safe.train()(x), reference.train()(x))
        assert torch.allclose(safe.running_mean, reference.running_mean)
        assert torch.allclose(safe.eval()(x), reference.eval()(x))


def test_single_value_in_training_uses_running_statistics() -> None:
    reference = trained_batchnorm().eval()
    safe = convert_batchnorm(trained_batchnorm())
    safe.load_state_dict(reference.state_dict())
    x = torch.randn(1, 4, 1, 1, requires_grad=True)
    y = safe.train()(x)
    assert torch.allclose(y, reference(x))
    assert torch.equal(safe.running_mean, reference.running_mean)  # not updated
    y.sum().backward()
    assert x.grad is not None and safe.weight.grad is not None
