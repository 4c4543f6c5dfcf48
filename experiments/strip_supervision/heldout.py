"""Whole-lesion Dice of trained checkpoints on held-out BUSI-style images, as ``bus-seg-predict``
would predict them: each image at its native resolution against the union of its masks.

Images that any of the runs trained or validated on (its ``split.csv`` subsets ``train``/``val``,
mapped to source images through the cohort manifest's ``source_image`` column) are left out, so
what remains was never seen in training or model selection. Each run is predicted from the
checkpoint that its ``metrics.json`` names ``best_checkpoint``.

    python experiments/strip_supervision/heldout.py --folder ../shared/data/busi \\
        --manifest .cache/bus_seg/cohorts/<digest>/manifest.csv \\
        --runs busi_strip=<run dir> busi_strip_roi=<run dir> busi_full=<run dir>
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from bus_seg.data.mask_folder import scan_mask_folder
from bus_seg.inference import Predictor
from bus_seg.io.manifest import read_manifest
from bus_seg.io.ultrasound import read_ultrasound_pixels
from bus_seg.training.metrics import scores_from_counts, stat_scores


def seen_sources(run_dir: Path, manifest: Path) -> set[str]:
    """Source images (``<class>/<file>``) of the run's training and validation cases."""
    source = {r.case_id: r.extra.get("source_image", "") for r in read_manifest(manifest).records}
    with open(run_dir / "split.csv", newline="") as handle:
        return {
            source[row["image_id"]]
            for row in csv.DictReader(handle)
            if row["subset"] in ("train", "val")
        }


def lesion_dice(pred: np.ndarray, mask: np.ndarray) -> float:
    """Dice of the predicted cancer against the whole lesion (every pixel labelled)."""
    counts = stat_scores(
        torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(mask.astype(np.int64))
    )
    return float(scores_from_counts(*counts)["dice"])


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--classes", nargs="+", default=["malignant"])
    parser.add_argument("--runs", nargs="+", required=True, help="name=run_dir")
    parser.add_argument(
        "--manifest",
        type=Path,
        required=True,
        help="the runs' cohort manifest (its source_image column)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    runs = dict(item.split("=", 1) for item in args.runs)
    seen = set().union(*(seen_sources(Path(run), args.manifest) for run in runs.values()))
    samples = [
        s
        for s in scan_mask_folder(args.folder, args.classes)
        if s.image_path.relative_to(args.folder).as_posix() not in seen
    ]
    result: dict = {"n_images": len(samples), "n_seen_excluded": len(seen), "runs": {}}
    for name, run in runs.items():
        document = json.loads((Path(run) / "metrics.json").read_text())
        predictor = Predictor.from_checkpoint(document["best_checkpoint"], device="cpu")
        dice = []
        for sample in samples:
            image = read_ultrasound_pixels(sample.image_path)
            pred = predictor.predict([image])[0].labels
            dice.append(lesion_dice(pred, sample.load_labels(image.shape)))
        valid = [d for d in dice if d == d]
        result["runs"][name] = {
            "checkpoint": document["best_checkpoint"],
            "per_image_mean_dice": statistics.fmean(valid),
            "n": len(valid),
        }
        print(
            f"{name}: whole-lesion Dice, per-image mean at native resolution = {statistics.fmean(valid):.4f} (n={len(valid)})"
        )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
