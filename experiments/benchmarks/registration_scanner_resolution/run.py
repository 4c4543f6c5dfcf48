"""Registration at scanner resolution: seconds and peak memory per case, whole-level reading
(the plain reference) against coarse-to-fine reading, on the same simulated cases.

Cases come from the simulator (phantom, ``--core-mm`` cores, rasters at ``--source-mpp``)
written as scanner slides (``wsi.scan_mpp``) at each ``--mpps`` value, alternately Aperio SVS
and pyramidal OME-TIFF with 4× pyramid levels, with ``--margin-mm`` of glass around the core.
Every case is registered twice, each time in a fresh child process (``register_case``, QC off):

- ``old``: ``registration.tissue_regions=false``, which decodes the whole pyramid level at
  ``tissue_mpp`` (the reference);
- ``new``: ``tissue_regions=true`` (the default): tissue found on a coarse level, only its
  boxes read at ``tissue_mpp``.

A child reports its wall and CPU seconds for the case, its peak resident memory (``VmHWM``,
the whole process: Python and the imported libraries included), and the cancer
Dice and boundary error against the simulator's reference label map.

    python experiments/benchmarks/registration_scanner_resolution/run.py             # 3 cases x 0.25/0.5/2 µm/px
    python experiments/benchmarks/registration_scanner_resolution/run.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from recording import BenchmarkRecord, markdown_table, median, parse_benchmark_args, verdict  # noqa: E402

QUICK = {"cases": 1, "core_mm": 6.0, "mpps": [0.5], "margin_mm": 1.5}
PATHS = {"old": False, "new": True}
TARGET_S, TARGET_RSS_MB, TARGET_DICE = 1.0, 600.0, 0.995


def simulate(args: argparse.Namespace, mpp: float, out: Path) -> tuple[Path, list[dict[str, Any]]]:
    from bus_seg.simulate import SimulationSettings, simulate_cohort

    config = {
        "num_cases": args.cases,
        "seed": args.seed,
        "tract": {"segment_length_mm": [args.core_mm, args.core_mm]},
        "wsi": {
            "mpp": args.source_mpp,
            "scan_mpp": mpp,
            "formats": {"svs": 0.5, "ome_tiff": 0.5},
            "level_downsamples": [4],
            "margin_mm": args.margin_mm,
        },
    }
    start = time.perf_counter()
    manifest = simulate_cohort(out, SimulationSettings.from_config(config), progress=False)
    print(
        f"simulated {args.cases} cases at {mpp:g} µm/px in {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    cases = json.loads((out / "simulation.json").read_text())["cases"]
    return manifest, [{"case_id": case_id, **info} for case_id, info in sorted(cases.items())]


def run_child(
    manifest: Path, case_id: str, regions: bool, out: Path, reference_budget: int
) -> dict[str, Any]:
    """One case in a fresh child; ``{"refused": message}`` when registration refuses the case.

    The reference (whole-level) path may decode more pixels than the default pixel budget lets
    registration decode (``BUS_SEG_MAX_PIXELS``): it gets ``reference_budget``, so that it is
    measured rather than refused; the new path keeps the default budget.
    """
    env = dict(os.environ)
    if not regions:
        env["BUS_SEG_MAX_PIXELS"] = str(reference_budget)
    command = [
        sys.executable,
        str(HERE / "child.py"),
        str(manifest),
        case_id,
        str(int(regions)),
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        lines = (done.stdout + done.stderr).strip().splitlines()
        return {"refused": lines[-1] if lines else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def describe(figures: dict[str, Any]) -> str:
    if "refused" in figures:
        return f"refused ({figures['refused']})"
    return f"{figures['cpu_s']:.2f} s CPU / {figures['wall_s']:.2f} s wall / {figures['peak_rss_mb']:.0f} MB"


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for mpp in args.mpps:
        manifest, cases = simulate(args, mpp, work / f"cohort_{mpp:g}")
        rows = []
        for case in cases:
            row = {
                "case_id": case["case_id"],
                "format": case["wsi_format"],
                "slide_px": case["slide_size_px"],
            }
            labels = {}
            for name, regions in PATHS.items():
                out = work / f"labels_{mpp:g}_{case['case_id']}_{name}.npy"
                row[name] = run_child(
                    manifest, case["case_id"], regions, out, args.reference_budget
                )
                labels[name] = np.load(out) if "refused" not in row[name] else None
            row["labels_identical"] = labels["old"] is not None and bool(
                np.array_equal(labels["old"], labels["new"])
            )
            rows.append(row)
            print(
                f"{mpp:g} µm/px {row['case_id']}: "
                + ", ".join(f"{name} {describe(row[name])}" for name in PATHS),
                flush=True,
            )
        results[f"{mpp:g}"] = {"cases": rows, "summary": summarise(rows)}
    return results


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the cases that each path registered (NaN when it registered none); the
    old/new ratios over the cases that both registered."""
    summary: dict[str, Any] = {}
    nan = float("nan")
    for name in PATHS:
        done = [r[name] for r in rows if "refused" not in r[name]]
        summary[name] = {
            "registered": len(done),
            "median_wall_s": median([f["wall_s"] for f in done]) if done else nan,
            "median_cpu_s": median([f["cpu_s"] for f in done]) if done else nan,
            "median_peak_rss_mb": median([f["peak_rss_mb"] for f in done]) if done else nan,
            "max_peak_rss_mb": max(f["peak_rss_mb"] for f in done) if done else nan,
            "mean_dice": float(np.mean([f["dice"] for f in done])) if done else nan,
            "mean_boundary_error_mm": (
                float(np.mean([f["boundary_error_mm"] for f in done])) if done else nan
            ),
        }
    both = [r for r in rows if not any("refused" in r[name] for name in PATHS)]
    for key, field in (
        ("speedup_wall", "wall_s"),
        ("speedup_cpu", "cpu_s"),
        ("rss_ratio", "peak_rss_mb"),
    ):
        summary[key] = (
            median([r["old"][field] for r in both]) / median([r["new"][field] for r in both])
            if both
            else nan
        )
    summary["labels_identical"] = sum(r["labels_identical"] for r in rows)
    summary["cases"] = len(rows)
    return summary


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    rows, verdicts = [], []
    for mpp, entry in results.items():
        s = entry["summary"]
        for name in PATHS:
            p = s[name]
            rows.append(
                [
                    f"{mpp} µm/px",
                    f"{name} ({p['registered']}/{s['cases']} registered)",
                    f"{p['median_wall_s']:.2f}",
                    f"{p['median_cpu_s']:.2f}",
                    f"{p['median_peak_rss_mb']:.0f} (max {p['max_peak_rss_mb']:.0f})",
                    f"{p['mean_dice']:.4f}",
                    f"{p['mean_boundary_error_mm']:.4f}",
                ]
            )
        rows.append(
            [
                f"{mpp} µm/px",
                "old / new",
                f"{s['speedup_wall']:.2f}×",
                f"{s['speedup_cpu']:.2f}×",
                f"{s['rss_ratio']:.2f}×",
                f"labels identical {s['labels_identical']}/{s['cases']}",
                "",
            ]
        )
        if float(mpp) < 1.0:
            new = s["new"]
            verdicts.append(
                f"- {mpp} µm/px: median ≤ {TARGET_S:g} s (CPU) {verdict(new['median_cpu_s'] <= TARGET_S)} "
                f"({new['median_cpu_s']:.2f} s CPU, {new['median_wall_s']:.2f} s wall); peak RSS ≤ "
                f"{TARGET_RSS_MB:g} MB {verdict(new['max_peak_rss_mb'] <= TARGET_RSS_MB)} "
                f"(max {new['max_peak_rss_mb']:.0f} MB); cancer Dice ≥ {TARGET_DICE} "
                f"{verdict(new['mean_dice'] >= TARGET_DICE)} ({new['mean_dice']:.4f}); ≥ 5× faster than "
                f"the reference {verdict(s['speedup_cpu'] >= 5)} ({s['speedup_cpu']:.2f}× CPU)"
            )
    slides = "; ".join(
        f"{mpp} µm/px: "
        + ", ".join(f"{c['format']} {c['slide_px'][1]}×{c['slide_px'][0]}" for c in e["cases"])
        for mpp, e in results.items()
    )
    return (
        f"Phantom cases with {args.core_mm:g} mm cores (seed {args.seed}), simulated at "
        f"{args.source_mpp:g} µm/px with {args.margin_mm:g} mm of glass around the core and written "
        f"as scanner slides (4× pyramids). Level-0 sizes (width×height): {slides}.\n\n"
        "Each case registered once per path in a fresh child process (`RegistrationSettings(qc=False)`, "
        "`tissue_regions` false = old, true = new); time is inside `register_case`; peak RSS is the "
        "child's `VmHWM` (interpreter and libraries included). The old path's children run with "
        f"`BUS_SEG_MAX_PIXELS={args.reference_budget}` so that the reference is measured, not "
        "refused; the new path keeps the default pixel budget. Ratios are medians over the cases "
        "that both paths registered.\n\n"
        + markdown_table(
            [
                "slide",
                "path",
                "median wall s",
                "median CPU s",
                "peak RSS MB (median, max)",
                "mean cancer Dice",
                "mean boundary error mm",
            ],
            rows,
        )
        + "\n\n## Targets (new path)\n\n"
        + ("\n".join(verdicts) if verdicts else "- no case below 1 µm/px in this run")
        + "\n"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=3, help="cases per resolution")
    parser.add_argument("--core-mm", type=float, default=20.0)
    parser.add_argument("--mpps", type=float, nargs="+", default=[0.25, 0.5, 2.0])
    parser.add_argument(
        "--source-mpp", type=float, default=4.0, help="µm/px of the simulated rasters"
    )
    parser.add_argument("--margin-mm", type=float, default=2.5, help="glass around the core")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reference-budget",
        type=int,
        default=2**33,
        help="BUS_SEG_MAX_PIXELS of the whole-level reference children (default 2^33)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="recorded; children use OMP_NUM_THREADS"
    )
    return parse_benchmark_args(parser, argv, QUICK, HERE)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    settings = {k: v for k, v in vars(args).items() if k not in ("out_dir", "threads", "seed")}
    record = BenchmarkRecord(
        "registration_scanner_resolution",
        "Registration at scanner resolution: whole-level vs coarse-to-fine reading",
        args.seed,
        args.threads,
        settings,
        argv,
    )
    with tempfile.TemporaryDirectory(prefix="bench_scanner_") as work:
        results = measure(args, Path(work))
    record.write(args.out_dir, results, report(results, args))
    print((args.out_dir / "results.md").read_text())
    return results


if __name__ == "__main__":
    main()
