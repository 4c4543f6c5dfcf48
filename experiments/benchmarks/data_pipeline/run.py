"""Data pipeline: samples/s served by each DataModule vs the default model's consumption rate,
and what the registration cache saves.

Each DataModule is built from its ``conf/data`` option as configured (transforms, batch size,
image size, loader workers), set up, and its training loader iterated for whole epochs (epoch 1
on its own, the rate over epochs 2+). The consumption rate is the default model's
(``model=tiny``) training steps/s × batch size on that DataModule's batches (forward, loss,
backward, SGD step), measured in the same run. Target: served ≥ 3 × consumed, so the model never
waits for data.

For the registered cohort (``data=simulated``: a phantom cohort simulated into a temporary cache,
then registered with ``registration=fit_tract_profile``): the first ``prepare_data`` (registration)
vs the second (every case a cache hit), and epoch 1 vs epoch 2.

    python experiments/benchmarks/data_pipeline/run.py
    python experiments/benchmarks/data_pipeline/run.py --num-workers 2   # override data.num_workers
    python experiments/benchmarks/data_pipeline/run.py --quick
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
from bus_seg.paths import shared_data_root  # noqa: E402

TARGET_RATIO = 3.0
MODULES = ("synthetic", "busi", "registered")
QUICK = {"modules": ["synthetic"], "cases": 6, "min_samples": 16, "epochs": 2, "model_steps": 2}


def data_config(name: str, args: argparse.Namespace, cache_dir: Path) -> Any:
    """The composed ``train`` config of one data option (temporary cache; BUSI from the shared data)."""
    overrides = {
        "synthetic": ["data=synthetic"],
        "busi": ["data=busi"],
        "registered": ["data=simulated"],
    }[name]
    overrides = [*overrides, f"paths.cache_dir={cache_dir}", f"seed={args.seed}"]
    if name == "busi":
        overrides.append(f"data.root={shared_data_root() / 'busi'}")
    if name == "registered":
        overrides.append(f"data.simulate.num_cases={args.cases}")
    if args.num_workers is not None:
        overrides.append(f"data.num_workers={args.num_workers}")
    return compose_config(overrides, output_dir=cache_dir / "run")


def serve_epochs(datamodule: Any, epochs: int, min_samples: int) -> dict[str, Any]:
    """Iterate the training loader for at least ``epochs`` epochs and ``min_samples`` samples."""
    loader = datamodule.train_dataloader()
    epoch_s, epoch_samples = [], []
    epoch = 0
    while epoch < epochs or sum(epoch_samples[1:]) < min_samples:
        loader.sampler.set_epoch(epoch)
        start, samples = time.perf_counter(), 0
        for batch in loader:
            samples += len(batch["image"])
        epoch_s.append(time.perf_counter() - start)
        epoch_samples.append(samples)
        epoch += 1
    later_s = sum(epoch_s[1:])
    return {
        "epochs": epoch,
        "samples_per_epoch": epoch_samples[0],
        "epoch_s": epoch_s,
        "epoch1_samples_per_s": epoch_samples[0] / epoch_s[0],
        "served_samples_per_s": sum(epoch_samples[1:]) / later_s,
        "epoch2_over_epoch1": epoch_s[1] / epoch_s[0],
    }


def consumption_rate(datamodule: Any, cfg: Any, steps: int, warmup: int = 2) -> dict[str, Any]:
    """Training samples/s of ``cfg``'s model (the default one: only ``data`` is overridden) on a
    batch of this DataModule (median step)."""
    torch.manual_seed(0)
    net, loss_fn = instantiate(cfg.model).train(), instantiate(cfg.loss)
    optimizer = instantiate(cfg.optimizer)(net)
    batch = next(iter(datamodule.train_dataloader()))
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(batch["image"]), batch["label"])["loss"].backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    step_s = median(times)
    return {
        "model": cfg.model.name,
        "batch_size": len(batch["image"]),
        "step_s": step_s,
        "consumed_samples_per_s": len(batch["image"]) / step_s,
    }


def measure_module(name: str, args: argparse.Namespace, cache_dir: Path) -> dict[str, Any]:
    cfg = data_config(name, args, cache_dir)
    datamodule = instantiate(cfg.data)
    figures: dict[str, Any] = {
        "image_size": cfg.data.image_size,
        "batch_size": cfg.data.batch_size,
        "num_workers": cfg.data.num_workers,
        "augment": cfg.data.augment,
    }
    if name == "registered":
        start = time.perf_counter()
        datamodule.cohort_manifest()
        figures["simulate_s"] = time.perf_counter() - start
        for attempt in ("prepare_data_first_s", "prepare_data_second_s"):
            start = time.perf_counter()
            datamodule.prepare_data()
            figures[attempt] = time.perf_counter() - start
        report = datamodule.registration_report
        figures["cases"] = len(report)
        figures["cases_registered"] = int((report["status"] == "ok").sum())
        figures["registration_workers"] = cfg.data.workers
        figures["cache_speedup"] = (
            figures["prepare_data_first_s"] / figures["prepare_data_second_s"]
        )
    start = time.perf_counter()
    datamodule.setup("fit")
    figures["setup_s"] = time.perf_counter() - start
    figures["train_images"] = len(datamodule.datasets["train"])
    figures.update(serve_epochs(datamodule, args.epochs, args.min_samples))
    figures.update(consumption_rate(datamodule, cfg, args.model_steps))
    figures["served_over_consumed"] = (
        figures["served_samples_per_s"] / figures["consumed_samples_per_s"]
    )
    figures["meets_target"] = figures["served_over_consumed"] >= TARGET_RATIO
    return figures


def report(results: dict[str, Any]) -> str:
    rows = [
        [
            name,
            f"{r['image_size']}², batch {r['batch_size']}, workers {r['num_workers']}, {r['train_images']} train images",
            f"{r['served_samples_per_s']:.1f}",
            f"{r['epoch1_samples_per_s']:.1f}",
            f"{r['consumed_samples_per_s']:.1f}",
            f"{r['served_over_consumed']:.1f}×",
            verdict(r["meets_target"]),
        ]
        for name, r in results["modules"].items()
    ]
    text = markdown_table(
        [
            "DataModule",
            "as configured",
            "served samples/s (epochs 2+)",
            "epoch 1 samples/s",
            "consumed samples/s (model=tiny)",
            "served / consumed",
            f"≥ {TARGET_RATIO:g}×",
        ],
        rows,
    )
    registered = results["modules"].get("registered")
    if registered:
        cache = markdown_table(
            ["step", "seconds"],
            [
                [
                    f"simulate {registered['cases']} phantom cases (`ensure_cohort`, cold)",
                    f"{registered['simulate_s']:.2f}",
                ],
                [
                    f"first `prepare_data`: register {registered['cases_registered']}/{registered['cases']} cases ({registered['registration_workers']} workers)",
                    f"{registered['prepare_data_first_s']:.2f}",
                ],
                ["second `prepare_data`: cache hits", f"{registered['prepare_data_second_s']:.3f}"],
                ["`setup` (reads the cached report, splits)", f"{registered['setup_s']:.3f}"],
                [
                    f"epoch 1 ({registered['samples_per_epoch']} samples)",
                    f"{registered['epoch_s'][0]:.3f}",
                ],
                ["epoch 2", f"{registered['epoch_s'][1]:.3f}"],
            ],
        )
        text += (
            f"\n\nRegistration cache (`data=simulated`): the cached `prepare_data` is "
            f"{registered['cache_speedup']:.0f}× faster than the first; epoch 2 takes "
            f"{registered['epoch2_over_epoch1']:.2f}× epoch 1's time (registration is never repeated per epoch).\n\n{cache}"
        )
    if results.get("skipped"):
        text += "\n\nSkipped: " + "; ".join(f"{k}: {v}" for k, v in results["skipped"].items())
    return text + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="+", choices=MODULES, default=list(MODULES))
    parser.add_argument(
        "--cases", type=int, default=24, help="phantom cases of the registered cohort"
    )
    parser.add_argument(
        "--epochs", type=int, default=3, help="at least this many epochs per DataModule"
    )
    parser.add_argument(
        "--min-samples", type=int, default=128, help="... and this many samples after epoch 1"
    )
    parser.add_argument(
        "--model-steps", type=int, default=6, help="measured training steps of the default model"
    )
    parser.add_argument(
        "--num-workers",
        type=int,
        default=None,
        help="override data.num_workers (default: as configured)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--seed", type=int, default=42, help="the configs' seed (split and augmentation)"
    )
    return parse_benchmark_args(parser, argv, QUICK, HERE)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    use_threads(args.threads)
    settings = {k: v for k, v in vars(args).items() if k not in ("out_dir", "threads", "seed")}
    record = BenchmarkRecord(
        "data_pipeline",
        "Data pipeline: samples served vs consumed",
        args.seed,
        args.threads,
        settings,
        argv,
    )
    results: dict[str, Any] = {"target_ratio": TARGET_RATIO, "modules": {}, "skipped": {}}
    with tempfile.TemporaryDirectory(prefix="bench_data_pipeline_") as work:
        for name in args.modules:
            if name == "busi" and not (shared_data_root() / "busi").is_dir():
                results["skipped"][name] = (
                    f"no BUSI folder under {shared_data_root()} (set BUS_SEG_DATA)"
                )
                continue
            results["modules"][name] = measure_module(name, args, Path(work) / name)
            print(
                name,
                {k: v for k, v in results["modules"][name].items() if k != "epoch_s"},
                flush=True,
            )
    results["meets_target"] = all(r["meets_target"] for r in results["modules"].values())
    record.write(args.out_dir, results, report(results))
    print((args.out_dir / "results.md").read_text())
    return results


if __name__ == "__main__":
    main()
