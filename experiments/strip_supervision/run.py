"""Strip supervision study: which training objective lets a model localize cancer from strips.

Every arm trains the same model, image size, epochs and split (``data.split_seed`` fixed) with
``bus-seg-train``, for each training seed; only the objective or the labels change:

- ``ce``: partial cross-entropy on the registered strip (the baseline);
- ``ce_crf``, ``ce_compact``, ``ce_entropy``: plus one regulariser (``conf/regulariser``);
- ``ce_compact_crf``: compactness prior and gated CRF together;
- ``ce_compact_crf_entropy``: all three (the default of ``make run`` and ``busi_strip``);
- ``roi``: the default method plus ``data.weak_labels=lesion_roi`` (outside the lesion box is
  non-cancer: weak knowledge, not histology) and the box prior (``ce_compact_crf_entropy_box``);
- ``full``: the whole lesion masks as labels (``data.labels=lesion_mask``), the upper bound.

Cohorts: ``phantom`` (``experiment=default_pipeline``) and ``busi`` (``experiment=busi_strip``;
its ``roi`` and ``full`` arms are ``busi_strip_roi`` and ``busi_full``). Each run is scored by its
own test step at native resolution (whole-lesion Dice, lesion precision, cancer area predicted
outside the lesion, strip Dice; ``test/*`` of its ``metrics.json``), and ``bus-seg-compare``
tests each arm against ``ce`` on the same test images, with the seeds of an arm averaged per
image. Finished runs are kept, so an interrupted study resumes where it stopped.

    python experiments/strip_supervision/run.py --cohort phantom --seeds 1 2 3
    python experiments/strip_supervision/run.py --cohort busi --arms ce ce_compact_crf roi full
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
COHORTS = {"phantom": "default_pipeline", "busi": "busi_strip"}
ARMS = (
    "ce",
    "ce_crf",
    "ce_compact",
    "ce_entropy",
    "ce_compact_crf",
    "ce_compact_crf_entropy",
    "roi",
    "full",
)
MEASURES = {
    "test/lesion_dice": "whole-lesion Dice",
    "test/lesion_precision": "lesion precision",
    "test/lesion_fp_area_mm2": "cancer outside lesion (mm²)",
    "test/dice": "strip Dice (pooled)",
    "test/per_image_dice": "strip Dice (per image)",
}


def overrides(cohort: str, arm: str, seed: int) -> list[str]:
    """The ``bus-seg-train`` overrides of one run."""
    experiment = COHORTS[cohort]
    if arm == "roi":
        extra = (
            ["experiment=busi_strip_roi"]
            if cohort == "busi"
            else [
                f"experiment={experiment}",
                "data.weak_labels=lesion_roi",
                "loss=ce_compact_crf_entropy_box",
            ]
        )
    elif arm == "full":
        extra = (
            ["experiment=busi_full"]
            if cohort == "busi"
            else [f"experiment={experiment}", "data.labels=lesion_mask", "loss=ce_dice"]
        )
    else:
        extra = [f"experiment={experiment}", f"loss={arm}"]
    return [*extra, f"seed={seed}"]


def run_arm(cohort: str, arm: str, seed: int, out: Path, extra: Sequence[str]) -> dict:
    """Train and test one run (kept when its metrics.json exists); its test metrics."""
    metrics_file = out / "metrics.json"
    if not metrics_file.is_file():
        command = [
            sys.executable,
            "-m",
            "bus_seg.cli.train",
            *overrides(cohort, arm, seed),
            *extra,
            f"hydra.run.dir={out}",
        ]
        start_wall, start_cpu = time.perf_counter(), os.times()
        out.mkdir(parents=True, exist_ok=True)
        with open(out.parent / f"{out.name}.log", "w") as log:
            subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
        end_cpu = os.times()
        cost = {
            "wall_s": round(time.perf_counter() - start_wall, 1),
            "cpu_s": round(
                end_cpu.children_user
                + end_cpu.children_system
                - start_cpu.children_user
                - start_cpu.children_system,
                1,
            ),
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        }
        (out / "study_cost.json").write_text(json.dumps(cost))
    document = json.loads(metrics_file.read_text())
    cost_file = out / "study_cost.json"
    return {
        "metrics": {k: document["metrics"].get(k) for k in MEASURES},
        "cost": json.loads(cost_file.read_text()) if cost_file.is_file() else None,
        "best_checkpoint": document.get("best_checkpoint"),
    }


def summarise(results: dict[str, dict[int, dict]]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean and sample SD across seeds of each measure, per arm (NaN values left out)."""
    summary = {}
    for arm, by_seed in results.items():
        summary[arm] = {}
        for key in MEASURES:
            values = [r["metrics"][key] for r in by_seed.values() if r["metrics"][key] is not None]
            summary[arm][key] = {
                "mean": statistics.fmean(values) if values else None,
                "sd": statistics.stdev(values) if len(values) > 1 else None,
                "n_seeds": len(values),
            }
    return summary


