"""Native-resolution scoring: a hand-computed case whose native score differs from the network-size one.

The image is 64 rows × 32 columns; the network sees it at 32² (``LongestMaxSize`` halves it to
32×16, then 8 padding columns on each side). The strip is columns 10-11, cancer in rows 0-32,
non-cancer in rows 33-63.

- Network size (nearest downsampling keeps even rows and columns): one strip column (source column
  10), cancer rows 0-16 (17 rows), non-cancer rows 17-31. The prediction is cancer in rows 0-15:
  tp 16, fn 1, tn 15, Dice 32/33.
- Native size: the probability (1 in rows 0-15, 0 below) resized bilinearly to 64 rows exceeds 0.5
  in rows 0-31 (row y samples source row y/2 - 0.25). Two strip columns: tp 2·32 = 64,
  fn 2·1 (row 32), tn 2·31 = 62, Dice 128/130 = 64/65.
"""

from __future__ import annotations

import numpy as np
import pytest

from bus_seg.data.dataset import SegmentationDataset
from bus_seg.data.samples import SegmentationSample
from bus_seg.data.transforms import build_transform
from bus_seg.evaluation.callback import score_test_samples
from bus_seg.evaluation.native import content_box, native_sample, probability_to_native
from bus_seg.evaluation.per_image import per_image_table
from bus_seg.io.images import write_png
from bus_seg.training.eval_sample import EvalSample

I = 255  # noqa: E741


@pytest.fixture
def tall_case(tmp_path) -> SegmentationSample:
    image = np.full((64, 32), 120, np.uint8)
    labels = np.full((64, 32), I, np.uint8)
    labels[:, 10:12] = 0
    labels[:33, 10:12] = 1
    lesion = np.zeros((64, 32), np.uint8)
    lesion[:40, 4:20] = 1
    write_png(tmp_path / "image.png", image)
    write_png(tmp_path / "labels.png", labels)
    write_png(tmp_path / "lesion.png", lesion)
    return SegmentationSample(
        image_id="tall",
        patient_id="p1",
        image_path=tmp_path / "image.png",
        label_paths=(tmp_path / "labels.png",),
        spacing_mm=0.1,
        lesion_mask_path=tmp_path / "lesion.png",
    )


def network_prob() -> np.ndarray:
    prob = np.zeros((32, 32), np.float32)
    prob[:16, 8:24] = 1.0  # content rows 0-15; the padding columns stay 0
    return prob


def test_content_box_follows_the_pipeline() -> None:
    assert content_box((64, 32), 32) == (slice(0, 32), slice(8, 24))
    assert content_box((20, 40), 32) == (slice(8, 24), slice(0, 32))


def test_probability_goes_back_to_the_original_size() -> None:
    native = probability_to_native(network_prob(), (64, 32))
    assert native.shape == (64, 32)
    assert native[31].min() == pytest.approx(0.75) and native[32].max() == pytest.approx(0.25)
    assert ((native > 0.5).sum(axis=1) == np.r_[np.full(32, 32), np.zeros(32)]).all()


def test_native_score_differs_from_network_size_as_computed_by_hand(tall_case) -> None:
    served = SegmentationDataset([tall_case], build_transform("eval", 32))[0]
    net_label = served["label"].numpy().astype(np.uint8)
    expected = np.full((32, 32), I, np.uint8)
    expected[:, 13] = 0  # source column 10, shifted by 8 padding columns
    expected[:17, 13] = 1
    np.testing.assert_array_equal(net_label, expected)  # the hand-computed network-size labels
    prob = network_prob()
    net = EvalSample(
        "tall", "p1", np.zeros((32, 32), np.uint8), net_label, (prob > 0.5).astype(np.uint8), prob
    )
    net_scores = score_test_samples([net])
    assert net_scores["dice"].item() == pytest.approx(32 / 33)

    native = native_sample(net, tall_case)
    assert native.target.shape == native.pred.shape == native.lesion_mask.shape == (64, 32)
    assert native.spacing_mm == 0.1  # the image's own pixel size, not the network-size one
    row = per_image_table([native]).iloc[0]
    assert (row.tp, row.fn, row.fp, row.tn) == (64, 2, 0, 62)
    assert row.dice == pytest.approx(64 / 65)
    assert score_test_samples([native])["dice"].item() == pytest.approx(64 / 65)
    # prediction rows 0-31 × all 32 columns vs lesion rows 0-39 × columns 4-19 (16 columns)
    assert row.lesion_fp_px == 32 * 32 - 32 * 16
    assert row.lesion_fp_area_mm2 == pytest.approx((32 * 32 - 32 * 16) * 0.01)
    assert row.lesion_dice == pytest.approx(2 * 32 * 16 / (32 * 32 + 40 * 16))


def test_network_size_probability_must_be_square() -> None:
    with pytest.raises(ValueError, match="square"):
        probability_to_native(np.zeros((4, 8), np.float32), (8, 16))
