"""Record a paper-replication run: copy its reports, write results.{json,md}, update the README.

Called by ``run.sh`` (and again by hand to re-render from the same runs):

    python experiments/paper_replication/summarize.py names RUN_ROOT
    python experiments/paper_replication/summarize.py record RUN_ROOT --profile cpu

``RUN_ROOT`` is one run.sh invocation's folder (``logs/paper_replication/<profile>/<date-time>``)
holding ``cohort.json``, ``timings.tsv``, ``commit.txt``, ``git_status.txt``, ``invocation.txt``
and the two training runs ``fcn/`` and ``deeplabv3/``; the comparison is read from
``experiments/paper_replication/<profile>/comparison.json`` (bus-seg-compare's output). Every
number written here comes from those files; only the paper's figures are constants (``PAPER``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bus_seg.io.atomic import write_json_atomic, write_text_atomic
from bus_seg.provenance import provenance

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SLOTS = ("fcn", "deeplabv3")
SHORT_NAMES = {
    "fcn_resnet101": "FCN-101",
    "deeplabv3_resnet101": "DeepLabV3-101",
    "smp.Unet": "tiny U-Net",
    "smp.DeepLabV3Plus": "DeepLabV3+",
}
PROFILES = ("cpu", "gpu", "default")
PAPER_METRICS = {"pixel_acc": "pixel accuracy", "dice": "Dice", "recall": "recall"}
PAPER = {
    "models": {"fcn": "FCN-101", "deeplabv3": "DeepLabV3"},
    "test": {
        "fcn": {"pixel_acc": 0.8691, "dice": 0.7747, "recall": 0.5464},
        "deeplabv3": {"pixel_acc": 0.6955, "dice": 0.6990, "recall": 0.5846},
    },
    "split_images": {"train": 270, "val": 78, "test": 38},
}
PROFILE_TEXT = {
    "cpu": "CPU-scaled replication on the BUSI-derived cohort (data=busi_tract)",
    "gpu": "the full recipe on a GPU on the BUSI-derived cohort (data=busi_tract)",
    "default": "the embedded default phantom cohort with CPU-small stand-in models "
    "(a check of the whole chain, not a replication)",
}
FROM_SCRATCH = "cohort_from_scratch.json"
"""prepare_cohort.py's record of the same cohort built with an empty cache, kept in <profile>/."""
DEGENERATE_ACCURACY = 0.1
"""Below this per-image accuracy on one class, a model is flagged as predicting the other one."""
README_BEGIN = "<!-- results:begin (written by summarize.py; do not edit by hand) -->"
README_END = "<!-- results:end -->"
COPIED_FILES = (
    "report.md",
    "confusion.png",
    "confusion_counts.csv",
    "confusion_normalized.csv",
    "per_image.csv",
    "metrics.json",
)


def display_names(run_root: Path) -> list[str]:
    """Short display names of the training runs' models, in slot order."""
    names = [_config(run_root / slot)["model"]["name"] for slot in SLOTS]
    return [SHORT_NAMES.get(name, name) for name in names]


