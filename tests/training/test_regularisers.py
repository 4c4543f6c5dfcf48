"""Strip-label regularisers on small hand-computed cases: values, gradients, ignored pixels."""

from __future__ import annotations

import math

import pytest
import torch

from bus_seg.errors import ConfigError
from bus_seg.training.losses import CrossEntropy, SegmentationLoss
from bus_seg.training.regularisers import (
    BoxPrior,
    CompactnessPrior,
    EntropyMinimisation,
    GatedCRFLoss,
)

I = 255  # noqa: E741  (ignore label)


def logits_for(p_cancer: list[list[float]]) -> torch.Tensor:
    """1×2×H×W logits whose softmax gives probability ``p_cancer`` to class 1 (with grad)."""
    p = torch.tensor(p_cancer, dtype=torch.float64)
    logits = torch.stack([torch.zeros_like(p), torch.log(p / (1 - p))]).unsqueeze(0)
    return logits.requires_grad_(True)


def target_of(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long).unsqueeze(0)


def test_gated_crf_two_pixels_value_and_gradient() -> None:
    # Two neighbours, intensities 0 and 0.5: k = exp(-1/(2·σxy²)) · exp(-0.25/(2·σI²)).
    p1, p2, sigma_xy, sigma_i = 0.2, 0.9, 2.0, 0.5
    logits = logits_for([[p1, p2]])
    image = torch.tensor([[[[0.0, 0.5]]]], dtype=torch.float64)
    crf = GatedCRFLoss(radius=1, downsample=1, sigma_xy=sigma_xy, sigma_intensity=sigma_i)
    value = crf(logits, target_of([[I, I]]), image)
    k = math.exp(-1 / (2 * sigma_xy**2)) * math.exp(-0.25 / (2 * sigma_i**2))
    disagreement = p1 + p2 - 2 * p1 * p2
    # Two ordered pairs (1→2, 2→1), each k·disagreement, averaged over the two pairs.
    assert value.item() == pytest.approx(k * disagreement, rel=1e-6)
    value.backward()
    # d/dp1 = k·(1 - 2·p2); dp1/dlogit1 = p1·(1 - p1) (the class-0 logit gets the opposite).
    expected = k * (1 - 2 * p2) * p1 * (1 - p1)
    assert logits.grad[0, 1, 0, 0].item() == pytest.approx(expected, rel=1e-5)
    assert logits.grad[0, 0, 0, 0].item() == pytest.approx(-expected, rel=1e-5)


def test_gated_crf_is_zero_for_confident_agreement_and_ignores_labels() -> None:
    logits = torch.full((1, 2, 6, 6), -30.0, dtype=torch.float64)
    logits[:, 0] = 30.0  # every pixel certainly non-cancer
    image = torch.rand(1, 1, 6, 6, dtype=torch.float64)
    crf = GatedCRFLoss(radius=2, downsample=1)
    assert crf(logits, torch.full((1, 6, 6), I), image).item() == pytest.approx(0.0, abs=1e-12)
    # The target does not enter the CRF term: labelled or not, the same value.
    random_logits = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    a = crf(random_logits, torch.full((1, 6, 6), I), image)
    b = crf(random_logits, torch.zeros(1, 6, 6, dtype=torch.long), image)
    assert a.item() == pytest.approx(b.item())


def test_gated_crf_prefers_cuts_along_intensity_edges() -> None:
    image = torch.zeros(1, 1, 8, 8)
    image[..., 4:] = 3.0  # a strong vertical edge between columns 3 and 4
    crf = GatedCRFLoss(radius=2, downsample=1, sigma_intensity=0.5)
    right, bottom = torch.zeros(8, 8), torch.zeros(8, 8)
    right[:, 4:], bottom[4:, :] = 1.0, 1.0
    along_edge = torch.stack([20 * (1 - right), 20 * right]).unsqueeze(0)
    across_edge = torch.stack([20 * (1 - bottom), 20 * bottom]).unsqueeze(0)
    target = torch.full((1, 8, 8), I)
    assert crf(along_edge, target, image) < 0.1 * crf(across_edge, target, image)


