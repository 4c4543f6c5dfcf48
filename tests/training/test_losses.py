"""Losses on small hand-computed golden cases, with ignored (255) pixels and empty batches."""

from __future__ import annotations

import math

import pytest
import segmentation_models_pytorch as smp
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from bus_seg.errors import ConfigError
from bus_seg.paths import config_dir
from bus_seg.training.losses import CEDice, CrossEntropy, DiceLoss, FocalLoss, SegmentationLoss

I = 255  # noqa: E741  (ignore label, short for readable grids)


def logits_for(p_cancer: list[list[float]]) -> torch.Tensor:
    """Two-class logits 1×2×H×W whose softmax gives probability ``p_cancer`` to class 1."""
    p = torch.tensor(p_cancer, dtype=torch.float64)
    return torch.stack([torch.zeros_like(p), torch.log(p / (1 - p))]).unsqueeze(0)


def target_of(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long).unsqueeze(0)


# Pixel 1: p(cancer)=1/2, truth 0; pixel 2: p(cancer)=3/4, truth 1; pixel 3 ignored (confidently
# wrong, so counting it would change every loss).
P = logits_for([[0.5, 0.75, 0.001]])
T = target_of([[0, 1, I]])


def test_cross_entropy_golden() -> None:
    expected = (math.log(2) + math.log(4 / 3)) / 2
    assert CrossEntropy()(P, T).item() == pytest.approx(expected)


def test_weighted_cross_entropy_is_the_weighted_mean() -> None:
    expected = (1.0 * math.log(2) + 3.0 * math.log(4 / 3)) / (1.0 + 3.0)
    assert CrossEntropy(weight=[1.0, 3.0])(P, T).item() == pytest.approx(expected)
    reference = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 3.0]), ignore_index=I)
    logits = torch.randn(2, 2, 5, 5)
    target = torch.randint(0, 2, (2, 5, 5))
    target[0, :2] = I
    assert CrossEntropy(weight=[1.0, 3.0])(logits, target).item() == pytest.approx(
        reference(logits, target).item(), rel=1e-6
    )


def test_dice_golden_2x2() -> None:
    logits = logits_for([[0.5, 0.25], [0.75, 0.9]])
    target = target_of([[1, 0], [I, 1]])
    # valid pixels: p = .5 (t=1), .25 (t=0), .9 (t=1); intersection 1.4, Σp 1.65, Σt 2
    expected = 1 - (2 * 1.4 + 1) / (1.65 + 2 + 1)
    assert DiceLoss(smooth=1.0)(logits, target).item() == pytest.approx(expected)


def test_dice_penalises_cancer_probability_when_no_cancer_is_sampled() -> None:
    logits = logits_for([[0.5, 0.25], [0.75, 0.9]])
    target = target_of([[0, 0], [I, 0]])
    # valid p = .5, .25, .9 (the ignored .75 does not count); no truth: 1 - 1 / (Σp + 1)
    assert DiceLoss(smooth=1.0)(logits, target).item() == pytest.approx(1 - 1 / (1.65 + 1))


def test_dice_agrees_with_smp_when_the_batch_has_cancer() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 2, 6, 6)
    target = torch.randint(0, 2, (2, 6, 6))
    target[1, 3:] = I
    reference = smp.losses.DiceLoss("multiclass", classes=[1], smooth=0.0, ignore_index=I)
    assert DiceLoss(smooth=1e-6)(logits, target).item() == pytest.approx(
        reference(logits, target).item(), abs=1e-5
    )


def test_focal_golden_and_reduction_to_cross_entropy() -> None:
    # p_t = 1/2 (class 0) and 3/4 (class 1)
    expected = ((1 / 2) ** 2 * math.log(2) + (1 / 4) ** 2 * math.log(4 / 3)) / 2
    assert FocalLoss(gamma=2.0)(P, T).item() == pytest.approx(expected)
    alpha_expected = (0.75 * (1 / 2) ** 2 * math.log(2) + 0.25 * (1 / 4) ** 2 * math.log(4 / 3)) / 2
    assert FocalLoss(gamma=2.0, alpha=0.25)(P, T).item() == pytest.approx(alpha_expected)
    assert FocalLoss(gamma=0.0)(P, T).item() == pytest.approx(CrossEntropy()(P, T).item())


