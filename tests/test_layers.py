"""The layers of design.md: every module of bus_seg imports only its own room or rooms below it.

Imports are read from the source with :mod:`ast`, wherever they are: at the top, inside functions
(lazy imports count), and module paths written as strings (lazy package exports). Only the
``if __name__ == "__main__":`` block of a module run as a program is exempt: it runs when the
module is the program itself, the top of every stack, never when the module is imported.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bus_seg"

LAYERS: tuple[tuple[str, ...], ...] = (
    # helpers with no bus_seg dependency: errors, lazy exports, labels, the packaged configs
    ("bus_seg", "bus_seg.conf", "bus_seg.errors", "bus_seg.lazy", "bus_seg.labels"),
    ("bus_seg.paths", "bus_seg.provenance", "bus_seg.settings"),
    ("bus_seg.metrics_file",),
    ("bus_seg.io",),
    ("bus_seg.registration", "bus_seg.simulate"),
    ("bus_seg.data",),
    ("bus_seg.models",),
    ("bus_seg.training",),
    ("bus_seg.evaluation",),
    ("bus_seg.inference",),
    # tasks: composing the configs, and orchestration across rooms (train and test a run,
    # evaluate a checkpoint)
    ("bus_seg.config", "bus_seg.train", "bus_seg.evaluate"),
    ("bus_seg.cli",),
)
"""Rooms from the bottom up. A module may import its own room and any room of a lower layer;
rooms of one layer are independent of each other."""

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


@dataclass(frozen=True)
class Violation:
    """One import of a room that is not below the importing module's room."""

    path: Path
    line: int
    importer: str
    imported: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} imports {self.imported}"


def module_name(path: Path, root: Path) -> str:
    """Dotted name of a source file under the package folder ``root``."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room_of(module: str, layers: Sequence[Sequence[str]]) -> tuple[int, str] | None:
    """(layer index, room) of a module: the longest room that is the module or a package above it.
    The root package is a room of its own (it does not hold its subpackages)."""
    best: tuple[int, str] | None = None
    for level, rooms in enumerate(layers):
        for room in rooms:
            inside = module == room or ("." in room and module.startswith(room + "."))
            if inside and (best is None or len(room) > len(best[1])):
                best = (level, room)
    return best


def _is_main_guard(node: ast.stmt) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def imported_modules(path: Path, module: str, package: str) -> Iterator[tuple[int, str]]:
    """(line, module) of every import of ``package`` in a file, lazy ones and strings included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    tree.body = [node for node in tree.body if not _is_main_guard(node)]
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                parts = parts if is_package else parts[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            yield node.lineno, base
            for alias in node.names:  # ``from bus_seg import data`` imports bus_seg.data
                yield node.lineno, f"{base}.{alias.name}"
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _DOTTED.match(node.value)
            and node.value.split(".")[0] == package
        ):
            yield node.lineno, node.value


def _exists(module: str, root: Path) -> bool:
    relative = Path(*module.split(".")[1:])
    return (root / relative).with_suffix(".py").is_file() or (root / relative).is_dir()


def layer_violations(root: Path, layers: Sequence[Sequence[str]]) -> list[Violation]:
    """Every import under the package folder ``root`` that breaks ``layers``.

    Raises:
        AssertionError: a module of the package belongs to no room of ``layers``.
    """
    package = root.name
    found = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        own = room_of(module, layers)
        assert own is not None, f"{module} ({path}) belongs to no room: add it to LAYERS"
        for line, imported in imported_modules(path, module, package):
            if imported.split(".")[0] != package or not _exists(imported, root):
                continue  # another package, or a name imported from a module (not a module)
            target = room_of(imported, layers)
            assert target is not None, f"{imported} belongs to no room: add it to LAYERS"
            if target[1] != own[1] and target[0] >= own[0]:
                found.append(Violation(path, line, module, imported))
    return found


