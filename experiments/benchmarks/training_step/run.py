"""Training-step overhead: ``SegmentationModule.training_step`` through a ``pl.Trainer`` vs a
hand-written PyTorch loop on the same model, batches, loss, optimizer and LR scheduler.

The arms run interleaved in one process (blocks of steps, the order rotating each repeat), after
a warm-up block of each. A step's time is the interval between the starts of consecutive steps
(``on_train_batch_start`` in Lightning; right after the batch is fetched in the plain loop), so
it holds forward, loss, backward, optimizer and scheduler steps, logging, hooks and fetching the
next batch. Both the wall time and the process's CPU time (``time.process_time``) of each step
are recorded. On the CPU the verdict uses CPU time with one PyTorch thread (the default): it
counts the work each arm does whatever else runs on the machine, where wall time on shared cores
swings by several times from step to step; with more threads, idle threads waiting for a
descheduled sibling would add to it. Arms:

- ``torch``: the plain loop (``zero_grad``, forward, loss, backward, ``step``, scheduler step).
- ``lightning``: ``Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)``;
  the module still calls ``self.log`` (the target applies to this arm).
- ``lightning_csv``: the same with the CSV logger of ``logger=csv`` (``log_every_n_steps=5``).

Target: median Lightning step ≤ 1.03 × median plain step (CPU time on the CPU, wall time on a
GPU).

On a GPU (``--device cuda``, with ``--precision bf16-mixed --channels-last`` as the paper models
would train there) the same run gives training images/s of both arms; the clock then waits for
the GPU (``torch.cuda.synchronize``) at every step boundary.

    python experiments/benchmarks/training_step/run.py                 # model=unet, 128², batch 4, 1 thread
    python experiments/benchmarks/training_step/run.py --model deeplabv3_resnet50 --steps 6
    python experiments/benchmarks/training_step/run.py --quick         # smoke run (tiny model)
    python experiments/benchmarks/training_step/run.py --device cuda --precision bf16-mixed \
        --channels-last --model fcn_resnet101 --image-size 512 --batch-size 8 --steps 20 \
        --out-dir experiments/benchmarks/training_step/gpu_fcn_resnet101
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from pytorch_lightning.loggers import CSVLogger
from torch.utils.data import DataLoader, Dataset

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
from bus_seg.training.builders import build_module  # noqa: E402

TARGET_RATIO = 1.03
ARMS = ("torch", "lightning", "lightning_csv")
CLOCKS = ("wall", "cpu")
QUICK = {
    "model": "tiny",
    "image_size": 32,
    "batch_size": 2,
    "steps": 2,
    "warmup": 0,
    "repeats": 1,
    "warmup_blocks": 0,
}


class FixedBatches(Dataset):
    """``n`` seeded images with 0/1/255 strip labels, served in order (the same for every arm)."""

    def __init__(self, n: int, image_size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 1, image_size, image_size, generator=generator)
        labels = torch.full((n, image_size, image_size), 255, dtype=torch.long)
        strip = slice(image_size // 3, 2 * image_size // 3)
        labels[:, :, strip] = torch.randint(0, 2, (n, image_size, 1), generator=generator).expand(
            -1, -1, strip.stop - strip.start
        )
        self.labels = labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": self.images[index], "label": self.labels[index], "image_id": f"img{index}"}


Stamp = tuple[float, float]
"""(wall seconds, process CPU seconds) at one instant."""


def now() -> Stamp:
    return time.perf_counter(), time.process_time()


class StepClock(pl.Callback):
    """Stamps when each training step starts, and when the last one ended."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self.sync, self.starts, self.last_end = sync, [], now()

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.sync()
        self.starts.append(now())

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self.sync()
        self.last_end = now()


def step_times(stamps: Sequence[Stamp], skip: int) -> list[Stamp]:
    """(wall, CPU) seconds between consecutive step starts, without the first ``skip`` steps."""
    return [
        (b[0] - a[0], b[1] - a[1]) for a, b in zip(stamps[skip:], stamps[skip + 1 :], strict=False)
    ]


def device_sync(device: torch.device) -> Callable[[], None]:
    """Waits for the GPU's queued work (a no-op on the CPU), so step times are real."""
    return torch.cuda.synchronize if device.type == "cuda" else lambda: None