def test_ce_dice_sums_its_terms() -> None:
    loss = CEDice(ce_weight=2.0, dice_weight=0.5)(P, T)
    expected = 2.0 * CrossEntropy()(P, T) + 0.5 * DiceLoss()(P, T)
    assert loss.item() == pytest.approx(expected.item())


CRITERIA = [
    CrossEntropy(),
    CrossEntropy(weight=[1.0, 3.0]),
    DiceLoss(),
    CEDice(),
    FocalLoss(),
    FocalLoss(alpha=[0.3, 0.7]),
]


@pytest.mark.parametrize("criterion", CRITERIA, ids=lambda c: type(c).__name__)
def test_all_ignored_batch_gives_zero_with_a_graph(criterion: torch.nn.Module) -> None:
    logits = torch.randn(2, 2, 4, 4, requires_grad=True)
    loss = criterion(logits, torch.full((2, 4, 4), I))
    assert torch.isfinite(loss) and loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


@pytest.mark.parametrize("criterion", CRITERIA, ids=lambda c: type(c).__name__)
def test_gradients_reach_labelled_pixels_only(criterion: torch.nn.Module) -> None:
    torch.manual_seed(1)
    logits = torch.randn(2, 2, 4, 4, requires_grad=True)
    target = torch.randint(0, 2, (2, 4, 4))
    target[:, :2] = I
    criterion(logits, target).backward()
    ignored = (target == I).unsqueeze(1).expand_as(logits)
    assert torch.equal(logits.grad[ignored], torch.zeros(int(ignored.sum())))
    assert logits.grad[~ignored].abs().sum() > 0


def test_segmentation_loss_weights_the_aux_head() -> None:
    torch.manual_seed(2)
    out, aux = torch.randn(2, 2, 4, 4), torch.randn(2, 2, 4, 4)
    target = torch.randint(0, 2, (2, 4, 4))
    criterion = CrossEntropy()
    parts = SegmentationLoss(criterion, aux_weight=0.5)({"out": out, "aux": aux}, target)
    assert parts["loss_out"] == criterion(out, target)
    assert parts["loss_aux"] == criterion(aux, target)
    assert parts["loss"].item() == pytest.approx(
        (criterion(out, target) + 0.5 * criterion(aux, target)).item()
    )
    without_aux = SegmentationLoss(criterion)({"out": out}, target)
    assert set(without_aux) == {"loss", "loss_out"}
    assert without_aux["loss"] == parts["loss_out"]
    assert set(SegmentationLoss(criterion, aux_weight=0.0)({"out": out, "aux": aux}, target)) == {
        "loss",
        "loss_out",
    }


@pytest.mark.parametrize("config_name", ["ce", "dice", "ce_dice", "focal"])
def test_loss_configs_instantiate(config_name: str) -> None:
    cfg = OmegaConf.load(config_dir() / "loss" / f"{config_name}.yaml")
    loss = instantiate(cfg)
    assert isinstance(loss, SegmentationLoss) and loss.aux_weight == 0.5
    parts = loss({"out": P.float(), "aux": P.float()}, T)
    assert torch.isfinite(parts["loss"])


def test_class_weights_from_hydra_list_move_with_the_module() -> None:
    cfg = OmegaConf.create(
        {"_target_": "bus_seg.training.losses.CrossEntropy", "weight": [1.0, 2.0]}
    )
    criterion = instantiate(cfg).to(torch.float64)
    assert criterion.weight.dtype == torch.float64 and "weight" in criterion.state_dict()


@pytest.mark.parametrize(
    "build",
    [
        lambda: DiceLoss(smooth=0.0),
        lambda: FocalLoss(gamma=-1.0),
        lambda: FocalLoss(alpha=1.5),
        lambda: CrossEntropy(weight=[0.0, 0.0]),
        lambda: SegmentationLoss(CrossEntropy(), aux_weight=-1.0),
    ],
)
def test_bad_loss_settings_raise_config_error(build) -> None:
    with pytest.raises(ConfigError):
        build()
