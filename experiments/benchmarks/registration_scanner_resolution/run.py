"""Registration at scanner resolution: seconds and peak memory per case, coarse-to-fine reading
against two plain references that decode a whole pyramid level, on the same simulated cases.

Cases come from the simulator (phantom, ``--core-mm`` cores, rasters at ``--source-mpp``)
written as scanner slides (``wsi.scan_mpp``) at each ``--mpps`` value, alternately Aperio SVS
and pyramidal OME-TIFF with 4× pyramid levels, with ``--margin-mm`` of glass around the core.
Every case is registered ``--repeats`` times per path (interleaved, the case's time is their
median), each time in a fresh child process (``register_case``, QC off):

- ``new``: ``tissue_regions=true`` (the default): tissue found on a coarse level, only its
  boxes read at ``tissue_mpp``;
- ``whole``: ``tissue_regions=false``, which decodes the whole pyramid level at ``tissue_mpp``
  and then runs this commit's registration (every later optimisation included);
- ``before``: the registration of ``--baseline-commit`` (default: the last commit before
  coarse-to-fine reading, the code the issue measured), unpacked from git into the work folder
  and run from there. Skipped, and recorded as such, where git or the commit is missing.

A child reports its wall and CPU seconds for the case, its peak resident memory (``VmHWM``,
the whole process: Python and the imported libraries included), and the cancer
Dice and boundary error against the simulator's reference label map.

    python experiments/benchmarks/registration_scanner_resolution/run.py             # 3 cases x 0.25/0.5/2 µm/px
    python experiments/benchmarks/registration_scanner_resolution/run.py --quick
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from recording import (  # noqa: E402
    REPO_ROOT,
    BenchmarkRecord,
    markdown_table,
    median,
    parse_benchmark_args,
    verdict,
)

QUICK = {"cases": 1, "core_mm": 6.0, "mpps": [0.5], "margin_mm": 1.5, "repeats": 1}
PATHS = ("new", "whole", "before")
REFERENCES = ("whole", "before")
BASELINE_COMMIT = "31dc3444623b58fe06421e992da01010764c37f8"
"""The last commit before coarse-to-fine reading (d3c3d90): the registration the issue measured."""
TARGET_S, TARGET_RSS_MB, TARGET_DICE, TARGET_SPEEDUP = 1.0, 600.0, 0.995, 5.0


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
    os.sync()  # the slides' write-back would otherwise run beside the first cases' timing
    return manifest, [{"case_id": case_id, **info} for case_id, info in sorted(cases.items())]


def unpack_baseline(commit: str, work: Path) -> tuple[Path | None, str]:
    """``bus_seg`` at ``commit``, unpacked from this repository's git history into ``work``.

    Returns:
        ``(folder to put on PYTHONPATH, "")``, or ``(None, why)`` where git or the commit is
        missing.
    """
    if commit == "none":
        return None, "skipped (--baseline-commit none)"
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", commit, "bus_seg"],
            capture_output=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", b"") or str(err).encode()
        return None, f"git archive {commit[:7]} failed: {detail.decode(errors='replace').strip()}"
    folder = work / f"baseline_{commit[:7]}"
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(folder, filter="data")
    return folder, ""


def run_child(
    manifest: Path,
    case_id: str,
    path: str,
    out: Path,
    reference_budget: int,
    baseline: Path | None,
    threads: int,
) -> dict[str, Any]:
    """One case in a fresh child; ``{"refused": message}`` when registration refuses the case.

    The references decode more pixels than the default pixel budget lets registration decode
    (``BUS_SEG_MAX_PIXELS``): they get ``reference_budget``, so that they are measured rather
    than refused; the new path keeps the default budget. ``before`` runs the package in
    ``baseline``; the child reports which package ran, and only ``before`` may run that one.
    """
    env = dict(os.environ)
    if path != "new":
        env["BUS_SEG_MAX_PIXELS"] = str(reference_budget)
    if path == "before":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(baseline), env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = str(threads)
    command = [
        sys.executable,
        str(HERE / "child.py"),
        *(str(manifest), case_id, path, str(out), str(threads)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=HERE)
    if done.returncode:
        lines = (done.stdout + done.stderr).strip().splitlines()
        return {"refused": lines[-1] if lines else f"exit {done.returncode}"}
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    ran_baseline = (
        baseline is not None and Path(figures["package"]) == (baseline / "bus_seg").resolve()
    )
    if ran_baseline != (path == "before"):
        raise RuntimeError(f"the {path} child ran the bus_seg in {figures['package']}")
    return figures


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One case's figures over its repeats: median wall and CPU seconds, the highest peak RSS,
    and the repeats' CPU seconds; refused if any repeat was."""
    refused = [run for run in runs if "refused" in run]
    if refused:
        return refused[0]
    return {
        **runs[0],
        "wall_s": median([run["wall_s"] for run in runs]),
        "cpu_s": median([run["cpu_s"] for run in runs]),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
        "cpu_s_repeats": [run["cpu_s"] for run in runs],
    }


