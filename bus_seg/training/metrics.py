"""Segmentation metrics from one confusion matrix per split, plus per-image scores.

Every figure derives from binary stat scores (tp, fp, tn, fn) of the cancer class, computed by
torchmetrics over labelled pixels only (``ignore_index`` = 255 is dropped):

- **pooled** metrics sum the counts over every labelled pixel of the split, then take the ratio;
- **per-image** metrics take the ratio per image, then average over images (``nanmean``).

Empty-image rules (per image; pooled ratios follow the same rules on the summed counts):

- every ratio: NaN when the image has no labelled pixel (nothing to score; left out of per-image
  means, never scored as perfect);
- ``dice`` and ``iou``: 1.0 when the image has labelled pixels but neither truth nor prediction
  has a cancer pixel among them (perfect agreement);
- ``recall``: NaN when the truth has no cancer pixel (undefined; left out of per-image means);
- ``precision``: NaN when nothing is predicted cancer;
- ``specificity``: NaN when the truth has no non-cancer pixel;
- ``pixel_acc``: NaN when the image has no labelled pixel;
- ``balanced_acc`` (mean of recall and specificity): NaN when either is NaN.

These rules live in :func:`scores_from_counts` only: the logged metrics, the test scores and the
evaluation's per-image table all call it, so an image has one value everywhere.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.functional.classification import binary_stat_scores

from bus_seg.labels import IGNORE_LABEL

METRIC_NAMES = ("pixel_acc", "dice", "iou", "recall", "precision", "specificity", "balanced_acc")
PER_IMAGE_LOGGED = ("dice", "recall", "pixel_acc")


def stat_scores(
    pred: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_LABEL
) -> torch.Tensor:
    """Count (tp, fp, tn, fn) of the cancer class over labelled pixels.

    Args:
        pred: predicted labels (0/1), H×W for one image or N×H×W for a batch.
        target: reference labels (0/1, ``ignore_index`` = not labelled), same shape.
        ignore_index: label value left out of every count.

    Returns:
        LongTensor of shape (4,) for one image or (N, 4) for a batch: tp, fp, tn, fn.
    """
    if pred.shape != target.shape:
        raise ValueError(
            f"prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}"
        )
    batched = pred.ndim == 3
    pred_b = pred if batched else pred.unsqueeze(0)
    target_b = target if batched else target.unsqueeze(0)
    # torchmetrics squeezes a one-sample "samplewise" result to 1-D, so one image goes "global".
    average = "samplewise" if pred_b.shape[0] > 1 else "global"
    scores = binary_stat_scores(
        pred_b.long(),
        target_b.long(),
        multidim_average=average,
        ignore_index=ignore_index,
        validate_args=False,
    ).reshape(pred_b.shape[0], 5)[:, :4]
    return scores if batched else scores[0]


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor, empty: float) -> torch.Tensor:
    numerator, denominator = numerator.double(), denominator.double()
    safe = torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    return torch.where(denominator > 0, numerator / safe, torch.full_like(numerator, empty))


def scores_from_counts(
    tp: torch.Tensor, fp: torch.Tensor, tn: torch.Tensor, fn: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Ratios of the cancer class from stat scores, with the module's empty-image rules.

    Scalars or 1-D tensors (one entry per image); an entry without labelled pixel is NaN in every
    ratio.
    """
    nan = float("nan")
    scores = {
        "pixel_acc": _ratio(tp + tn, tp + fp + tn + fn, nan),
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, 1.0),
        "iou": _ratio(tp, tp + fp + fn, 1.0),
        "recall": _ratio(tp, tp + fn, nan),
        "precision": _ratio(tp, tp + fp, nan),
        "specificity": _ratio(tn, tn + fp, nan),
    }
    # Mean of recall and specificity: calling every pixel cancer scores 0.5 however good its
    # Dice, so it is the model-selection value of strip-labelled runs. NaN when either is.
    scores["balanced_acc"] = (scores["recall"] + scores["specificity"]) / 2
    unlabelled = (tp + fp + tn + fn) == 0
    return {
        name: torch.where(unlabelled, torch.full_like(value, nan), value)
        for name, value in scores.items()
    }


class SegmentationMetrics(Metric):
    """Pooled and per-image metrics of one split, DDP-safe (counts summed, per-image rows gathered).

    ``compute()`` returns ``{name: value}`` for every pooled metric in :data:`METRIC_NAMES` and
    ``per_image_<name>`` (mean over images, NaN images skipped) for :data:`PER_IMAGE_LOGGED`.
    """

    full_state_update = False

    def __init__(self, ignore_index: int = IGNORE_LABEL) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.add_state("counts", default=torch.zeros(4, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("image_counts", default=[], dist_reduce_fx="cat")

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch of N×H×W predicted labels and reference labels."""
        batch_counts = stat_scores(pred, target, self.ignore_index)
        self.counts += batch_counts.sum(dim=0)
        self.image_counts.append(batch_counts)

    def compute(self) -> dict[str, torch.Tensor]:
        pooled = scores_from_counts(*self.counts)
        result = {name: pooled[name].float() for name in METRIC_NAMES}
        image_counts = self.image_counts
        if isinstance(image_counts, list):
            image_counts = (
                torch.cat(image_counts) if image_counts else torch.zeros(0, 4, dtype=torch.long)
            )
        per_image = scores_from_counts(*image_counts.T)
        for name in PER_IMAGE_LOGGED:
            result[f"per_image_{name}"] = torch.nanmean(per_image[name]).float()
        return result