def test_compactness_prior_hand_computed() -> None:
    # One row: cancer at x = 2..4 (centre 3, half-length 1). radius = 1·1 + 0.5 = 1.5, so the
    # unlabelled pixels at x = 0 and x = 6 (distance 3) are weak negatives; x = 1 and 5 are
    # labelled non-cancer (not the prior's business), x = 7 is labelled too.
    probs = [[0.3, 0.5, 0.9, 0.9, 0.9, 0.5, 0.6, 0.1]]
    target = target_of([[I, 0, 1, 1, 1, 0, I, 0]])
    prior = CompactnessPrior(radius_factor=1.0, strip_factor=0.0, margin_px=0.5)
    assert prior.outside(target)[0, 0].tolist() == [True] + [False] * 5 + [True, False]
    logits = logits_for(probs)
    value = prior(logits, target, torch.zeros(1, 1, 1, 8))
    assert value.item() == pytest.approx(-(math.log(0.7) + math.log(0.4)) / 2)
    value.backward()
    # d(-log(1-p))/dlogit_cancer = p; averaged over the 2 pixels.
    assert logits.grad[0, 1, 0, 0].item() == pytest.approx(0.3 / 2)
    assert logits.grad[0, 1, 0, 6].item() == pytest.approx(0.6 / 2)
    assert logits.grad[0, 1, 0, 3].item() == 0.0


def test_compactness_prior_says_nothing_without_cancer_on_the_strip() -> None:
    logits = logits_for([[0.3, 0.9, 0.5]])
    value = CompactnessPrior()(logits, target_of([[0, 0, I]]), torch.zeros(1, 1, 1, 3))
    assert value.item() == 0.0
    value.backward()
    assert torch.count_nonzero(logits.grad) == 0


def test_entropy_hand_computed_over_unlabelled_pixels_only() -> None:
    logits = logits_for([[0.5, 0.1, 0.999]])
    value = EntropyMinimisation()(logits, target_of([[I, I, 1]]), torch.zeros(1, 1, 1, 3))
    h01 = -(0.1 * math.log2(0.1) + 0.9 * math.log2(0.9))
    assert value.item() == pytest.approx((1.0 + h01) / 2)
    value.backward()
    # At p = 0.5 the entropy is maximal: zero gradient; the labelled pixel gets none either.
    assert logits.grad[0, 1, 0, 0].item() == pytest.approx(0.0, abs=1e-9)
    assert logits.grad[0, 1, 0, 2].item() == 0.0


def test_segmentation_loss_adds_weighted_regularisers() -> None:
    logits = logits_for([[0.2, 0.7, 0.4]])
    target = target_of([[0, 1, I]])
    image = torch.zeros(1, 1, 1, 3, dtype=torch.float64)
    entropy = EntropyMinimisation(weight=0.25)
    loss = SegmentationLoss(CrossEntropy(), regularisers={"entropy": entropy})
    parts = loss({"out": logits}, target, image)
    expected_ce = -(math.log(0.8) + math.log(0.7)) / 2
    assert parts["loss_out"].item() == pytest.approx(expected_ce)
    assert parts["loss"].item() == pytest.approx(expected_ce + 0.25 * parts["loss_entropy"].item())
    with pytest.raises(ConfigError, match="need the input image"):
        loss({"out": logits}, target)


def test_weak_negatives_have_their_own_mean_and_are_unlabelled_for_the_rest() -> None:
    # Pixels: strip non-cancer (p=0.2), strip cancer (p=0.7), then three weak negatives (254).
    W = 254
    logits = logits_for([[0.2, 0.7, 0.4, 0.1, 0.3]])
    target = target_of([[0, 1, W, W, W]])
    image = torch.zeros(1, 1, 1, 5, dtype=torch.float64)
    entropy = EntropyMinimisation()
    parts = SegmentationLoss(CrossEntropy(), regularisers={"e": entropy}, weak_weight=0.5)(
        {"out": logits}, target, image
    )
    expected_ce = -(math.log(0.8) + math.log(0.7)) / 2  # the strip only
    expected_weak = -(math.log(0.6) + math.log(0.9) + math.log(0.7)) / 3
    assert parts["loss_out"].item() == pytest.approx(expected_ce)
    assert parts["loss_weak"].item() == pytest.approx(expected_weak)
    # The regularisers see the weak pixels as unlabelled: entropy over those three pixels.
    assert parts["loss_e"].item() == pytest.approx(
        entropy(logits, target_of([[0, 1, I, I, I]]), image).item()
    )
    total = expected_ce + parts["loss_e"].item() + 0.5 * expected_weak
    assert parts["loss"].item() == pytest.approx(total)


