"""CPU cost of the strip-label regularisers: a training step with each against one without.

One model, one batch, one optimizer; the arms differ only in the loss: partial cross-entropy
(``ce``, the reference) and ``ce`` plus each strip regulariser of ``conf/regulariser`` alone,
their combinations, and the default combination with the box prior (``busi_strip_roi``'s loss). The arms run interleaved (blocks of steps, the order rotating each repeat) after a
warm-up block of each, and each step's CPU time (``time.process_time``, one PyTorch thread) is
recorded, which counts the work of an arm whatever else runs on the machine. A step is forward,
loss, backward and optimizer step.

Target (issue: strip supervision): at 256², a step with a regulariser takes at most twice as
long as one without it (median CPU time ratio ≤ 2).

    python experiments/benchmarks/regularisers/run.py            # model=tiny, 256², batch 8
    python experiments/benchmarks/regularisers/run.py --quick    # smoke run (64², batch 2)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from hydra.utils import instantiate

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from recording import (  # noqa: E402
    BenchmarkRecord,
    markdown_table,
    median,
    parse_benchmark_args,
    use_threads,
    verdict,
)

from bus_seg.config import compose_config  # noqa: E402

ARMS = {
    "ce": "ce",
    "ce + crf": "ce_crf",
    "ce + compactness": "ce_compact",
    "ce + entropy": "ce_entropy",
    "ce + compactness + crf": "ce_compact_crf",
    "ce + compactness + crf + entropy": "ce_compact_crf_entropy",
    "ce + compactness + crf + entropy + box": "ce_compact_crf_entropy_box",
}
TARGET_RATIO = 2.0


def strip_batch(batch_size: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images and strip labels: a diagonal band, half cancer, the rest 255; unlabelled
    pixels outside the central box (half the side) are weak negatives (254), as with
    ``data.weak_labels=lesion_roi``, so that every arm also pays the weak-negative term."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(batch_size, 1, size, size, generator=generator)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    band = (ys - xs).abs() <= max(2, size // 32)
    target = torch.full((batch_size, size, size), 255, dtype=torch.long)
    target[:, band] = 0
    target[:, band & (xs > size // 3) & (xs < 2 * size // 3)] = 1
    inside = (ys >= size // 4) & (ys < 3 * size // 4) & (xs >= size // 4) & (xs < 3 * size // 4)
    target[:, ~inside & ~band] = 254
    return images, target


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="steps per block")
    parser.add_argument("--repeats", type=int, default=4, help="interleaved blocks per arm")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parse_benchmark_args(
        parser, argv, {"image_size": 64, "batch_size": 2, "steps": 1, "repeats": 2}, HERE
    )
    use_threads(args.threads)
    record = BenchmarkRecord(
        "regularisers",
        "Strip-label regularisers: CPU cost of a training step",
        args.seed,
        args.threads,
        {k: v for k, v in vars(args).items() if k not in ("out_dir", "quick")},
        argv,
    )
    torch.manual_seed(args.seed)
    images, target = strip_batch(args.batch_size, args.image_size, args.seed)
    cfg = compose_config([f"model={args.model}"])
    net = instantiate(cfg.model)
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    losses = {arm: instantiate(compose_config([f"loss={name}"]).loss) for arm, name in ARMS.items()}
    cpu: dict[str, list[float]] = {arm: [] for arm in ARMS}

    def block(arm: str, keep: bool) -> None:
        for _ in range(args.steps):
            start = time.process_time()
            optimizer.zero_grad(set_to_none=True)
            loss = losses[arm](net(images), target, images)["loss"]
            loss.backward()
            optimizer.step()
            if keep:
                cpu[arm].append(time.process_time() - start)

    order = list(ARMS)
    for arm in order:
        block(arm, keep=False)
    for repeat in range(args.repeats):
        for arm in order[repeat % len(order) :] + order[: repeat % len(order)]:
            block(arm, keep=True)
    reference = median(cpu["ce"])
    figures = {
        "median_step_cpu_s": {arm: round(median(v), 4) for arm, v in cpu.items()},
        "ratio_to_ce": {},
    }
    rows = []
    for arm, values in cpu.items():
        ratio = median(values) / reference
        figures["ratio_to_ce"][arm] = round(ratio, 3)
        met = ratio <= TARGET_RATIO if arm != "ce" else True
        rows.append(
            [
                arm,
                f"{median(values):.3f}",
                f"{ratio:.2f}×",
                "reference" if arm == "ce" else verdict(met),
            ]
        )
    figures["target_ratio"] = TARGET_RATIO
    figures["target_met"] = all(r <= TARGET_RATIO for r in figures["ratio_to_ce"].values())
    table = markdown_table(["loss", "median step CPU s", "ratio to ce", f"≤ {TARGET_RATIO}×"], rows)
    note = (
        f"\nmodel `{args.model}`, {args.image_size}² inputs, batch {args.batch_size}; "
        f"{args.repeats} interleaved blocks of {args.steps} steps per arm after one warm-up block.\n"
    )
    record.write(args.out_dir, figures, table + "\n" + note)
    print(table)
    return figures


if __name__ == "__main__":
    main()