def compare(cohort_dir: Path, arms: Sequence[str], seeds: Sequence[int]) -> Path | None:
    """``bus-seg-compare`` of every arm (seeds averaged per image); its output folder."""
    if len(arms) < 2:
        return None
    spec = ",".join(
        f"{arm}:[{','.join(str(cohort_dir / arm / f'seed{s}') for s in seeds)}]" for arm in arms
    )
    out = cohort_dir / "comparison"
    command = [
        sys.executable,
        "-m",
        "bus_seg.cli.compare",
        f"arms={{{spec}}}",
        f"out_dir={out}",
        f"hydra.run.dir={out}/.hydra_run",
    ]
    with open(cohort_dir / "comparison.log", "w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    return out


def markdown(cohort: str, summary: dict, results: dict) -> str:
    lines = [
        f"## {cohort}",
        "",
        "| arm | " + " | ".join(MEASURES.values()) + " | seeds | wall / CPU per run (s) |",
        "|---|" + "---|" * (len(MEASURES) + 2),
    ]
    for arm, measures in summary.items():
        cells = []
        for key in MEASURES:
            m = measures[key]
            cells.append(
                "n/a"
                if m["mean"] is None
                else f"{m['mean']:.3f}" + (f" ± {m['sd']:.3f}" if m["sd"] is not None else "")
            )
        costs = [r["cost"] for r in results[arm].values() if r["cost"]]
        cost = (
            " / ".join(f"{statistics.fmean(c[k] for c in costs):.0f}" for k in ("wall_s", "cpu_s"))
            if costs
            else "n/a"
        )
        lines.append(f"| {arm} | " + " | ".join(cells) + f" | {len(results[arm])} | {cost} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cohort", choices=sorted(COHORTS), required=True)
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--work-dir", type=Path, default=Path("logs/strip_supervision"))
    parser.add_argument("--out-dir", type=Path, default=HERE / "results")
    parser.add_argument(
        "overrides",
        nargs="*",
        help="extra bus-seg-train overrides for every run (e.g. trainer.max_epochs=2)",
    )
    args = parser.parse_args(argv)
    cohort_dir = args.work_dir.resolve() / args.cohort
    results = {
        arm: {
            s: run_arm(args.cohort, arm, s, cohort_dir / arm / f"seed{s}", args.overrides)
            for s in args.seeds
        }
        for arm in args.arms
    }
    summary = summarise(results)
    comparison = compare(cohort_dir, args.arms, args.seeds)
    from bus_seg.provenance import provenance

    record = {
        "cohort": args.cohort,
        "command": " ".join(
            [
                "python",
                "experiments/strip_supervision/run.py",
                *(argv if argv is not None else sys.argv[1:]),
            ]
        ),
        "arms": args.arms,
        "seeds": args.seeds,
        "overrides": args.overrides,
        "summary": summary,
        "runs": {arm: {str(s): r for s, r in by_seed.items()} for arm, by_seed in results.items()},
        **provenance(),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{args.cohort}.json").write_text(json.dumps(record, indent=2, default=str))
    text = markdown(args.cohort, summary, results)
    if comparison is not None and (comparison / "comparison.md").is_file():
        (args.out_dir / f"{args.cohort}_comparison.md").write_text(
            (comparison / "comparison.md").read_text()
        )
    (args.out_dir / f"{args.cohort}.md").write_text(
        f"- command: `{record['command']}`\n- commit: {record.get('commit')}\n\n" + text
    )
    print(text)
    return record


if __name__ == "__main__":
    main()
