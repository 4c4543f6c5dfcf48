"""Regularisers that let a model learn *where* cancer is from labels on a thin strip only.

A registered label map labels the sampled strip (0/1) and leaves the rest of the image 255.
Partial cross-entropy on the strip alone says nothing about the unlabelled pixels, and models
trained on it tend to call most of the image cancer. Each regulariser here adds knowledge about
those pixels. Every one takes the main output's logits ``N×2×H×W``, the training target
``N×H×W`` (0/1/255) and the normalised input image ``N×C×H×W``, and returns a scalar that is
0 (with a graph) when it has nothing to say.

- :class:`GatedCRFLoss`: neighbouring pixels of similar intensity should take the same class
  (the Potts relaxation of Tang et al., ECCV 2018, in the local, gated form of Obukhov et al.,
  2019), on a downsampled grid and local windows so that it runs on a CPU.
- :class:`CompactnessPrior`: cancer seen along the strip belongs to one compact lesion, so
  unlabelled pixels far from the strip's cancer are weak negatives. The distance scale comes
  from the strip itself (the length of its cancer run), not from any lesion annotation.
- :class:`EntropyMinimisation`: confident predictions on unlabelled pixels (Grandvalet &
  Bengio, 2005).
- :class:`BoxPrior`: with weak region labels (``data.weak_labels``), the lesion crosses every
  row and column of its box and fills a good part of it (Kervadec et al., MIDL 2020).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bus_seg.errors import ConfigError
from bus_seg.labels import CANCER_LABEL, IGNORE_LABEL, WEAK_NEGATIVE_LABEL


def _zero(logits: torch.Tensor) -> torch.Tensor:
    return logits.sum() * 0.0


def _check_weight(weight: float, name: str) -> float:
    if not (math.isfinite(weight) and weight >= 0):
        raise ConfigError(f"{name} weight={weight} must be a finite number ≥ 0")
    return float(weight)


class GatedCRFLoss(nn.Module):
    """Local dense-CRF (Potts) loss on the class probabilities, averaged over pixel pairs.

    ``Σ_i Σ_{j ∈ W(i)} k_ij · (1 - ⟨p_i, p_j⟩)``, divided by the number of such ordered pairs,
    over every pixel ``i`` and each neighbour ``j ≠ i`` in a ``(2·radius+1)²`` window on a grid downsampled by ``downsample``,
    with ``k_ij = exp(-|x_i - x_j|² / 2σ_xy² - |I_i - I_j|² / 2σ_I²)`` (positions in downsampled
    pixels, intensities of the normalised image). For two classes ``1 - ⟨p_i, p_j⟩ = p_i + p_j -
    2 p_i p_j`` with ``p`` the cancer probability: zero when both pixels are certain and agree.
    Pairs that leave the image are gated out (Obukhov et al.).

    Args:
        weight: Factor of this term in the total loss.
        radius: Window half-size, in downsampled pixels.
        downsample: Integer factor of the average pooling applied to probabilities and image.
        sigma_xy: Spatial bandwidth, in downsampled pixels.
        sigma_intensity: Intensity bandwidth, in units of the normalised image.
    """

    def __init__(
        self,
        weight: float = 1.0,
        radius: int = 4,
        downsample: int = 2,
        sigma_xy: float = 3.0,
        sigma_intensity: float = 0.4,
    ) -> None:
        super().__init__()
        self.weight = _check_weight(weight, "GatedCRFLoss")
        if radius < 1 or downsample < 1 or sigma_xy <= 0 or sigma_intensity <= 0:
            raise ConfigError(
                f"GatedCRFLoss radius={radius} and downsample={downsample} must be ≥ 1, "
                f"sigma_xy={sigma_xy} and sigma_intensity={sigma_intensity} positive"
            )
        self.radius, self.downsample = radius, downsample
        self.sigma_xy, self.sigma_intensity = sigma_xy, sigma_intensity
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
        squared = offsets.view(-1, 1) ** 2 + offsets.view(1, -1) ** 2
        spatial = torch.exp(-squared / (2 * sigma_xy**2)).flatten()
        spatial[spatial.numel() // 2] = 0.0  # no self-pair
        self.register_buffer("spatial", spatial.view(1, -1, 1), persistent=False)

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, image: torch.Tensor
    ) -> torch.Tensor:
        prob = logits.float().softmax(dim=1)[:, CANCER_LABEL : CANCER_LABEL + 1]
        gray = image.float().mean(dim=1, keepdim=True)
        if self.downsample > 1:
            prob = F.avg_pool2d(prob, self.downsample, ceil_mode=True)
            gray = F.avg_pool2d(gray, self.downsample, ceil_mode=True)
        size = 2 * self.radius + 1
        inside = torch.ones_like(prob)
        # N×K×L: each column holds a pixel's window (K = size², L = pixels); 0 outside the image.
        p_j = F.unfold(prob, size, padding=self.radius)
        i_j = F.unfold(gray, size, padding=self.radius)
        gate = F.unfold(inside, size, padding=self.radius)
        p_i, i_i = prob.flatten(2), gray.flatten(2)
        intensity = torch.exp(-((i_i - i_j) ** 2) / (2 * self.sigma_intensity**2))
        kernel = self.spatial * intensity * gate
        disagreement = p_i + p_j - 2 * p_i * p_j
        pairs = gate.sum() - gate.shape[0] * gate.shape[2]  # every window holds its own centre
        return (kernel * disagreement).sum() / pairs.clamp_min(1.0)


class CompactnessPrior(nn.Module):
    """Weak negatives far from the strip's cancer: cancer is one compact lesion around it.

    Per image, the cancer pixels of the target (value 1) have a centre ``c`` and a half-length
    ``r`` (the largest distance of a cancer pixel from ``c``: half the cancer run along the
    strip); the labelled pixels have a half-length ``s`` (half the sampled strip). Unlabelled
    pixels (255) farther than ``max(radius_factor · r, strip_factor · s) + margin_px`` from ``c``
    are taken as non-cancer, with cross-entropy, averaged over those pixels. An image whose
    target has no cancer pixel adds nothing (nothing says where its lesion is).

    A lesion seen as a chord of length ``2r`` on the strip may be wider across than along, or
    crossed off-centre; ``radius_factor`` of 2 keeps a disk of the chord's full length around
    its centre. When the needle stops inside the lesion, the cancer run ends with the strip and
    underestimates the lesion: ``strip_factor`` keeps the disk at least as large as the strip.

    Args:
        weight: Factor of this term in the total loss.
        radius_factor: Disk radius in units of the half-length of the cancer run.
        strip_factor: Smallest disk radius in units of the half-length of the labelled strip.
        margin_px: Added to the radius, in pixels of the network input.
    """

    def __init__(
        self,
        weight: float = 1.0,
        radius_factor: float = 2.0,
        strip_factor: float = 1.0,
        margin_px: float = 4.0,
    ) -> None:
        super().__init__()
        self.weight = _check_weight(weight, "CompactnessPrior")
        if radius_factor <= 0 or strip_factor < 0 or margin_px < 0:
            raise ConfigError(
                f"CompactnessPrior radius_factor={radius_factor} must be positive, "
                f"strip_factor={strip_factor} and margin_px={margin_px} ≥ 0"
            )
        self.radius_factor, self.strip_factor = radius_factor, strip_factor
        self.margin_px = margin_px

    def outside(self, target: torch.Tensor) -> torch.Tensor:
        """N×H×W bool: the unlabelled pixels that the prior calls non-cancer."""
        n, h, w = target.shape
        ys = torch.arange(h, device=target.device, dtype=torch.float32).view(1, h, 1)
        xs = torch.arange(w, device=target.device, dtype=torch.float32).view(1, 1, w)
        cancer = (target == CANCER_LABEL).float()
        labelled = (target != IGNORE_LABEL).float()
        count = cancer.sum(dim=(1, 2))
        cy, cx = _centre(cancer, ys, xs)
        distance = torch.sqrt((ys - cy.view(n, 1, 1)) ** 2 + (xs - cx.view(n, 1, 1)) ** 2)
        half_length = (distance * cancer).amax(dim=(1, 2))
        sy, sx = _centre(labelled, ys, xs)
        from_strip = torch.sqrt((ys - sy.view(n, 1, 1)) ** 2 + (xs - sx.view(n, 1, 1)) ** 2)
        strip_half_length = (from_strip * labelled).amax(dim=(1, 2))
        radius = (
            torch.maximum(self.radius_factor * half_length, self.strip_factor * strip_half_length)
            + self.margin_px
        )
        far = distance > radius.view(n, 1, 1)
        return far & (target == IGNORE_LABEL) & (count > 0).view(n, 1, 1)

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, image: torch.Tensor
    ) -> torch.Tensor:
        weak = self.outside(target)
        if not weak.any():
            return _zero(logits)
        log_p_non_cancer = logits.float().log_softmax(dim=1)[:, 1 - CANCER_LABEL]
        return -(log_p_non_cancer * weak).sum() / weak.sum()


def _centre(
    weights: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image centroid (row, column) of N×H×W non-negative weights (0, 0 when all zero)."""
    total = weights.sum(dim=(1, 2)).clamp_min(1.0)
    return (weights * ys).sum(dim=(1, 2)) / total, (weights * xs).sum(dim=(1, 2)) / total