def torch_block(
    module: pl.LightningModule, cfg: Any, loader: DataLoader, skip: int, args: argparse.Namespace
) -> list[Stamp]:
    """Train ``module.net`` with a plain loop over ``loader``; step times."""
    device, sync = torch.device(args.device), device_sync(torch.device(args.device))
    net, loss_fn = module.net.to(device).train(), module.loss.to(device)
    optimizer = instantiate(cfg.optimizer)(net)
    scheduler = (
        instantiate(cfg.scheduler)(optimizer, total_steps=len(loader))
        if cfg.get("scheduler")
        else None
    )
    bf16 = args.precision == "bf16-mixed"
    starts = []
    for batch in loader:
        sync()
        starts.append(now())
        image, label = batch["image"].to(device), batch["label"].to(device)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(net(image), label)["loss"]
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    sync()
    starts.append(now())
    return step_times(starts, skip)


def lightning_block(
    module: pl.LightningModule,
    loader: DataLoader,
    skip: int,
    log_dir: Path | None,
    args: argparse.Namespace,
) -> list[Stamp]:
    """Fit ``module`` for one pass over ``loader`` in a fresh Trainer; step times."""
    clock = StepClock(device_sync(torch.device(args.device)))
    trainer = pl.Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu",
        devices=1,
        precision=args.precision,
        max_epochs=1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=CSVLogger(str(log_dir)) if log_dir else False,
        log_every_n_steps=5,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=False,
        callbacks=[clock],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no validation loop" and dataloader-worker notices
        trainer.fit(module, train_dataloaders=loader)
    return step_times([*clock.starts, clock.last_end], skip)


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Every arm's step times and the ratios to the plain loop."""
    cfg = compose_config(
        [f"model={args.model}", "loss=ce", "optimizer=sgd", "scheduler=poly"],
        output_dir=work / "run",
    )
    torch.manual_seed(args.seed)
    lightning_module = build_module(cfg)
    if args.channels_last:
        lightning_module = lightning_module.to(memory_format=torch.channels_last)
    modules = {
        "torch": copy.deepcopy(lightning_module),
        "lightning": lightning_module,
        "lightning_csv": copy.deepcopy(lightning_module),
    }
    n_steps = args.warmup + args.steps
    loader = DataLoader(
        FixedBatches(n_steps * args.batch_size, args.image_size, args.seed),
        batch_size=args.batch_size,
    )
    blocks: dict[str, Callable[[int], list[Stamp]]] = {
        "torch": lambda skip: torch_block(modules["torch"], cfg, loader, skip, args),
        "lightning": lambda skip: lightning_block(modules["lightning"], loader, skip, None, args),
        "lightning_csv": lambda skip: lightning_block(
            modules["lightning_csv"], loader, skip, work / "csv", args
        ),
    }
    for _ in range(args.warmup_blocks):  # allocator, oneDNN primitives, Lightning's first fit
        for arm in ARMS:
            blocks[arm](0)
    times: dict[str, dict[str, list[float]]] = {arm: {"wall": [], "cpu": []} for arm in ARMS}
    per_repeat: list[dict[str, dict[str, float]]] = []
    for repeat in range(args.repeats):
        order = ARMS[repeat % len(ARMS) :] + ARMS[: repeat % len(ARMS)]
        medians: dict[str, dict[str, float]] = {}
        for arm in order:
            measured = blocks[arm](args.warmup)
            for clock, column in zip(CLOCKS, zip(*measured, strict=True), strict=True):
                times[arm][clock] += column
            medians[arm] = {clock: median(times[arm][clock][-len(measured) :]) for clock in CLOCKS}
        per_repeat.append(medians)
        print(
            f"repeat {repeat + 1}/{args.repeats}: "
            + ", ".join(
                f"{a} {medians[a]['wall']:.3f} s ({medians[a]['cpu']:.3f} s CPU)" for a in ARMS
            ),
            flush=True,
        )
    verdict_clock = "wall" if args.device == "cuda" else "cpu"
    figures: dict[str, Any] = {"verdict_clock": verdict_clock, "target_ratio": TARGET_RATIO}
    for clock in CLOCKS:
        step_median = {arm: median(times[arm][clock]) for arm in ARMS}
        figures[clock] = {
            "step_s_median": step_median,
            "step_s_min": {arm: min(times[arm][clock]) for arm in ARMS},
            "images_per_s": {arm: args.batch_size / step_median[arm] for arm in ARMS},
            "ratio_to_torch": {arm: step_median[arm] / step_median["torch"] for arm in ARMS},
            "ratio_to_torch_median_of_repeats": {
                arm: median([r[arm][clock] / r["torch"][clock] for r in per_repeat]) for arm in ARMS
            },
        }
    ratios = figures[verdict_clock]["ratio_to_torch"]
    figures.update(
        steps_measured={arm: len(times[arm]["wall"]) for arm in ARMS},
        per_repeat_step_s_median=per_repeat,
        meets_target=ratios["lightning"] <= TARGET_RATIO,
        meets_target_with_csv_logger=ratios["lightning_csv"] <= TARGET_RATIO,
    )
    return figures


