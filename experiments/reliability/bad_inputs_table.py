"""Write ``docs/reliability.md``, with its bad-input table measured from the test suite itself.

Usage (from the repository root):
    .venv/bin/python experiments/reliability/bad_inputs_table.py [pytest paths or options ...]

It runs the fast tests (``-m "not slow"``, one process, default: the bad-input tests in
``tests/reliability``, ``tests/io``, ``tests/registration`` and ``tests/test_validate.py``) with a
recorder that notes, for each test,

- every exception a ``pytest.raises`` block caught that is a :class:`~bus_seg.errors.BusSegError`
  (the errors bad input gets), with its message as raised;
- every problem ``bus_seg.data.validation`` reported (``bus-seg-validate``'s lines);
- every failed case of ``register_cohort`` (the ``error`` column of ``report.csv``).

Then it writes the whole page ``docs/reliability.md``: resume, NaN guard, atomic outputs,
bounded memory, empty scores, failures kept in their rows, privacy, W&B, fuzzing, and the table
"bad input → message → test", one row per distinct message and test. Machine paths in messages
are shown as ``<tmp>``/``<repo>``. The page says the command, commit and date it was measured with.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "reliability.md"
DEFAULT_ARGS = [
    "tests/reliability",
    "tests/io",
    "tests/registration",
    "tests/test_validate.py",
    "-m",
    "not slow",
    "-q",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:randomly",
]
MAX_MESSAGE_CHARS = 600
TMP_PATH = re.compile(r"(?:/private)?/tmp/pytest-of-[^/]+/pytest-\d+/[^/\s'\";,)]+")
OTHER_TMP = re.compile(r"(?:/private)?/(?:var/folders/[^\s'\";,)]+?/T|tmp)/tmp[\w-]+")


@dataclass(frozen=True)
class Finding:
    """One message bus_seg gave to bad input during one test."""

    test: str
    source: str  # "raises" | "validate" | "register"
    kind: str  # exception class or problem severity
    message: str


class BadInputRecorder:
    """A pytest plugin that records :class:`Finding` rows while the tests run."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.current = "collection"
        self.other_raises = 0

    def install(self) -> None:
        """Wrap ``pytest.raises``, the validation checks and ``register_cohort`` (before the test
        modules import them)."""
        import bus_seg.data.validation as validate
        import bus_seg.registration.pipeline as pipeline

        pytest.raises = self._wrap_raises(pytest.raises)
        for name in ("check_cohort", "check_mask_folder"):
            setattr(validate, name, self._wrap_validation(getattr(validate, name)))
        pipeline.register_cohort = self._wrap_registration(pipeline.register_cohort)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> object:
        self.current = item.nodeid
        return (yield)

    def record(self, source: str, kind: str, message: str) -> None:
        self.findings.append(Finding(self.current, source, kind, message))

    def record_exception(self, error: BaseException | None) -> None:
        from bus_seg.errors import BusSegError

        if isinstance(error, BusSegError):
            self.record("raises", type(error).__name__, str(error))
        elif error is not None:
            self.other_raises += 1

    def _wrap_raises(self, raises: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        class Recording:
            def __init__(self, context: Any) -> None:
                self.context = context

            def __enter__(self) -> Any:
                return self.context.__enter__()

            def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> bool:
                recorder.record_exception(error)
                return self.context.__exit__(kind, error, traceback)

            def __getattr__(self, name: str) -> Any:
                return getattr(self.context, name)

        def recording_raises(*args: Any, **kwargs: Any) -> Any:
            result = raises(*args, **kwargs)
            if len(args) > 1:  # pytest.raises(Error, function, ...): the call already ran
                recorder.record_exception(result.value)
                return result
            return Recording(result)

        return recording_raises

    def _wrap_validation(self, check: Callable[..., Any]) -> Callable[..., Any]:
        def recording_check(*args: Any, **kwargs: Any) -> Any:
            report = check(*args, **kwargs)
            for problem in report.problems:
                self.record("validate", problem.severity, f"{problem.where}: {problem.message}")
            return report

        return recording_check

    def _wrap_registration(self, register: Callable[..., Any]) -> Callable[..., Any]:
        def recording_register(*args: Any, **kwargs: Any) -> Any:
            try:
                result = register(*args, **kwargs)
            except Exception as error:
                self.record_exception(error)
                raise
            failed = result.report[result.report["status"] != "ok"]
            for case_id, error in zip(failed["case_id"], failed["error"], strict=True):
                self.record("register", "failed case", f"{case_id}: {error}")
            return result

        return recording_register


def clean(message: str) -> str:
    """The message for a Markdown cell: temporary folders as <tmp>, the repository as <repo>,
    the shared data as $BUS_SEG_DATA, one line, pipes escaped, at most
    :data:`MAX_MESSAGE_CHARS` characters."""
    from bus_seg.paths import shared_data_root

    text = TMP_PATH.sub("<tmp>", message).replace(str(shared_data_root()), "$BUS_SEG_DATA")
    text = text.replace(str(REPO), "<repo>")
    text = OTHER_TMP.sub("<tmp>", text).replace(str(Path.home()), "<home>")
    text = " ⏎ ".join(line.strip() for line in text.splitlines() if line.strip())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text.replace("|", "\\|")


def area_of(test: str) -> str:
    """``tests/io/test_manifest.py::...`` -> ``io/manifest``."""
    path = Path(test.split("::", 1)[0])
    parts = [*path.parent.parts[1:], path.stem.removeprefix("test_")]
    return "/".join(parts)


def bad_input_of(test: str) -> str:
    """A readable name of what the test feeds in: its function name and parameter id."""
    name = test.split("::")[-1]
    function, _, params = name.partition("[")
    words = function.removeprefix("test_").replace("_", " ")
    return f"{words} [{clean(params.rstrip(']'))}]" if params else words


def table(findings: list[Finding]) -> list[str]:
    rows, seen = [], set()
    for finding in sorted(findings, key=lambda f: (area_of(f.test), f.test, f.source, f.message)):
        key = (finding.test, finding.kind, clean(finding.message))
        if key in seen:
            continue
        seen.add(key)
        test = finding.test.replace("|", "\\|")
        rows.append(
            f"| {area_of(finding.test)} | {bad_input_of(finding.test)} | {finding.source}: {finding.kind} "
            f"| {clean(finding.message)} | `{test}` |"
        )
    return [
        "| area | bad input (test) | how it surfaces | message bus_seg gives | test |",
        "|---|---|---|---|---|",
        *rows,
    ]


SECTIONS = """\
<!-- Generated by experiments/reliability/bad_inputs_table.py: edit the script, not this page. -->
# Reliability and data safety

bus_seg handles patient data and long training runs: it fails early and clearly on bad input,
survives interruptions without losing work, and keeps patient identity out of everything it
writes. Every statement below is checked by a test in `make test` unless marked `make test-slow`.

## Resume after a kill

Every training run writes `checkpoints/last.ckpt` at every epoch end and every
`callbacks.step_checkpoint.every_n_train_steps` steps (100 by default), whatever the `callbacks`
group holds (the callbacks resume needs are added in code: `bus_seg/training/resume.py`, so a
custom callbacks file cannot break resume). A run killed at any
moment (SIGKILL, OOM, a lost node) resumes from it with `ckpt_path=last`, or automatically when
it is started again in the same output folder (`hydra.run.dir=<run dir>`), and ends with the
same metrics as an uninterrupted run with the same seed (CPU, `trainer.deterministic=true`):
the weights, optimizer and LR-scheduler state, the data order and augmentation (seeded per
epoch and per item, `bus_seg/data/sampling.py`), the position in the epoch, the global random
states (`RandomStateInCheckpoint`) and best-so-far values such as `val/dice_best`
(`AggregatorStatesInCheckpoint`) are all in the checkpoint. Lightning restores a stateful
training loader only when it builds the loader after loading the checkpoint, which a per-step
LR scheduler prevents (it asks for `trainer.estimated_stepping_batches` first), so
`TrainLoaderPositionInCheckpoint` puts the position back itself.

One figure is not exact: the epoch mean `train/loss` (`train/loss_epoch`) of the epoch in which
the kill happened averages only the batches trained after the resume (Lightning does not
checkpoint its running means). Every other figure, and every later epoch, is identical.

Tests: `tests/reliability/test_kill_resume.py` (a `bus-seg-train` process SIGKILLed in the
middle of epoch 1 resumes with `ckpt_path=last` and automatically, compared with an uninterrupted
run: every metric in `metrics.json` equal; `make test-slow`: killed twice and resumed through the
command line each time).

## NaN and inf

`bus_seg.training.nan_guard.NonFiniteGuard` (in the default callbacks) stops training with a
`TrainingDivergedError` (a `BusSegError`: `bus-seg-train` prints one line and exits with
status 2) that names the global step, epoch, batch index and image ids, when the loss is not
finite (before backward), when the gradients are not finite (before the optimizer step, so the
weights are never updated with them; skipped under a mixed-precision grad scaler, which skips
such steps itself), or when the weights became non-finite in the step (checked before Lightning's
checkpoint callbacks run, so no `last.ckpt` with NaN weights is ever written). The message names
the last good checkpoint that was kept. Tests: `tests/reliability/test_nan_guard.py` (a NaN
loss, NaN gradients and `optimizer.lr=1e30`).

## Atomic outputs and caches

Every file bus_seg writes goes through `bus_seg.io.atomic` (a temporary file beside the target,
then `os.replace`), so a kill at any moment leaves the old file or the new one, never a part of
one; Lightning writes checkpoints in an fsspec transaction. The registration cache writes a
case's entry last, as the commit marker after its label map and QC picture, so an interrupted
case is registered again by the next run and a tampered label map is detected by its hash.
Tests: `tests/reliability/test_atomic_kill.py` (a process SIGKILLed mid-write),
`tests/registration/test_registration_cache.py`.

## Bounded memory on any file

A small file can claim a huge image: a 112 kB tiled TIFF that declares 30000×30000 RGB, a
deflated DICOM of 1.5 MB that inflates to 1.6 GB. Every reader in `bus_seg.io` checks the size
stated in the file's header against a pixel budget before it decodes anything
(`bus_seg/io/pixel_budget.py`): WSI levels (and, for a region read tile by tile, the region
decoded, never the declared level-0 size of a pyramid), ultrasound PNG/JPEG/TIFF, DICOM
(frames × rows × columns × samples, read without the pixel data; a deflated file is inflated
only as far as its header), label images and lesion masks. The budget counts decoded values
(height × width × samples × frames); it is 2^29 (536,870,912) by default and the environment
variable `BUS_SEG_MAX_PIXELS` sets it for every reader and worker process. Crossing it is an
`InputError` naming the file, the declared size and `BUS_SEG_MAX_PIXELS`; in a cohort run it
fails that case only. Tests: `tests/reliability/test_pixel_budget.py` (each bomb made in the
test in milliseconds by `tests/reliability/bombs.py`); `make test-slow` and
`experiments/reliability/bomb_rss.py` read each bomb in a fresh process and check its peak
resident memory stays under 500 MB.

## No empty score is perfect

A core diameter or an ultrasound spacing in the wrong unit makes a strip that labels nothing,
which would register as "ok" and score a perfect Dice. Registration fails a case whose strip
is under 1 px wide, under 20 px, or labels under 1 % of its expected area (tract length × core
diameter), with a message naming `us_spacing_mm` and `core_diameter_mm`
(`bus_seg/registration/strip_size.py`); `bus-seg-validate` reports the same from the manifest
alone. Every metric of an image with no labelled pixel is NaN and left out of means, never 1.0
(`bus_seg/training/metrics.py`), and a training run whose test set has no labelled pixel fails
with a message instead of writing metrics. Tests: `tests/reliability/test_empty_scores.py`.

## One bad row stays in its row

Case ids are checked when the manifest is read: at most 128 bytes, characters that are safe in
file names, and no leading `.`, `-`, `=`, `+` or `@`; NA-like ids (`NA`, `null`, `None`, `nan`)
and ids such as `1_1_6` stay text everywhere (`bus_seg.registration.report.read_report`,
`bus_seg.io.csv_cells.read_text_table`). A row that fails any check, or whose files fail, gets
its message in `report.csv` and the run goes on: the failure handler cannot raise, and a worker
process that dies fails only its case. Text cells that a spreadsheet would run as formulas
(`=`, `+`, `-`, `@`) are written with a leading `'` (`bus_seg/io/csv_cells.py`). A DICOM file
name (often the patient's name) never reaches `report.csv` or the cache: the case id stands in.
Tests: `tests/reliability/test_row_failures.py`, `tests/reliability/test_small_gaps.py`.

## Paths, processes, folders

- Symbolic links: a manifest path whose real location (links resolved) leaves the cohort
  folder is refused like `..`, unless `allow_outside_paths=true`.
- Worker processes: registration workers (`workers=N`) ask the kernel to kill them when their
  parent dies (`prctl(PR_SET_PDEATHSIG)` on Linux) and watch their parent's id as well, so a
  killed run leaves no process behind (`tests/reliability/test_orphan_workers.py`,
  `make test-slow`).
- Output folder: `bus-seg-register` checks before the first case that `out_dir` is a folder (not
  a file), writable, with at least 64 MiB free, and that `registration.qc_dpi` is at most 600;
  a full disk or a read-only folder met later fails the cases with a message about the folder,
  and `report.csv` is still written. Temporary files of killed writers are removed at the start
  of the next run.
- Run folders: a training run folder holds one config. Starting another config in it is refused
  unless `ckpt_path` is given; resuming checks that the checkpoint was written by
  `bus-seg-train` with the same config apart from keys that may change on resume
  (`trainer.max_epochs`, `trainer.devices`, `logger`, `callbacks`, `paths`, ...; see
  `bus_seg/training/run_folder.py`). A foreign or truncated `last.ckpt` gets a message saying so
  (`tests/reliability/test_run_folder.py`).

## Privacy

DICOM files are read with `dcmread(specific_tags=...)`: only the pixel module and the spacing
tags are ever parsed, so patient name, id, birth date, institution, physicians, accession
number and UIDs never reach memory, logs, W&B, file names, reports or caches; cases are named by
the manifest's `case_id`/`patient_id` only. Errors about a DICOM file name the file, never a tag
value. Test: `tests/reliability/test_privacy.py` puts DICOM files with thirteen distinctive
identifying tags (plus their study, series and instance UIDs) in a cohort, runs validation,
registration, a training run with `logger=wandb` (offline) and prediction, and searches every
byte of every output, cache, log, captured stdout/stderr and W&B folder, and every file name, for
each value (`make test-slow`: the same through the four command-line tools and Hydra's logs).

Paths in a manifest cannot leave the cohort folder: `..` and absolute paths are refused with a
message naming the row and column, unless `allow_outside_paths=true` (registration/data setting,
`bus-seg-validate allow_outside_paths=true`). Checkpoints and weights are loaded with
`torch.load(weights_only=True)` (or safetensors): a file that needs pickle is refused by
`bus-seg-predict`, `bus-seg-eval` and `model.pretrained=<file>`, and its payload never runs
(`tests/reliability/test_safety.py`). The config stored in a checkpoint is checked against
bus_seg's own builders before anything is built from it (`tests/reliability/test_checkpoint_code.py`).

## W&B

W&B is off unless asked for (`logger=csv` by default in every entry config). `logger=wandb`
logs the config, metrics, the per-image table and the confusion matrix (a table and its heatmap
picture); ultrasound images and label masks are logged only with `evaluation.log_images=true`.
Tests run it offline (`WANDB_MODE=offline`) and inspect the offline run's media folder
(`tests/reliability/test_safety.py`).

## Fuzzing

`tests/fuzz/` holds Hypothesis property tests: random and near-valid manifests (the reader and
`bus-seg-validate`'s checks fail only with `ManifestError`/`BusSegError` and keep their
promises), random and malformed GeoJSON (holes, MultiPolygons, invalid rings, partly off the
slide: only `InputError`, and the cancer area is the clipped union), and random core geometry
(1-5 fragments, rotations, gaps, tract angles and lengths, every WSI and annotation format: the
labels are exactly the rectangle rule's strip, or a documented error). `make test` runs 25
examples per test from a fixed seed (Hypothesis profile `ci`), `make test-slow` 500 random
ones (`slow`); `BUS_SEG_FUZZ_PROFILE=ci|slow` chooses explicitly.

## Bad input and the messages it gets
"""


def write_page(findings: list[Finding], args: list[str], outcome: int, other_raises: int) -> None:
    from bus_seg.io.atomic import write_text_atomic
    from bus_seg.provenance import git_commit

    rows = table(findings)
    tests = len({f.test for f in findings})
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    intro = (
        f"Measured by running the tests: `python experiments/reliability/bad_inputs_table.py "
        f"{shlex.join(args)}` (pytest exit status {outcome}; commit {git_commit() or 'unknown'}"
        f"{' plus uncommitted changes' if _dirty() else ''}, {date}). "
        f"{len(rows) - 2} rows from {tests} tests: every `BusSegError` a `pytest.raises` block "
        f'caught ("raises"), every problem `bus_seg.data.validation` reported ("validate": the lines '
        f'`bus-seg-validate` prints) and every failed case of a registration run ("register": '
        f"the `error` column of `report.csv`). {other_raises} further `pytest.raises` blocks caught "
        "exceptions of other types (programming errors of internal functions, not bad input) and "
        "are not listed. Temporary folders are shown as `<tmp>`.\n"
    )
    write_text_atomic(PAGE, SECTIONS + "\n" + intro + "\n" + "\n".join(rows) + "\n")


def _dirty() -> bool:
    """Whether tracked files differ from the commit the page names."""
    import subprocess

    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return bool(status.stdout.strip())


def main(args: list[str]) -> int:
    args = args or DEFAULT_ARGS
    recorder = BadInputRecorder()
    recorder.install()
    outcome = int(pytest.main(list(args), plugins=[recorder]))  # pytest extends the list it gets
    write_page(recorder.findings, args, outcome, recorder.other_raises)
    print(
        f"wrote {PAGE.relative_to(REPO)} ({len(recorder.findings)} findings; pytest exit status {outcome})"
    )
    return outcome


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