def test_box_prior_hand_computed_value_and_gradient() -> None:
    # A 4×4 image whose box is the central 2×2 (the rest weak negatives, 254), p = 0.25 inside.
    # Rows: each sums to 0.5, shortfall 0.5; columns likewise; fill 0.25 against min_fill 0.5
    # costs (0.5 - 0.25) / 0.5 = 0.5. Total 0.5 + 0.5 + 0.5 = 1.5.
    W = 254
    p = [[0.1, 0.1, 0.1, 0.1], [0.1, 0.25, 0.25, 0.1], [0.1, 0.25, 0.25, 0.1], [0.1] * 4]
    logits = logits_for(p)
    target = target_of([[W, W, W, W], [W, I, I, W], [W, I, I, W], [W, W, W, W]])
    value = BoxPrior(min_fill=0.5)(logits, target, torch.zeros(1, 1, 4, 4))
    assert value.item() == pytest.approx(1.5)
    value.backward()
    # d/dp of an inside pixel: -1/2 (its row, mean of 2) - 1/2 (its column) - 1/(4·0.5) (fill)
    # = -1.5; dp/dlogit = p(1 - p) = 0.1875. Outside pixels get nothing.
    assert logits.grad[0, 1, 1, 1].item() == pytest.approx(-1.5 * 0.1875)
    assert logits.grad[0, 0, 1, 1].item() == pytest.approx(1.5 * 0.1875)
    assert logits.grad[0, :, 0, :].abs().max().item() == 0.0


def test_box_prior_counts_strip_cancer_inside_skips_strip_non_cancer_and_boxless_images() -> None:
    W = 254
    # Row 0 of the box is strip non-cancer (0): not inside, so only row 1 is crossed; its strip
    # cancer pixel (1) is inside. p = 0.5 on the cancer pixel and 0.6 on its unlabelled
    # neighbour: row 1 sums to 1.1 (no shortfall); columns 0.5 and 0.6 fall short by 0.5 and
    # 0.4 (mean 0.45); fill 0.55 ≥ 0.5. A second image with no weak negatives adds nothing.
    logits = torch.cat([logits_for([[0.3, 0.3, 0.9], [0.5, 0.6, 0.9]])] * 2)
    target = torch.cat([target_of([[0, 0, W], [1, I, W]]), target_of([[0, 0, I], [1, I, I]])])
    box = BoxPrior(min_fill=0.5)
    assert box(logits, target, torch.zeros(2, 1, 2, 3)).item() == pytest.approx(0.45)
    value = box(logits[1:], target[1:], torch.zeros(1, 1, 2, 3))
    assert value.item() == 0.0 and value.requires_grad


def test_segmentation_loss_gives_the_box_prior_the_weak_negatives() -> None:
    W = 254
    logits = logits_for([[0.2, 0.4, 0.3]])
    target = target_of([[W, I, W]])
    box = BoxPrior(min_fill=0.5)
    parts = SegmentationLoss(CrossEntropy(), regularisers={"box": box})(
        {"out": logits}, target, torch.zeros(1, 1, 1, 3)
    )
    # One inside pixel, p = 0.4: row short by 0.6, column by 0.6, fill by 0.1/0.5 = 0.2.
    assert parts["loss_box"].item() == pytest.approx(1.4)


@pytest.mark.parametrize(
    "build",
    [
        lambda: GatedCRFLoss(radius=0),
        lambda: GatedCRFLoss(sigma_intensity=0),
        lambda: CompactnessPrior(radius_factor=0),
        lambda: EntropyMinimisation(weight=-1),
        lambda: CompactnessPrior(weight=float("nan")),
        lambda: BoxPrior(min_fill=0),
        lambda: BoxPrior(min_fill=1.5),
    ],
)
def test_bad_settings_are_config_errors(build) -> None:
    with pytest.raises(ConfigError):
        build()


def test_compactness_prior_disk_is_at_least_the_strip_when_the_needle_stops_in_the_lesion() -> None:
    # Row 1 holds the strip, x = 0..8 (centre x = 4, half-length 4); its cancer run is only the
    # last pixel (x = 8: the needle tip stopped in the lesion), half-length 0. With strip_factor 1
    # the radius around (1, 8) is max(2·0, 1·4) + 0 = 4: (1, 12) at distance 4 stays free, (0, 3)
    # at distance 5.1 is a weak negative. Without the strip floor the radius is 0.
    target = torch.full((1, 3, 13), I)
    target[0, 1, :9] = 0
    target[0, 1, 8] = 1
    far = CompactnessPrior(radius_factor=2.0, strip_factor=1.0, margin_px=0.0).outside(target)[0]
    assert far[1, 12].item() is False and far[0, 3].item() is True
    assert not far[1, :9].any(), "labelled strip pixels are never the prior's"
    no_floor = CompactnessPrior(radius_factor=2.0, strip_factor=0.0, margin_px=0.0).outside(target)
    assert no_floor[0, 1, 12].item() is True


def test_unknown_loss_option_names_the_options() -> None:
    from bus_seg.cli.command_line import check_overrides

    with pytest.raises(ConfigError, match=r"loss=crf is not an option of loss; .*ce_crf"):
        check_overrides("train", ["loss=crf"], "bus-seg-train")
