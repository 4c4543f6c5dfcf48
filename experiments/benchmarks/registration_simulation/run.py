"""Simulation and registration per case: seconds per case (median, p90) of
:func:`bus_seg.simulate.simulate_cohort` (phantom, default settings) and of
:func:`bus_seg.registration.register_cohort` on its cohort (default registration, QC pictures
on), cold and cached, with 1 and 2 worker processes.

- Simulation per case: each case of the plan simulated on its own in this process
  (``simulate_case``, what a worker runs), timed one by one; then the whole cohort through
  ``simulate_cohort`` with each worker count (wall time / cases: the throughput).
- Registration per case: the ``seconds`` column of ``report.csv`` (time inside the process that
  handled the case), cold (fresh output folder) and cached (the same folder again), with each
  worker count, and the wall time of each call / cases. With workers > 1 the wall time includes
  starting the worker processes.

    python experiments/benchmarks/registration_simulation/run.py              # 12 cases, workers 1 and 2
    python experiments/benchmarks/registration_simulation/run.py --cases 40
    python experiments/benchmarks/registration_simulation/run.py --quick
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from recording import (  # noqa: E402
    BenchmarkRecord,
    markdown_table,
    median,
    p90,
    parse_benchmark_args,
    use_threads,
)

from bus_seg.registration import RegistrationSettings, register_cohort  # noqa: E402
from bus_seg.simulate import SimulationSettings, simulate_cohort  # noqa: E402
from bus_seg.simulate.case import simulate_case  # noqa: E402
from bus_seg.simulate.sources import plan_cases  # noqa: E402

QUICK = {"cases": 1, "workers": [1]}


def time_cases_one_by_one(settings: SimulationSettings, work: Path) -> list[float]:
    """Seconds of each case of the plan, simulated in this process."""
    seconds = []
    for job in plan_cases(settings):
        start = time.perf_counter()
        simulate_case(job, settings, work)
        seconds.append(time.perf_counter() - start)
    return seconds


def stats(seconds: Sequence[float]) -> dict[str, float]:
    return {
        "median_s": median(seconds),
        "p90_s": p90(seconds),
        "max_s": max(seconds),
        "total_s": sum(seconds),
    }


def simulation_config(args: argparse.Namespace) -> dict[str, Any]:
    """Simulator settings: the defaults, or cores of ``--core-mm`` scanned at ``--wsi-mpp``."""
    config: dict[str, Any] = {"num_cases": args.cases, "seed": args.seed}
    if args.core_mm is not None:
        config["tract"] = {"segment_length_mm": [args.core_mm, args.core_mm]}
    if args.wsi_mpp is not None:
        config["wsi"] = {"mpp": args.wsi_mpp}
    return config


def describe_cohort(args: argparse.Namespace) -> str:
    core = f"{args.core_mm:g} mm cores" if args.core_mm is not None else "cores of 8–16 mm"
    mpp = args.wsi_mpp if args.wsi_mpp is not None else 4.0
    return f"256×256 at 0.15 mm, {core}, WSI at {mpp:g} µm/px"


def target_verdict(results: dict[str, Any], args: argparse.Namespace) -> str:
    """The registration issue's target: ≤ 1 s per case (cold, one worker) for a 20 mm core at 2 µm/px."""
    cold = results["registration"].get("cold_workers1")
    if cold is None or args.core_mm != 20.0 or args.wsi_mpp != 2.0:
        return ""
    met = "met" if cold["median_s"] <= 1.0 else "NOT met"
    return (
        f"\nTarget ≤ 1 s per case for a 20 mm core at 2 µm/px (cold, one worker, median): **{met}** "
        f"({cold['median_s']:.2f} s; p90 {cold['p90_s']:.2f} s).\n"
    )


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    settings = SimulationSettings.from_config(simulation_config(args))
    results: dict[str, Any] = {"simulation": {}, "registration": {}}
    per_case = time_cases_one_by_one(settings, work / "one_by_one")
    results["simulation"]["per_case_in_process"] = {**stats(per_case), "seconds": per_case}
    manifests = {}
    for workers in args.workers:
        start = time.perf_counter()
        manifests[workers] = simulate_cohort(
            work / f"cohort_w{workers}", settings, progress=False, workers=workers
        )
        wall = time.perf_counter() - start
        results["simulation"][f"cohort_workers{workers}"] = {
            "wall_s": wall,
            "wall_s_per_case": wall / args.cases,
        }
        print(f"simulate_cohort workers={workers}: {wall:.1f} s", flush=True)
    registration = RegistrationSettings()
    manifest = manifests[args.workers[0]]
    for workers in args.workers:
        out = work / f"registered_w{workers}"
        for state in ("cold", "cached"):
            start = time.perf_counter()
            result = register_cohort(manifest, out, registration, workers=workers, progress=False)
            wall = time.perf_counter() - start
            report = result.report
            ok = report[report["status"] == "ok"]
            results["registration"][f"{state}_workers{workers}"] = {
                **stats(report["seconds"].astype(float).tolist()),
                "wall_s": wall,
                "wall_s_per_case": wall / len(report),
                "cases": len(report),
                "registered": len(ok),
                "cache_hits": int(report["cached"].fillna(False).astype(bool).sum()),
            }
            print(f"register_cohort workers={workers} {state}: {wall:.1f} s", flush=True)
    return results


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    sim = results["simulation"]
    one = sim["per_case_in_process"]
    sim_rows = [
        [
            "per case, one by one in this process",
            f"{one['median_s']:.2f}",
            f"{one['p90_s']:.2f}",
            f"{one['max_s']:.2f}",
            "–",
        ]
    ]
    for workers in args.workers:
        entry = sim[f"cohort_workers{workers}"]
        sim_rows.append(
            [
                f"`simulate_cohort`, workers={workers}",
                "–",
                "–",
                "–",
                f"{entry['wall_s_per_case']:.2f}",
            ]
        )
    reg_rows = []
    for workers in args.workers:
        for state in ("cold", "cached"):
            r = results["registration"][f"{state}_workers{workers}"]
            reg_rows.append(
                [
                    f"{state}, workers={workers}",
                    f"{r['median_s']:.3f}",
                    f"{r['p90_s']:.3f}",
                    f"{r['max_s']:.3f}",
                    f"{r['wall_s_per_case']:.3f}",
                    f"{r['registered']}/{r['cases']} ({r['cache_hits']} cache hits)",
                ]
            )
    cold1 = results["registration"]["cold_workers1"] if 1 in args.workers else None
    cached1 = results["registration"]["cached_workers1"] if 1 in args.workers else None
    note = ""
    if cold1 and cached1:
        note = (
            f"\nWith one worker a cached case costs {cached1['median_s'] * 1000:.1f} ms (median) against "
            f"{cold1['median_s']:.2f} s to register it: {cold1['median_s'] / cached1['median_s']:.0f}× less.\n"
        )
    return (
        f"Phantom cohort of {args.cases} cases ({describe_cohort(args)}, "
        f"seed {args.seed}); registration `RegistrationSettings()` defaults (= `registration=fit_tract_profile`, "
        f"QC pictures on).\n\n## Simulation (seconds per case)\n\n"
        + markdown_table(["how", "median", "p90", "max", "wall / case"], sim_rows)
        + "\n\n## Registration (seconds per case)\n\n"
        + markdown_table(["run", "median", "p90", "max", "wall / case", "registered"], reg_rows)
        + "\n"
        + note
        + target_verdict(results, args)
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads of this process")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed")
    parser.add_argument(
        "--core-mm", type=float, default=None, help="core length (default: 8-16 mm)"
    )
    parser.add_argument("--wsi-mpp", type=float, default=None, help="WSI µm/px (default: 4)")
    return parse_benchmark_args(parser, argv, QUICK, HERE)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    use_threads(args.threads)
    settings = {k: v for k, v in vars(args).items() if k not in ("out_dir", "threads", "seed")}
    record = BenchmarkRecord(
        "registration_simulation",
        "Simulation and registration per case",
        args.seed,
        args.threads,
        settings,
        argv,
    )
    with tempfile.TemporaryDirectory(prefix="bench_registration_") as work:
        results = measure(args, Path(work))
    record.write(args.out_dir, results, report(results, args))
    print((args.out_dir / "results.md").read_text())
    return results


if __name__ == "__main__":
    main()