def report(args: argparse.Namespace, figures: dict[str, Any]) -> str:
    rows = []
    for arm in ARMS:
        wall, cpu = figures["wall"], figures["cpu"]
        rows.append(
            [
                arm,
                f"{cpu['step_s_median'][arm] * 1000:.1f}",
                f"{cpu['ratio_to_torch'][arm]:.3f}",
                f"{cpu['ratio_to_torch_median_of_repeats'][arm]:.3f}",
                f"{wall['step_s_median'][arm] * 1000:.1f}",
                f"{wall['step_s_min'][arm] * 1000:.1f}",
                f"{wall['images_per_s'][arm]:.2f}",
                f"{wall['ratio_to_torch'][arm]:.3f}",
                figures["steps_measured"][arm],
            ]
        )
    table = markdown_table(
        [
            "arm",
            "median CPU s/step (ms)",
            "CPU ratio to torch",
            "median of per-repeat CPU ratios",
            "median wall step (ms)",
            "min wall step (ms)",
            "images/s (wall)",
            "wall ratio to torch",
            "steps",
        ],
        rows,
    )
    ratios = figures[figures["verdict_clock"]]["ratio_to_torch"]
    return (
        f"Model `{args.model}` (random init), {args.image_size}×{args.image_size} gray inputs, batch {args.batch_size}, "
        f"on {args.device}, precision {args.precision}"
        f"{', channels-last weights' if args.channels_last else ''}, {args.threads} PyTorch thread(s); "
        f"`loss=ce` (with the aux head where the model has one), `optimizer=sgd`, `scheduler=poly`; "
        f"{args.repeats} interleaved repeats of {args.steps} measured steps per arm (after {args.warmup} "
        f"unmeasured steps per block and {args.warmup_blocks} warm-up block(s) per arm).\n\n{table}\n\n"
        f"Target: Lightning step ≤ {TARGET_RATIO}× the plain loop's ({figures['verdict_clock']} time): "
        f"**{verdict(figures['meets_target'])}** ({ratios['lightning']:.3f}×; with the CSV logger "
        f"{ratios['lightning_csv']:.3f}×).\n"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="unet", help="a conf/model option")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=8, help="measured steps per block")
    parser.add_argument(
        "--warmup", type=int, default=1, help="unmeasured steps at the start of each block"
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved blocks per arm")
    parser.add_argument(
        "--warmup-blocks", type=int, default=1, help="unmeasured blocks per arm before the repeats"
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--precision", choices=["32-true", "bf16-mixed"], default="32-true")
    parser.add_argument(
        "--channels-last", action="store_true", help="weights in channels-last memory format"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="PyTorch threads (CPU time is exact with 1)"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parse_benchmark_args(parser, argv, QUICK, HERE)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    use_threads(args.threads)
    logging.getLogger("pytorch_lightning").setLevel(
        logging.WARNING
    )  # one "GPU available" notice per fit
    settings = {k: v for k, v in vars(args).items() if k not in ("out_dir", "threads", "seed")}
    record = BenchmarkRecord(
        "training_step",
        "Training-step overhead: Lightning vs a plain PyTorch loop",
        args.seed,
        args.threads,
        settings,
        argv,
    )
    with tempfile.TemporaryDirectory(prefix="bench_training_step_") as work:
        figures = measure(args, Path(work))
    record.write(args.out_dir, figures, report(args, figures))
    print((args.out_dir / "results.md").read_text())
    return figures


if __name__ == "__main__":
    main()