class EntropyMinimisation(nn.Module):
    """Mean Shannon entropy (in bits, so that it lies in [0, 1] for two classes) of the class
    probabilities over the unlabelled pixels (255); 0 when every pixel is labelled.

    Args:
        weight: Factor of this term in the total loss.
    """

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = _check_weight(weight, "EntropyMinimisation")

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, image: torch.Tensor
    ) -> torch.Tensor:
        unlabelled = target == IGNORE_LABEL
        if not unlabelled.any():
            return _zero(logits)
        log_p = logits.float().log_softmax(dim=1)
        entropy = -(log_p.exp() * log_p).sum(dim=1) / math.log(2.0)
        return (entropy * unlabelled).sum() / unlabelled.sum()


class BoxPrior(nn.Module):
    """Tightness and fill of the weak region: the lesion touches every row and column of its box.

    Needs weak region labels (``data.weak_labels``): the target's weak negatives (254) are the
    outside of each image's lesion box (or outline), so its inside is the pixels that are
    unlabelled (255) or strip cancer (1). Per image that has weak negatives, with ``p`` the
    cancer probability inside:

    - *tightness* (Kervadec et al., "Bounding boxes for weakly supervised segmentation: global
      constraints get close to full supervision", MIDL 2020, with bands one pixel wide): each row
      and each column of the inside holds at least one pixel of cancer, ``mean relu(1 - Σ p)``;
    - *fill*: a convex lesion that touches all four sides of its box covers at least half of
      it, so the mean of ``p`` inside falls short of ``min_fill`` at a cost
      ``relu(min_fill - mean p) / min_fill``.

    The term is their sum, averaged over the images with weak negatives; 0 when none has any.
    It receives the target with its weak negatives (:attr:`reads_weak_labels`).

    Args:
        weight: Factor of this term in the total loss.
        min_fill: Smallest expected fraction of the box that the lesion covers, in (0, 1].
    """

    reads_weak_labels = True

    def __init__(self, weight: float = 1.0, min_fill: float = 0.5) -> None:
        super().__init__()
        self.weight = _check_weight(weight, "BoxPrior")
        if not 0 < min_fill <= 1:
            raise ConfigError(f"BoxPrior min_fill={min_fill} must lie in (0, 1]")
        self.min_fill = float(min_fill)

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, image: torch.Tensor
    ) -> torch.Tensor:
        boxed = (target == WEAK_NEGATIVE_LABEL).flatten(1).any(dim=1)
        if not boxed.any():
            return _zero(logits)
        inside = ((target == IGNORE_LABEL) | (target == CANCER_LABEL))[boxed].float()
        prob = logits.float().softmax(dim=1)[boxed, CANCER_LABEL] * inside
        per_image = []
        for dim in (1, 2):  # rows (sum over columns), then columns (sum over rows)
            crossed = inside.amax(dim=dim) > 0
            shortfall = torch.relu(1.0 - prob.sum(dim=dim)) * crossed
            per_image.append(shortfall.sum(dim=1) / crossed.sum(dim=1).clamp_min(1))
        fill = prob.sum(dim=(1, 2)) / inside.sum(dim=(1, 2)).clamp_min(1.0)
        per_image.append(torch.relu(self.min_fill - fill) / self.min_fill)
        return torch.stack(per_image).sum(dim=0).mean()
