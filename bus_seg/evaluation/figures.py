"""Summary figures: pixel confusion heatmap and per-image paired plot (matplotlib, no pyplot state)."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bus_seg.io.atomic import atomic_path

# Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}


def wrap_label(text: str, width: int = 16, max_lines: int = 3) -> str:
    """``text`` wrapped to lines of at most ``width`` characters, broken at spaces, ``/``, ``_``
    or ``-`` where possible; beyond ``max_lines`` the middle is elided with "…" (so two long
    names that differ only at the end stay distinguishable)."""
    text = str(text)
    limit = width * max_lines
    if len(text) > limit:
        keep = limit - 1
        text = text[: keep // 2] + "…" + text[-(keep - keep // 2) :]
    pieces = re.findall(r"[^ /_-]*[ /_-]?", text)
    lines: list[str] = []
    for piece in (p for p in pieces if p):
        while len(piece) > width:  # a piece longer than a line is cut
            if lines and len(lines[-1]) < width:
                room = width - len(lines[-1])
                lines[-1] += piece[:room]
                piece = piece[room:]
            else:
                lines.append(piece[:width])
                piece = piece[width:]
        if lines and len(lines[-1]) + len(piece) <= width:
            lines[-1] += piece
        elif piece:
            lines.append(piece)
    return "\n".join(line.strip() for line in lines)


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure with its own Agg canvas (safe in scripts, threads and headless runs)."""
    figure = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | Path, dpi: int = 120, compress_level: int = 6) -> Path:
    """Save ``figure`` as PNG atomically (``compress_level`` 0-9: zlib effort, 1 is fastest)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi, pil_kwargs={"compress_level": compress_level})
    return path


def plot_confusion(
    counts: pd.DataFrame, normalized: pd.DataFrame, path: str | Path, *, title: str
) -> Path:
    """Heatmap of a 2×2 confusion matrix: colour = row fraction, text = count and row percentage.

    Args:
        counts: confusion counts, rows = reference, columns = prediction.
        normalized: the same matrix normalised per row.
        path: PNG to write.
        title: figure title.
    """
    figure = new_figure(5.2, 4.2)
    ax = figure.add_subplot()
    fractions = normalized.to_numpy(dtype=float)
    cell_names = (("TN", "FP"), ("FN", "TP")) if fractions.shape == (2, 2) else None
    image = ax.imshow(np.nan_to_num(fractions), cmap="Blues", vmin=0.0, vmax=1.0)
    for row in range(fractions.shape[0]):
        for col in range(fractions.shape[1]):
            fraction = fractions[row, col]
            percent = "n/a" if np.isnan(fraction) else f"{100 * fraction:.1f}%"
            name = f"{cell_names[row][col]} " if cell_names else ""
            ax.text(
                col,
                row,
                f"{name}{int(counts.iat[row, col]):,}\n({percent} of row)",
                ha="center",
                va="center",
                fontsize=11,
                color="white" if np.nan_to_num(fraction) > 0.55 else "black",
            )
    class_names = [str(name).split(" ", 1)[-1] for name in counts.columns]
    ax.set_xticks(range(len(class_names)), class_names)
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("Reference")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of reference row")
    # wrapped to the figure's width, so a long run name never runs off either side
    figure.suptitle(textwrap.fill(title, width=52), fontsize=11)
    figure.tight_layout()
    return save_figure(figure, path)


def plot_paired(values: Mapping[str, pd.DataFrame], path: str | Path, *, title: str) -> Path:
    """Per-image paired plot: one panel per metric, one line per image across the runs.

    Run names are wrapped (and, beyond three lines, elided in the middle) by :func:`wrap_label`,
    the same way in every panel, so that long names never collide.

    Args:
        values: metric name -> DataFrame indexed by image id with one column per run.
        path: PNG to write.
        title: figure title.
    """
    n_panels = len(values)
    n_cols = min(3, n_panels)
    n_rows = -(-n_panels // n_cols)
    first = next(iter(values.values()))
    labels = [wrap_label(column) for column in first.columns]
    label_lines = max(label.count("\n") + 1 for label in labels)
    width = max(3.2, 1.35 * first.shape[1] + 1.2)
    panel_height = 3.2 + 0.2 * label_lines
    figure = new_figure(width * n_cols, panel_height * n_rows + 0.7)
    for index, (metric, frame) in enumerate(values.items()):
        ax = figure.add_subplot(n_rows, n_cols, index + 1)
        positions = np.arange(frame.shape[1])
        data = frame.to_numpy(dtype=float)
        for row in data:
            ax.plot(
                positions, row, color="0.55", alpha=0.5, linewidth=0.8, marker="o", markersize=3
            )
        means = (
            np.nanmean(data, axis=0) if np.isfinite(data).any() else np.full(len(positions), np.nan)
        )
        ax.plot(
            positions,
            means,
            color=OKABE_ITO["vermillion"],
            linewidth=2.2,
            marker="D",
            markersize=7,
            label="mean",
            zorder=3,
        )
        ax.set_xticks(positions, labels, fontsize=8)
        ax.set_xlim(-0.4, positions[-1] + 0.4)
        ax.set_xlabel("run")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} (n={int(np.isfinite(data).all(axis=1).sum())} images)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        if index == 0:
            ax.legend(loc="best", fontsize=8)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return save_figure(figure, path)