def _config(run_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _read_timings(path: Path) -> dict[str, dict[str, Any]]:
    """``timings.tsv`` (step, seconds, arguments) as step -> {wall_s, command}.

    Programs in the virtual environment are shown by name and paths inside the repository
    relative to it, so the commands read as typed from the repository root.
    """
    steps = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for step, seconds, arguments in csv.reader(handle, delimiter="\t"):
            words = [_shown(word) for word in arguments.split("\x1f") if word]
            steps[step] = {"wall_s": float(seconds), "command": shlex.join(words)}
    return steps


def _shown(word: str) -> str:
    for prefix in (f"{ROOT}/.venv/bin/", f"{ROOT}/"):
        word = word.replace(prefix, "")
    return word


def _test_figures(document: dict[str, Any]) -> dict[str, Any]:
    """Pooled and per-image figures of the paper's metrics (plus whole-lesion Dice)."""
    evaluation = document["metrics"]
    figures: dict[str, Any] = {"pooled": {}, "per_image_mean": {}, "per_image_sd": {}, "n": {}}
    for metric in (*PAPER_METRICS, "lesion_dice"):
        if metric in PAPER_METRICS and f"test/{metric}" in evaluation:
            figures["pooled"][metric] = evaluation[f"test/{metric}"]
        for statistic, key in (("mean", "per_image_mean"), ("sd", "per_image_sd"), ("n", "n")):
            figures[key][metric] = evaluation.get(f"test/per_image/{metric}/{statistic}")
    figures["n_images"] = document["evaluation"]["n_images"]
    return figures


def _run_record(run_dir: Path, timing: dict[str, Any]) -> dict[str, Any]:
    config = _config(run_dir)
    document = _read_json(run_dir / "metrics.json")
    split = pd.read_csv(run_dir / "split.csv")["subset"].value_counts()
    return {
        "model": config["model"]["name"],
        "experiment": config.get("experiment_name"),
        "command": timing["command"],
        "wall_s": timing["wall_s"],
        "seed": document["seed"],
        "commit": document["provenance"]["commit"],
        "epochs": document["epochs_completed"],
        "image_size": config["data"]["image_size"],
        "batch_size": config["data"]["batch_size"],
        "trainer": {k: config["trainer"].get(k) for k in ("accelerator", "devices", "precision")},
        "split_images": {name: int(split.get(name, 0)) for name in ("train", "val", "test")},
        "val_dice_best": document["metrics"].get("val/dice_best"),
        "val_dice_last": document["metrics"].get("val/dice"),
        "test": _test_figures(_read_json(run_dir / "test" / "metrics.json")),
    }


def _copy_evaluation(run_dir: Path, dest: Path) -> None:
    """The run's test report, tables and figures (overlays included) into ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in COPIED_FILES:
        shutil.copy2(run_dir / "test" / name, dest / name)
    shutil.copytree(run_dir / "test" / "overlays", dest / "overlays")
    shutil.copy2(run_dir / "config.yaml", dest / "config.yaml")


def _comparison_rows(comparison: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["metric"]: row for row in comparison["tests"]}


def record(run_root: Path, profile: str) -> dict[str, Any]:
    """Copy the runs' reports into ``<profile>/`` and write ``<profile>/results.json``."""
    dest = HERE / profile
    timings = _read_timings(run_root / "timings.tsv")
    runs = {slot: _run_record(run_root / slot, timings[slot]) for slot in SLOTS}
    for slot in SLOTS:
        _copy_evaluation(run_root / slot, dest / slot)
    comparison = _read_json(dest / "comparison.json")
    uncommitted = (run_root / "git_status.txt").read_text(encoding="utf-8").split("\n")
    facts = provenance()
    scratch = dest / FROM_SCRATCH
    result = {
        "profile": profile,
        "description": PROFILE_TEXT[profile],
        "invocation": (run_root / "invocation.txt").read_text(encoding="utf-8").strip(),
        "commit": (run_root / "commit.txt").read_text(encoding="utf-8").strip(),
        "uncommitted_changes": [line for line in uncommitted if line.strip()],
        "run_root": str(run_root),
        "date": facts["date"],
        "machine": facts["machine"],
        "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
        "cohort": {**_read_json(run_root / "cohort.json"), **timings["cohort"]},
        "cohort_from_scratch": _read_json(scratch) if scratch.is_file() else None,
        "runs": runs,
        "comparison": {
            "command": timings["compare"]["command"],
            "wall_s": timings["compare"]["wall_s"],
            "runs": comparison["runs"],
            "settings": comparison["settings"],
            "tests": _comparison_rows(comparison),
        },
        "paper": PAPER,
    }
    write_json_atomic(dest / "results.json", result)
    return result


def _percent(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{100 * value:.2f}%"


def _p_value(value: float | None) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _here_cell(figures: dict[str, Any], metric: str) -> str:
    mean, sd = figures["per_image_mean"].get(metric), figures["per_image_sd"].get(metric)
    pooled = figures["pooled"].get(metric)
    cell = _percent(mean)
    if sd is not None:
        cell += f" ± {100 * sd:.2f}"
    return cell + (f" ({_percent(pooled)})" if pooled is not None else "")


def profile_markdown(result: dict[str, Any]) -> str:
    """The Markdown section of one profile: provenance, cohort, side-by-side table, files."""
    profile, runs = result["profile"], result["runs"]
    names = dict(zip(SLOTS, result["comparison"]["runs"], strict=True))
    paper_names = PAPER["models"]
    tests = result["comparison"]["tests"]
    lines = [
        f"### Profile `{profile}`: {result['description']}",
        "",
        f"`{result['invocation']}` on {result['date']}, commit `{result['commit']}`"
        + (
            f" with {len(result['uncommitted_changes'])} uncommitted tracked file(s)"
            if result["uncommitted_changes"]
            else ""
        )
        + f"; {result['machine']['cpus']} CPUs ({result['machine']['cpu_model']}), GPU: "
        f"{result['machine']['gpu'] or 'none'}, torch {result['machine']['torch']}. Wall times "
        "are those of a machine shared with other work: load average (1, 5, 15 min) "
        f"{', '.join(f'{v:g}' for v in result['load_average_at_end'])} when this was recorded.",
        "",
    ]
    cohort = result["cohort"]
    split_here = runs["fcn"]["split_images"]
    paper_split = PAPER["split_images"]
    lines += [
        f"Cohort: {cohort['registered_ok']} of {cohort['cases']} cases registered "
        f"({cohort['registration_failed']} failed); simulation {cohort['simulate_s']} s"
        f"{' (cached)' if cohort['simulation_cached'] else ''}, registration {cohort['register_s']} s"
        f" ({cohort['registration_cached_cases']} cases cached) with {cohort['workers']} workers; "
        f"simulation seed {cohort['simulation_seed']}, split seed {cohort['split_seed']}. "
        f"Images train/val/test: {split_here['train']}/{split_here['val']}/{split_here['test']} "
        f"here, {paper_split['train']}/{paper_split['val']}/{paper_split['test']} in the paper.",
    ]
    scratch = result.get("cohort_from_scratch")
    if scratch:
        command = shlex.join(
            [
                "python",
                "experiments/paper_replication/prepare_cohort.py",
                FROM_SCRATCH,
                *scratch["overrides"],
            ]
        )
        lines += [
            "",
            f"The same cohort built from scratch (empty cache; `{command}`): "
            f"{scratch['registered_ok']} of {scratch['cases']} cases, simulation "
            f"{scratch['simulate_s']} s and registration {scratch['register_s']} s with "
            f"{scratch['workers']} workers.",
        ]
    lines += [
        "",
        "| run | model | image side | batch | epochs | seed | val Dice, last epoch (best) | wall time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for slot in SLOTS:
        run = runs[slot]
        lines.append(
            f"| {slot} | {run['model']} | {run['image_size']} | {run['batch_size']} | "
            f"{run['epochs']} | {run['seed']} | {_percent(run['val_dice_last'])} "
            f"({_percent(run['val_dice_best'])}) | "
            f"{run['wall_s'] / 60:.1f} min |"
        )
    n_test = runs["fcn"]["test"]["n_images"]
    lines += [
        "",
        f"Test set: {n_test} images. Here: per-image mean ± SD over the images where the metric "
        "is defined (pooled over all labelled test pixels in brackets); P: paired tests over the "
        "images (Wilcoxon signed-rank, paired t), from bus-seg-compare.",
        "",
        f"| metric | {paper_names['fcn']} (paper) | {names['fcn']} (here) | "
        f"{paper_names['deeplabv3']} (paper) | {names['deeplabv3']} (here) | P (Wilcoxon) | P (t) |",
        "|---|---|---|---|---|---|---|",
    ]
    for metric, label in PAPER_METRICS.items():
        row = tests[metric]
        lines.append(
            f"| {label} | {_percent(PAPER['test']['fcn'][metric])} | "
            f"{_here_cell(runs['fcn']['test'], metric)} | "
            f"{_percent(PAPER['test']['deeplabv3'][metric])} | "
            f"{_here_cell(runs['deeplabv3']['test'], metric)} | "
            f"{_p_value(row['p_wilcoxon'])} | {_p_value(row['p_ttest'])} |"
        )
    for metric in ("cancer pixels", "non-cancer pixels"):
        if metric in tests:
            row = tests[metric]
            lines.append(
                f"| {metric} (per-image accuracy) | – | {_percent(row['mean_a'])} | – | "
                f"{_percent(row['mean_b'])} | {_p_value(row['p_wilcoxon'])} | "
                f"{_p_value(row['p_ttest'])} |"
            )
    lesion = [runs[slot]["test"]["per_image_mean"].get("lesion_dice") for slot in SLOTS]
    if all(value is not None for value in lesion):
        lines.append(
            f"| whole-lesion Dice (beyond the paper) | – | {_percent(lesion[0])} | – | "
            f"{_percent(lesion[1])} | | |"
        )
    for slot, side in (("fcn", "mean_a"), ("deeplabv3", "mean_b")):
        for metric, other in (("non-cancer pixels", "cancer"), ("cancer pixels", "non-cancer")):
            accuracy = tests.get(metric, {}).get(side)
            if accuracy is not None and accuracy < DEGENERATE_ACCURACY:
                lines += [
                    "",
                    f"Note: {names[slot]} predicts {other} on {100 * (1 - accuracy):.1f}% of the "
                    f"sampled {metric} (per-image mean): it has not learned to tell cancer from "
                    f"non-cancer along the strip, and its scores are close to those of predicting "
                    f"{other} everywhere.",
                ]
    lines += [
        "",
        f"Files: [comparison]({profile}/comparison.md) (with bootstrap CIs and pooled per-class "
        f"counts), [{names['fcn']} report]({profile}/fcn/report.md), "
        f"[{names['deeplabv3']} report]({profile}/deeplabv3/report.md), "
        f"[results.json]({profile}/results.json).",
        "",
        f"![Paired per-image values]({profile}/paired_plot.png)",
        "",
        f"| {names['fcn']} confusion | {names['deeplabv3']} confusion |",
        "|---|---|",
        f"| ![]({profile}/fcn/confusion.png) | ![]({profile}/deeplabv3/confusion.png) |",
        "",
        "Commands:",
        "",
        "```",
        *(
            f"{step}: {entry['command']}   # {entry['wall_s'] / 60:.1f} min"
            for step, entry in (
                ("cohort", {"command": cohort["command"], "wall_s": cohort["wall_s"]}),
                ("fcn", runs["fcn"]),
                ("deeplabv3", runs["deeplabv3"]),
                ("compare", result["comparison"]),
            )
        ),
        "```",
    ]
    return "\n".join(lines) + "\n"


def render_results() -> str:
    """``results.md`` from every profile recorded so far; also writes ``results.json``."""
    recorded = {
        profile: _read_json(HERE / profile / "results.json")
        for profile in PROFILES
        if (HERE / profile / "results.json").is_file()
    }
    write_json_atomic(HERE / "results.json", recorded)
    sections = [profile_markdown(result) for result in recorded.values()]
    if "gpu" not in recorded:
        sections.append(
            "### Profile `gpu`: not run yet\n\nNo GPU was available for the recorded runs. The "
            "full recipe runs with `PROFILE=gpu experiments/paper_replication/run.sh` on a "
            "machine with one CUDA GPU; this section is then written from its results.\n"
        )
    text = "## Results\n\n" + "\n".join(sections)
    write_text_atomic(HERE / "results.md", "# Paper replication: recorded results\n\n" + text)
    return text


def update_readme(section: str) -> None:
    """Replace the README's generated block with ``section``."""
    path = HERE / "README.md"
    text = path.read_text(encoding="utf-8")
    head, found, rest = text.partition(README_BEGIN)
    _, found_end, tail = rest.partition(README_END)
    if not (found and found_end):
        raise SystemExit(f"{path}: markers {README_BEGIN!r} … {README_END!r} not found")
    write_text_atomic(path, f"{head}{README_BEGIN}\n{section}{README_END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["names", "record", "render"])
    parser.add_argument("run_root", type=Path, nargs="?")
    parser.add_argument("--profile", choices=PROFILES)
    args = parser.parse_args()
    if args.action == "names":
        print("[" + ",".join(f'"{name}"' for name in display_names(args.run_root)) + "]")
        return
    if args.action == "record":
        if args.run_root is None or args.profile is None:
            parser.error("record needs RUN_ROOT and --profile")
        record(args.run_root, args.profile)
    update_readme(render_results())
    print(f"[paper_replication] results: {HERE / 'results.md'} and {HERE / 'README.md'}")


if __name__ == "__main__":
    main()
