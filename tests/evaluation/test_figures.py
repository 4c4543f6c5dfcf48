"""Figures people read: titles inside the figure, labelled axes, run names that never collide."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bus_seg.evaluation import figures
from bus_seg.evaluation.figures import plot_confusion, plot_paired, wrap_label
from bus_seg.evaluation.report import Report

LONG_NAMES = [
    "busi_strip_roi / deeplabv3_resnet101",
    "busi_strip_roi / fcn_resnet101",
    "default_pipeline / smp.Unet with a very long suffix that goes on",
]


@pytest.fixture
def captured(monkeypatch):
    """The figure a plot function saves, drawn, instead of the file."""
    saved = {}

    def capture(figure, path, **kwargs):
        figure.canvas.draw()
        saved["figure"] = figure
        return path

    monkeypatch.setattr(figures, "save_figure", capture)
    return saved


def _inside(artist, figure) -> bool:
    box = artist.get_window_extent()
    width, height = figure.canvas.get_width_height()
    return box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height


def test_wrap_label_is_consistent() -> None:
    assert wrap_label("FCN-101") == "FCN-101"
    wrapped = wrap_label(LONG_NAMES[0])
    assert all(len(line) <= 16 for line in wrapped.split("\n"))
    assert wrapped.replace("\n", "").replace(" ", "") == LONG_NAMES[0].replace(" ", "")
    elided = wrap_label("x" * 30 + "A" + "y" * 30 + "B")
    assert "…" in elided and elided.endswith("B") and len(elided.split("\n")) <= 3


def test_paired_plot_labels_do_not_collide(captured, tmp_path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.random((5, 3)), columns=LONG_NAMES)
    plot_paired({"dice": frame, "lesion_dice": frame}, tmp_path / "p.png", title="paired")
    figure = captured["figure"]
    for ax in figure.axes:
        assert ax.get_xlabel() == "run" and ax.get_ylabel() in ("dice", "lesion_dice")
        boxes = [label.get_window_extent() for label in ax.get_xticklabels()]
        for left, right in zip(boxes, boxes[1:], strict=False):
            assert left.x1 <= right.x0, "neighbouring run names overlap"
        assert all(_inside(label, figure) for label in ax.get_xticklabels())


def test_confusion_title_fits(captured, tmp_path) -> None:
    counts = pd.DataFrame([[90, 10], [5, 45]], columns=["predicted non-cancer", "predicted cancer"])
    normalized = counts / counts.sum(axis=1).to_numpy()[:, None]
    title = f"{LONG_NAMES[2]}: pixel confusion (12 images, labelled pixels)"
    plot_confusion(counts, normalized, tmp_path / "c.png", title=title)
    figure = captured["figure"]
    assert _inside(figure._suptitle, figure)
    ax = figure.axes[0]
    assert ax.get_xlabel() == "Predicted" and ax.get_ylabel() == "Reference"


def test_gallery_images_are_shown_large_and_open_full_size() -> None:
    report = Report("r")
    report.images(["overlays/a.png"], ["a: strip Dice 0.9"])
    html = report.to_html()
    assert '<a href="overlays/a.png"' in html and "click to enlarge" in html
    assert ".gallery img{width:100%" in html
