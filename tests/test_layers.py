"""The folders are the architecture: every import points down the layers, and no module cycle.

Layers, bottom to top (docs/architecture.md): core, drivers, recordings, then analysis and
protocols side by side (neither imports the other), then app. Imports inside functions count
the same as imports at the top of a file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYER = {"core": 0, "drivers": 1, "recordings": 2, "analysis": 3, "protocols": 3, "app": 4}
ADJACENT_FORBIDDEN = {("analysis", "protocols"), ("protocols", "analysis")}


def module_name(path: Path) -> str:
    """Dotted module name of a file under the repository root."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Every module of the layered packages, by dotted name."""
    return {module_name(p): p for package in LAYER for p in (REPO / package).rglob("*.py")}


def imported_modules(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules a file imports anywhere in its body (names resolved to their module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; melab uses absolute imports"
            base = node.module or ""
            # `from pkg import mod` imports the module pkg.mod, `from mod import name` mod.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        found.update(t for t in targets if t.split(".")[0] in LAYER)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    modules = project_modules()
    return {name: imported_modules(path, modules) for name, path in modules.items()}


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that point up the layers or across between analysis and protocols."""
    bad = []
    for module, targets in sorted(graph.items()):
        here = module.split(".")[0]
        for target in sorted(targets):
            there = target.split(".")[0]
            if LAYER[there] > LAYER[here] or (here, there) in ADJACENT_FORBIDDEN:
                bad.append(f"{module} imports {target}")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan), i.e. import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_import_points_down_the_layers() -> None:
    graph = import_graph()
    assert len(graph) > 50  # the whole tree was read
    assert layering_violations(graph) == []


def test_no_module_imports_itself_back() -> None:
    assert cycles(import_graph()) == []


def test_the_checks_catch_what_they_forbid() -> None:
    graph = {"drivers.lsl": {"recordings.store.reader"}, "recordings.store.reader": set(),
             "analysis.spotting": {"protocols.model"}, "protocols.model": {"core.codes"},
             "core.codes": set(), "app.cli.main": {"drivers.lsl", "analysis.spotting"}}
    assert layering_violations(graph) == [
        "analysis.spotting imports protocols.model", "drivers.lsl imports recordings.store.reader"]
    graph = {"analysis.a": {"analysis.b"}, "analysis.b": {"analysis.c"},
             "analysis.c": {"analysis.a"}, "analysis.d": {"analysis.a"}}
    assert cycles(graph) == [["analysis.a", "analysis.b", "analysis.c"]]


@pytest.mark.parametrize("source, expected", [
    ("from recordings.store import reader\n", {"recordings.store.reader"}),
    ("def f():\n    from analysis.evaluation import frame_iou\n", {"analysis.evaluation"}),
    ("import drivers.lsl as lsl\n", {"drivers.lsl"}),
    ("import numpy\nfrom pathlib import Path\n", set()),
])
def test_imports_are_read_from_anywhere_in_a_file(tmp_path: Path, source: str,
                                                  expected: set[str]) -> None:
    path = tmp_path / "m.py"
    path.write_text(source)
    assert imported_modules(path, project_modules()) == expected