def test_bus_seg_imports_only_downward() -> None:
    violations = layer_violations(PACKAGE, LAYERS)
    assert not violations, "imports against the layers of design.md:\n" + "\n".join(
        map(str, violations)
    )


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


SYNTHETIC_LAYERS = (("pkg.low",), ("pkg.mid_a", "pkg.mid_b"), ("pkg.high",))
SYNTHETIC = {
    "pkg/__init__.py": "",
    "pkg/low/__init__.py": "",
    "pkg/low/base.py": "VALUE = 1\n",
    "pkg/mid_a/__init__.py": "from pkg.low.base import VALUE\n",
    "pkg/mid_b/__init__.py": "from ..low import base\n",
    "pkg/high/__init__.py": "import pkg.mid_a\nfrom pkg.mid_b import *\n",
    "pkg/high/run.py": "from pkg.high import helpers\n",
    "pkg/high/helpers.py": "",
}


def test_layer_check_passes_downward_imports(tmp_path: Path) -> None:
    root = _write(tmp_path, SYNTHETIC)
    assert layer_violations(root, (("pkg",), *SYNTHETIC_LAYERS)) == []


@pytest.mark.parametrize(
    ("name", "text", "imported"),
    [
        ("pkg/low/base.py", "import pkg.high\n", "pkg.high"),
        ("pkg/low/base.py", "def f():\n    from pkg.mid_a import x\n", "pkg.mid_a"),
        ("pkg/low/lazy.py", "EXPORTS = {'name': 'pkg.high.helpers'}\n", "pkg.high.helpers"),
        ("pkg/mid_a/side.py", "from ..mid_b import VALUE\n", "pkg.mid_b"),
        ("pkg/mid_b/up.py", "from pkg import high\n", "pkg.high"),
    ],
)
def test_layer_check_names_an_upward_import(
    tmp_path: Path, name: str, text: str, imported: str
) -> None:
    root = _write(tmp_path, {**SYNTHETIC, name: text})
    violations = layer_violations(root, (("pkg",), *SYNTHETIC_LAYERS))
    assert [(v.path.name, v.imported) for v in violations] == [(Path(name).name, imported)]
    assert f"{name.replace('/', '.')[:-3]} imports {imported}" in str(violations[0])


def test_layer_check_exempts_only_the_main_block(tmp_path: Path) -> None:
    main = 'X = 1\nif __name__ == "__main__":\n    from pkg.high import run\n'
    root = _write(tmp_path, {**SYNTHETIC, "pkg/low/tool.py": main})
    assert layer_violations(root, (("pkg",), *SYNTHETIC_LAYERS)) == []
    nested = "def f():\n    if __name__ == '__main__':\n        import pkg.high\n"
    root = _write(tmp_path, {**SYNTHETIC, "pkg/low/tool.py": nested})
    assert [v.imported for v in layer_violations(root, (("pkg",), *SYNTHETIC_LAYERS))] == [
        "pkg.high"
    ]


def test_layer_check_refuses_a_module_without_a_room(tmp_path: Path) -> None:
    root = _write(tmp_path, {**SYNTHETIC, "pkg/other.py": ""})
    with pytest.raises(AssertionError, match="pkg.other .*belongs to no room"):
        layer_violations(root, (("pkg",), *SYNTHETIC_LAYERS))


def test_current_rules_catch_an_upward_import_in_bus_seg() -> None:
    """The real table with data and training swapped: training's imports of data turn upward."""
    swapped = tuple(
        {("bus_seg.data",): ("bus_seg.training",), ("bus_seg.training",): ("bus_seg.data",)}.get(
            rooms, rooms
        )
        for rooms in LAYERS
    )
    pairs = {
        (v.importer.split(".")[1], v.imported.split(".")[1])
        for v in layer_violations(PACKAGE, swapped)
    }
    assert ("training", "data") in pairs
    assert pairs <= {("training", "data"), ("training", "models")}