def describe(figures: dict[str, Any]) -> str:
    if "refused" in figures:
        return f"refused ({figures['refused']})"
    return f"{figures['cpu_s']:.2f} s CPU / {figures['wall_s']:.2f} s wall / {figures['peak_rss_mb']:.0f} MB"


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    baseline, why = unpack_baseline(args.baseline_commit, work)
    paths = [p for p in PATHS if p != "before" or baseline is not None]
    results: dict[str, Any] = {"baseline": {"commit": args.baseline_commit, "unavailable": why}}
    if why:
        print(f"before: {why}", flush=True)
    for mpp in args.mpps:
        manifest, cases = simulate(args, mpp, work / f"cohort_{mpp:g}")
        rows = []
        for case in cases:
            row = {
                "case_id": case["case_id"],
                "format": case["wsi_format"],
                "slide_px": case["slide_size_px"],
            }
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in paths}
            for _ in range(args.repeats):  # interleaved, so that drifts in speed hit every path
                for name in paths:
                    out = work / f"labels_{mpp:g}_{case['case_id']}_{name}.npy"
                    runs[name].append(
                        run_child(
                            manifest,
                            case["case_id"],
                            name,
                            out,
                            args.reference_budget,
                            baseline,
                            args.threads,
                        )
                    )
            labels = {}
            for name in paths:
                row[name] = combine(runs[name])
                out = work / f"labels_{mpp:g}_{case['case_id']}_{name}.npy"
                labels[name] = np.load(out) if "refused" not in row[name] else None
            row["labels_identical"] = labels["whole"] is not None and bool(
                np.array_equal(labels["whole"], labels["new"])
            )
            rows.append(row)
            print(
                f"{mpp:g} µm/px {row['case_id']}: "
                + ", ".join(f"{name} {describe(row[name])}" for name in paths),
                flush=True,
            )
        results[f"{mpp:g}"] = {"cases": rows, "summary": summarise(rows, paths)}
    return results


def summarise(rows: list[dict[str, Any]], paths: Sequence[str]) -> dict[str, Any]:
    """Medians over the cases that each path registered (NaN when it registered none); each
    reference's ratios to the new path over the cases that both registered."""
    summary: dict[str, Any] = {"paths": list(paths)}
    nan = float("nan")
    for name in paths:
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
    for reference in (r for r in REFERENCES if r in paths):
        both = [r for r in rows if "refused" not in r[reference] and "refused" not in r["new"]]
        summary[f"{reference}_over_new"] = {
            field: (
                median([r[reference][field] for r in both])
                / median([r["new"][field] for r in both])
                if both
                else nan
            )
            for field in ("wall_s", "cpu_s", "peak_rss_mb")
        }
    summary["labels_identical"] = sum(r["labels_identical"] for r in rows)
    summary["cases"] = len(rows)
    return summary


