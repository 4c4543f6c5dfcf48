"""Inference latency per image on the CPU: eager fp32 vs channels-last, bf16 autocast, both, and
ONNX Runtime, for fcn_resnet101 and deeplabv3_resnet101, with the agreement of every variant's
label maps with eager's.

The backends are those of ``bus-seg-predict`` (:class:`bus_seg.inference.TorchRunner` and
:class:`bus_seg.inference.OnnxRunner`, the model exported by :func:`bus_seg.inference.export_onnx`),
each on its own copy of one network, on ``--threads`` threads (PyTorch and ONNX Runtime alike).
Inputs are BUSI malignant images (``$BUS_SEG_DATA/busi``; seeded noise images when it is absent)
preprocessed as the predictor does (letterboxed to ``--size``²). One image per forward pass; each
variant runs once per image, the order rotating from image to image, after ``--warmup`` passes
each. Latency is the runner call (input to float32 logits); label maps are compared with eager's
at the image's original size (pixel agreement, Dice of the cancer class between the two maps,
largest logit difference).

Without ``--ckpt`` the networks are randomly initialised (no weights are downloaded): the speed is
that of the trained model, the label maps are not meaningful, only their agreement. With
``--ckpt`` (a ``bus-seg-train`` checkpoint), that model is timed on its test set instead, and
every variant's test Dice against the labels is reported next to eager's.

Target: a variant ≥ 1.5× faster than eager (median latency) with no loss of Dice (label maps
agreeing with eager's on ≥ 99 % of pixels; with ``--ckpt``, test Dice within 0.01 of eager's).

    python experiments/benchmarks/inference_latency/run.py                 # both ResNet-101 models, 512²
    python experiments/benchmarks/inference_latency/run.py --ckpt logs/train/runs/<run>/checkpoints/last.ckpt
    python experiments/benchmarks/inference_latency/run.py --quick
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from recording import (  # noqa: E402
    BenchmarkRecord,
    default_out_dir,
    markdown_table,
    median,
    use_threads,
    verdict,
)

from bus_seg.config import compose_config  # noqa: E402
from bus_seg.data.mask_folder import scan_mask_folder  # noqa: E402
from bus_seg.inference import (  # noqa: E402
    LogitsOnly,
    OnnxRunner,
    Preprocessing,
    Preprocessor,
    TorchRunner,
    export_onnx,
    load_trained_net,
    restore_size,
)
from bus_seg.io.ultrasound import read_ultrasound  # noqa: E402
from bus_seg.paths import shared_data_root  # noqa: E402
from bus_seg.training.metrics import scores_from_counts, stat_scores  # noqa: E402

TARGET_SPEEDUP = 1.5
MIN_AGREEMENT = 0.99
DICE_TOLERANCE = 0.01
TORCH_VARIANTS = {
    "eager": (False, "32"),
    "channels_last": (True, "32"),
    "bf16": (False, "bf16"),
    "channels_last_bf16": (True, "bf16"),
}
VARIANTS = (*TORCH_VARIANTS, "onnx")
CPU = torch.device("cpu")
QUICK = {"models": ["tiny"], "size": 64, "images": 2, "warmup": 1}


@dataclass
class Case:
    """One network input, where it sits in its image, and its reference labels if known."""

    image_id: str
    batch: torch.Tensor
    restore: Callable[[torch.Tensor], torch.Tensor]
    truth: torch.Tensor | None = None


def busi_cases(preprocessing: Preprocessing, n: int, seed: int) -> tuple[list[Case], str]:
    """The first ``n`` BUSI malignant images (sorted), or seeded noise images without the data."""
    preprocessor = Preprocessor(preprocessing)
    root = shared_data_root() / "busi"
    if root.is_dir():
        samples = scan_mask_folder(root, ["malignant"])[:n]
        images = [(s.image_id, read_ultrasound(s.image_path).pixels) for s in samples]
        source = f"BUSI malignant ({root})"
    else:
        rng = np.random.default_rng(seed)
        images = [(f"noise{i}", rng.integers(0, 256, (480, 600), dtype=np.uint8)) for i in range(n)]
        source = "seeded noise 480×600 (no BUSI folder found)"
    cases = []
    for image_id, pixels in images:
        batch, box = preprocessor(pixels)
        cases.append(Case(image_id, batch[None], lambda logits, box=box: restore_size(logits, box)))
    return cases, source


def checkpoint_test_cases(config: dict[str, Any], limit: int | None) -> tuple[list[Case], str]:
    """The test images of a checkpoint's run, one per case, at the network's input size."""
    datamodule = instantiate(OmegaConf.create(config["data"]))
    datamodule.setup("test")
    cases = []
    for batch in datamodule.test_dataloader():
        for i, image_id in enumerate(batch["image_id"]):
            cases.append(
                Case(image_id, batch["image"][i : i + 1], lambda logits: logits, batch["label"][i])
            )
    source = f"test set of the checkpoint's run ({len(cases)} images)"
    return (cases[:limit] if limit else cases), source


def build_runners(
    net: nn.Module, preprocessing: Preprocessing, threads: int, work: Path
) -> tuple[dict[str, Any], float]:
    """One runner per variant, each on its own copy of ``net``; and the ONNX export time."""
    runners: dict[str, Any] = {
        name: TorchRunner(copy.deepcopy(net), CPU, channels_last, precision)
        for name, (channels_last, precision) in TORCH_VARIANTS.items()
    }
    start = time.perf_counter()
    path = export_onnx(copy.deepcopy(net), work / "model.onnx", preprocessing)
    export_s = time.perf_counter() - start
    runners["onnx"] = OnnxRunner(path, threads=threads)
    return runners, export_s


def time_variants(
    runners: dict[str, Any], cases: list[Case], warmup: int
) -> dict[str, dict[str, Any]]:
    """Latencies and full-size logits of every variant on every case (rotating order)."""
    for runner in runners.values():
        for _ in range(warmup):
            runner(cases[0].batch)
    names = list(runners)
    results: dict[str, dict[str, Any]] = {name: {"latency_s": [], "logits": []} for name in names}
    for i, case in enumerate(cases):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            start = time.perf_counter()
            logits = runners[name](case.batch)
            results[name]["latency_s"].append(time.perf_counter() - start)
            results[name]["logits"].append(case.restore(logits[0]))
        print(
            f"  image {i + 1}/{len(cases)} ({case.image_id}): "
            + ", ".join(f"{n} {results[n]['latency_s'][-1]:.2f} s" for n in names),
            flush=True,
        )
    return results


def dice_of(pred: Sequence[torch.Tensor], reference: Sequence[torch.Tensor]) -> float:
    """Pooled cancer Dice of label maps against reference labels (255 ignored)."""
    counts = torch.stack([stat_scores(p, r) for p, r in zip(pred, reference, strict=True)]).sum(
        dim=0
    )
    return float(scores_from_counts(*counts)["dice"])


def summarise(results: dict[str, dict[str, Any]], cases: list[Case]) -> dict[str, Any]:
    eager = results["eager"]
    eager_median = median(eager["latency_s"])
    with_truth = all(c.truth is not None for c in cases)
    figures: dict[str, Any] = {}
    for name, result in results.items():
        labels = [x.argmax(dim=0) for x in result["logits"]]
        reference = [x.argmax(dim=0) for x in eager["logits"]]
        agree = sum(int((a == b).sum()) for a, b in zip(labels, reference, strict=True)) / sum(
            a.numel() for a in labels
        )
        entry = {
            "latency_s": result["latency_s"],
            "latency_s_median": median(result["latency_s"]),
            "latency_s_min": min(result["latency_s"]),
            "speedup_vs_eager": eager_median / median(result["latency_s"]),
            "speedup_vs_eager_per_image_median": median(
                [e / v for e, v in zip(eager["latency_s"], result["latency_s"], strict=True)]
            ),
            "pixel_agreement_with_eager": agree,
            "dice_with_eager": dice_of(labels, reference),
            "max_abs_logit_diff": max(
                float((a - b).abs().max())
                for a, b in zip(result["logits"], eager["logits"], strict=True)
            ),
        }
        if with_truth:
            entry["test_dice"] = dice_of(labels, [c.truth for c in cases])
        figures[name] = entry
    eager_dice = figures["eager"].get("test_dice")
    for entry in figures.values():
        no_loss = (
            entry["test_dice"] >= eager_dice - DICE_TOLERANCE
            if with_truth
            else entry["pixel_agreement_with_eager"] >= MIN_AGREEMENT
        )
        entry["no_loss_of_dice"] = bool(no_loss)
        entry["meets_target"] = bool(no_loss and entry["speedup_vs_eager"] >= TARGET_SPEEDUP)
    return figures


def measure_model(
    label: str,
    net: nn.Module,
    preprocessing: Preprocessing,
    cases: list[Case],
    args: argparse.Namespace,
    work: Path,
) -> dict[str, Any]:
    runners, export_s = build_runners(net, preprocessing, args.threads, work)
    print(f"{label}: ONNX export {export_s:.1f} s", flush=True)
    results = time_variants(runners, cases, args.warmup)
    eager_logits = results["eager"]["logits"]
    figures = summarise(results, cases)
    return {
        "onnx_export_s": export_s,
        "parameters_millions": sum(p.numel() for p in LogitsOnly(copy.deepcopy(net)).parameters())
        / 1e6,
        "eager_cancer_fraction": float(
            np.mean([float((x.argmax(dim=0) == 1).float().mean()) for x in eager_logits])
        ),
        "eager_max_abs_logit": max(float(x.abs().max()) for x in eager_logits),
        "variants": figures,
        "best_variant": max(
            figures,
            key=lambda v: figures[v]["speedup_vs_eager"] if figures[v]["no_loss_of_dice"] else 0.0,
        ),
        "meets_target": any(f["meets_target"] for f in figures.values()),
    }


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    parts = [
        f"Inputs: {results['inputs']}; {results['images']} images, {args.warmup} warm-up pass(es) per variant, "
        f"{args.threads} threads (PyTorch and ONNX Runtime), batch 1. Weights: {results['weights']}.",
        "",
    ]
    for label, model in results["models"].items():
        headers = [
            "variant",
            "median latency (s)",
            "min (s)",
            "speed-up vs eager",
            "pixel agreement",
            "Dice vs eager",
            "max |Δlogit|",
        ]
        if any("test_dice" in v for v in model["variants"].values()):
            headers.append("test Dice")
        headers.append("target")
        rows = []
        for name, v in model["variants"].items():
            row = [
                name,
                f"{v['latency_s_median']:.3f}",
                f"{v['latency_s_min']:.3f}",
                f"{v['speedup_vs_eager']:.2f}×",
                f"{v['pixel_agreement_with_eager']:.5f}",
                f"{v['dice_with_eager']:.4f}",
                f"{v['max_abs_logit_diff']:.3g}",
            ]
            if "test_dice" in v:
                row.append(f"{v['test_dice']:.4f}")
            row.append(verdict(v["meets_target"]) if name != "eager" else "reference")
            rows.append(row)
        parts += [
            f"## {label} ({model['parameters_millions']:.1f} M parameters, {results['size']}² input)",
            "",
            markdown_table(headers, rows),
            "",
            f"ONNX export {model['onnx_export_s']:.1f} s. Eager predicts cancer on {model['eager_cancer_fraction']:.1%} of pixels "
            f"(largest |logit| {model['eager_max_abs_logit']:.3g}). Target (≥ {TARGET_SPEEDUP}× with no loss of Dice): "
            f"**{verdict(model['meets_target'])}**, best variant `{model['best_variant']}`.",
            "",
        ]
    return "\n".join(parts)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models",
        nargs="+",
        default=["fcn_resnet101", "deeplabv3_resnet101"],
        help="conf/model names (random init)",
    )
    parser.add_argument("--size", type=int, default=512, help="network input side")
    parser.add_argument(
        "--images",
        type=int,
        default=3,
        help="images per variant (test images with --ckpt: 0 = all)",
    )
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--ckpt",
        type=Path,
        default=None,
        help="a bus-seg-train checkpoint: time it on its test set",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="default: beside this script (checkpoint/ with --ckpt)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run with small defaults: {QUICK}"
    )
    args = parser.parse_args(argv)
    if args.quick:  # the quick settings replace the defaults; options given explicitly still win
        parser.set_defaults(**QUICK)
        args = parser.parse_args(argv)
    args.out_dir = args.out_dir or default_out_dir(
        HERE / "checkpoint" if args.ckpt else HERE, args.quick
    )
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    use_threads(args.threads)
    settings = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in ("out_dir", "threads", "seed")
    }
    record = BenchmarkRecord(
        "inference_latency",
        "Inference latency per image (CPU)",
        args.seed,
        args.threads,
        settings,
        argv,
    )
    results: dict[str, Any] = {
        "target_speedup": TARGET_SPEEDUP,
        "min_agreement": MIN_AGREEMENT,
        "dice_tolerance": DICE_TOLERANCE,
        "models": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench_inference_") as work:
        if args.ckpt:
            net, preprocessing, config = load_trained_net(args.ckpt)
            cases, results["inputs"] = checkpoint_test_cases(config, args.images or None)
            models = {f"{config['model']['name']} (checkpoint)": net}
            results["weights"] = f"trained checkpoint {args.ckpt}"
            args.size = preprocessing.image_size
        else:
            preprocessing = Preprocessing(image_size=args.size)
            cases, results["inputs"] = busi_cases(preprocessing, args.images, args.seed)
            torch.manual_seed(args.seed)
            models = {
                name: instantiate(compose_config([f"model={name}"]).model) for name in args.models
            }
            results["weights"] = (
                f"random initialisation (torch seed {args.seed}); no pretrained weights"
            )
        results["images"], results["size"] = len(cases), args.size
        for label in list(models):
            net = models.pop(label).eval()  # one model in memory at a time (with its copies)
            results["models"][label] = measure_model(
                label, net, preprocessing, cases, args, Path(work)
            )
            del net
    results["meets_target"] = all(m["meets_target"] for m in results["models"].values())
    record.write(args.out_dir, results, report(results, args))
    print((args.out_dir / "results.md").read_text())
    return results


if __name__ == "__main__":
    main()
