"""Every code block of the README and of ``docs/`` runs as written.

A block's fence names its language: ``python`` blocks are complete scripts, ``bash`` blocks shell
commands, ``text`` blocks pictures and output (never run). Each runnable block is saved as a
script and run in a fresh process from a folder outside the repository (``tmp_path``), with
``BUS_SEG_DATA`` pointing at the shared data and the environment's console scripts on ``PATH``.
An HTML comment on the line before a block changes that:

- ``<!-- check: config -->`` (bash): the block's ``bus-seg-*`` commands train or need files
  for minutes, so each one runs with ``--cfg job`` instead (the first value of each sweep,
  without ``-m``): its overrides must compose into the app's config;
- ``<!-- needs: shared data -->``: skipped with a reason when ``BUS_SEG_DATA`` is absent;
- ``<!-- slow: <reason> -->``: runs in ``make test-slow`` (it trains for more than ~20 s);
- ``<!-- no-run: <reason> -->``: not run; the reason is required and the list stays short.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from bus_seg.paths import shared_data_root

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```\s*$", re.M | re.S)
MARK = re.compile(r"<!--\s*([\w-]+(?:\s\w+)?)\s*:\s*(.*?)\s*-->\s*$")
RUN_LANGS = {"python", "bash"}
TEXT_LANGS = {"text"}
MAX_NO_RUN = 8
SHARED_COHORT_FORMAT = ROOT.parent / "shared" / "docs" / "cohort-format.md"


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str
    mark: tuple[str, str] | None

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"


def blocks() -> list[Block]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            mark = MARK.search(before)
            line = text.count("\n", 0, match.start()) + 1
            found.append(
                Block(page, line, match.group(1), match.group(2), mark.groups() if mark else None)
            )
    return found


ALL = blocks()
README_EXAMPLE = next(b for b in ALL if b.page.name == "README.md" and b.lang == "python")
RUNNABLE = [
    b
    for b in ALL
    if b.lang in RUN_LANGS and (b.mark is None or b.mark[0] != "no-run") and b != README_EXAMPLE
]


def environment(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["BUS_SEG_DATA"] = str(shared_data_root())
    env["BUS_SEG_CACHE"] = str(tmp_path / "cache")
    env["WANDB_MODE"] = "offline"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def commands(code: str) -> list[list[str]]:
    """The commands of a shell block: continuations joined, comments dropped, split at
    ``&&``, ``||``, ``;`` and ``|``, leading ``VAR=value`` assignments dropped."""
    result = []
    for line in code.replace("\\\n", " ").splitlines():
        current: list[str] = []
        for token in [*shlex.split(line, comments=True), ";"]:
            if token in ("&&", "||", ";", "|"):
                while current and re.match(r"^[A-Z_][A-Z0-9_]*=", current[0]):
                    current.pop(0)
                if current:
                    result.append(current)
                current = []
            else:
                current.append(token)
    return result


def as_config_check(command: list[str]) -> list[str]:
    """``command`` with ``--cfg job`` (first: bare run paths of compare/kfold go last) and each
    sweep replaced by its first value, without ``-m``."""
    parser = OverridesParser.create()
    checked = []
    for token in command[1:]:
        if token in ("-m", "--multirun"):
            continue
        if "=" in token and not token.startswith("-"):
            override = parser.parse_override(token)
            if override.is_sweep_override():
                first = next(iter(override.sweep_string_iterator()))
                token = f"{override.get_key_element()}={first}"
        checked.append(token)
    return [command[0], "--cfg", "job", *checked]


def test_pages_have_blocks_and_languages() -> None:
    assert {p.name for p in PAGES} >= {"README.md", "getting-started.md", "cohort-format.md"}
    unnamed = [b.id for b in ALL if b.lang not in RUN_LANGS | TEXT_LANGS]
    assert unnamed == [], "give every fence a language: python, bash or text"
    assert any(b.lang == "python" and b.page.name == "README.md" for b in ALL)


def test_no_run_list_is_short_and_justified() -> None:
    no_run = [b for b in ALL if b.mark and b.mark[0] == "no-run"]
    assert all(len(b.mark[1]) > 10 for b in no_run), [b.id for b in no_run]
    assert len(no_run) <= MAX_NO_RUN, [b.id for b in no_run]
    marks = {b.mark[0] for b in ALL if b.mark}
    assert marks <= {"no-run", "check", "needs", "slow"}, marks


def test_python_blocks_that_start_processes_have_the_main_guard() -> None:
    pools = ("register_cohort", "simulate_cohort", "train(")
    for block in ALL:
        if block.lang == "python" and any(name in block.code for name in pools):
            assert 'if __name__ == "__main__":' in block.code, block.id


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(b, marks=[pytest.mark.slow] if b.mark and b.mark[0] == "slow" else [])
        for b in RUNNABLE
    ],
    ids=[b.id for b in RUNNABLE],
)
def test_block_runs(block: Block, tmp_path: Path) -> None:
    if block.mark and block.mark[0] == "needs" and not shared_data_root().is_dir():
        pytest.skip(f"{block.id} needs the shared data (BUS_SEG_DATA={shared_data_root()})")
    env = environment(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    if block.mark and block.mark[0] == "check":
        assert block.mark[1] == "config", block.id
        checked = [c for c in commands(block.code) if c[0].startswith("bus-seg-")]
        assert checked, f"{block.id}: a config check needs bus-seg-* commands"
        for command in checked:
            done = subprocess.run(
                as_config_check(command), cwd=work, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, f"{block.id}: {shlex.join(command)}\n{done.stderr}"
        return
    script = tmp_path / ("block.py" if block.lang == "python" else "block.sh")
    script.write_text(block.code, encoding="utf-8")
    runner = [sys.executable] if block.lang == "python" else ["bash", "-e"]
    done = subprocess.run(
        [*runner, str(script)], cwd=work, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"{block.id}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_readme_library_example_registers(tmp_path: Path) -> None:
    """The README's example runs as a script and does what its comment says."""
    script = tmp_path / "example.py"
    script.write_text(README_EXAMPLE.code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "registered 4/4 cases" in done.stdout
    assert (tmp_path / "registered/demo/report.csv").is_file()


def test_commands_split_and_config_check() -> None:
    code = "FOO=1 bus-seg-train -m model=unet,fpn \\\n  seed=1 && bus-seg-kfold 'a/*'  # note\n"
    assert commands(code) == [
        ["bus-seg-train", "-m", "model=unet,fpn", "seed=1"],
        ["bus-seg-kfold", "a/*"],
    ]
    assert as_config_check(commands(code)[0]) == [
        "bus-seg-train",
        "--cfg",
        "job",
        "model=unet",
        "seed=1",
    ]


def test_cohort_format_page_matches_the_team_source() -> None:
    if not SHARED_COHORT_FORMAT.is_file():
        pytest.skip(f"the team's page is not here ({SHARED_COHORT_FORMAT})")
    source = SHARED_COHORT_FORMAT.read_text(encoding="utf-8").split("\n", 1)[1]
    copy = (ROOT / "docs" / "cohort-format.md").read_text(encoding="utf-8")
    assert copy.endswith(source), "docs/cohort-format.md is out of date: copy the team's page again"


def test_no_machine_paths() -> None:
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.])/(work|home|root|tmp|Users)/", text), page


def test_readme_stays_short() -> None:
    """The README is the front door; everything else lives in docs/."""
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200