PATH_NAMES = {
    "new": "new (coarse-to-fine)",
    "whole": "whole level, this commit",
    "before": "before: {commit}",
}


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    baseline = results["baseline"]
    names = {k: v.format(commit=baseline["commit"][:7]) for k, v in PATH_NAMES.items()}
    rows, verdicts = [], []
    for mpp, entry in ((k, v) for k, v in results.items() if k != "baseline"):
        s = entry["summary"]
        for name in s["paths"]:
            p = s[name]
            rows.append(
                [
                    f"{mpp} µm/px",
                    f"{names[name]} ({p['registered']}/{s['cases']} registered)",
                    f"{p['median_wall_s']:.2f}",
                    f"{p['median_cpu_s']:.2f}",
                    f"{p['median_peak_rss_mb']:.0f} (max {p['max_peak_rss_mb']:.0f})",
                    f"{p['mean_dice']:.4f}",
                    f"{p['mean_boundary_error_mm']:.4f}",
                ]
            )
        for reference in (r for r in REFERENCES if f"{r}_over_new" in s):
            ratio = s[f"{reference}_over_new"]
            rows.append(
                [
                    f"{mpp} µm/px",
                    f"{reference} / new",
                    f"{ratio['wall_s']:.2f}×",
                    f"{ratio['cpu_s']:.2f}×",
                    f"{ratio['peak_rss_mb']:.2f}×",
                    f"labels identical {s['labels_identical']}/{s['cases']}"
                    if reference == "whole"
                    else "",
                    "",
                ]
            )
        if float(mpp) < 1.0:
            new = s["new"]
            speedups = "; ".join(
                f"≥ {TARGET_SPEEDUP:g}× faster than {names[r]} "
                f"{verdict(s[f'{r}_over_new']['cpu_s'] >= TARGET_SPEEDUP)} "
                f"({s[f'{r}_over_new']['cpu_s']:.2f}× CPU)"
                for r in REFERENCES
                if f"{r}_over_new" in s
            )
            verdicts.append(
                f"- {mpp} µm/px: median ≤ {TARGET_S:g} s (CPU) {verdict(new['median_cpu_s'] <= TARGET_S)} "
                f"({new['median_cpu_s']:.2f} s CPU, {new['median_wall_s']:.2f} s wall); peak RSS ≤ "
                f"{TARGET_RSS_MB:g} MB {verdict(new['max_peak_rss_mb'] <= TARGET_RSS_MB)} "
                f"(max {new['max_peak_rss_mb']:.0f} MB); cancer Dice ≥ {TARGET_DICE} "
                f"{verdict(new['mean_dice'] >= TARGET_DICE)} ({new['mean_dice']:.4f}); {speedups}"
            )
    slides = "; ".join(
        f"{mpp} µm/px: "
        + ", ".join(f"{c['format']} {c['slide_px'][1]}×{c['slide_px'][0]}" for c in e["cases"])
        for mpp, e in results.items()
        if mpp != "baseline"
    )
    before = (
        f"`before` is not in this run: {baseline['unavailable']}."
        if baseline["unavailable"]
        else f"`before` runs `bus_seg` as of commit {baseline['commit']} (unpacked with `git "
        "archive`), the registration before coarse-to-fine reading, with its default settings."
    )
    return (
        f"Phantom cases with {args.core_mm:g} mm cores (seed {args.seed}), simulated at "
        f"{args.source_mpp:g} µm/px with {args.margin_mm:g} mm of glass around the core and written "
        f"as scanner slides (4× pyramids). Level-0 sizes (width×height): {slides}.\n\n"
        f"Each case registered {args.repeats} times per path (interleaved), each time in a fresh "
        "child process (`RegistrationSettings(qc=False)`; "
        "`tissue_regions` true = new, false = whole level). "
        f"{before} A case's time is the median of its repeats, inside `register_case`; its peak RSS is "
        "the highest child `VmHWM` (interpreter and libraries included). The references' children run with "
        f"`BUS_SEG_MAX_PIXELS={args.reference_budget}` so that they are measured, not "
        "refused; the new path keeps the default pixel budget. Ratios are medians over the cases "
        "that both paths registered; labels identical compares the new path with the whole-level "
        "read of this commit.\n\n"
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
        "--repeats",
        type=int,
        default=3,
        help="registrations of each case per path, interleaved; the case's time is their median",
    )
    parser.add_argument(
        "--baseline-commit",
        default=BASELINE_COMMIT,
        help="commit whose registration is the 'before' path ('none' to skip it)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="threads of each child (OMP_NUM_THREADS, OpenCV)"
    )
    return parse_benchmark_args(parser, argv, QUICK, HERE)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    settings = {k: v for k, v in vars(args).items() if k not in ("out_dir", "threads", "seed")}
    record = BenchmarkRecord(
        "registration_scanner_resolution",
        "Registration at scanner resolution: coarse-to-fine against whole-level reading",
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
