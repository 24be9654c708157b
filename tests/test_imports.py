"""The package's shape: every module imports on its own in a fresh interpreter, and imports run one way.

The import graph is read from the source (every ``import`` and ``from ... import``, at module level or inside a
function), resolved to jaxsep modules. Importing ``a.b.c`` also runs the ``__init__`` of ``a.b`` unless the
importer lives inside ``a.b`` itself, so that edge is in the graph too.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jaxsep"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(importer: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The jaxsep modules one import statement names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "jaxsep"]
    if node.level:
        base = importer.split(".") if _is_package(importer) else importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "jaxsep":
        return []
    # `from package import name` imports the submodule `package.name` when there is one.
    named = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in MODULES]
    return named or [target]


def import_graph() -> dict[str, set[str]]:
    """``{module: modules whose import it runs}`` over every jaxsep module."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _resolve(name, node):
                parts = target.split(".")
                # the packages on the way to `target` run their __init__ first, unless they contain the importer
                for depth in range(2, len(parts) + 1):
                    step = ".".join(parts[:depth])
                    inside = name == step or name.startswith(step + ".")
                    if step in MODULES and not inside:
                        edges.add(step)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_relative_imports_and_packages():
    graph = import_graph()
    assert "jaxsep.training.engine" in graph["jaxsep.training.experiment"]
    assert "jaxsep.features" in graph["jaxsep.training.experiment"]  # the package's __init__ runs first
    assert "jaxsep.training" not in graph["jaxsep.training.experiment"]  # its own package: already importing


def test_no_import_cycles():
    assert find_cycle(import_graph()) is None


@pytest.mark.slow
def test_every_module_imports_on_its_own():
    """``python -c "import jaxsep.x.y"`` in a fresh interpreter, for every module (two at a time)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}

    def import_alone(name: str) -> tuple[str, int, str]:
        done = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, env=env,
                              cwd=PACKAGE.parent, timeout=300)
        return name, done.returncode, done.stderr[-2000:]

    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [(name, err) for name, code, err in pool.map(import_alone, sorted(MODULES)) if code != 0]
    assert failures == []
