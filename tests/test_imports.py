"""The package's shape: every module imports on its own in a fresh interpreter, and imports run one way.

The import graph is read from the source (every ``import`` and ``from ... import``, at module level or inside a
function), resolved to jaxsep modules. Importing ``a.b.c`` also runs the ``__init__`` of ``a.b`` unless the
importer lives inside ``a.b`` itself, so that edge is in the graph too.
"""

from __future__ import annotations

import ast
import json
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


#: Run in a fresh interpreter: load the third-party packages jaxsep uses (jax and friends take seconds), then, for
#: every jaxsep module, fork a child that imports that module alone: jaxsep's own import order is fresh each time.
_IMPORT_EACH = """
import importlib, json, os, sys
import flax.linen, jax, librosa, matplotlib, numpy, optax, rich, scipy.stats, sklearn.linear_model, soundfile, typer
assert not [m for m in sys.modules if m.split(".")[0] == "jaxsep"], "jaxsep was imported by a third-party package"
failures = {}
for name in sys.argv[1:]:
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        try:
            importlib.import_module(name)
            code = 0
        except BaseException as error:  # report any failure, then leave without running the parent's code
            os.write(write, f"{type(error).__name__}: {error}".encode()[:2000])
            code = 1
        os._exit(code)
    os.close(write)
    message = os.read(read, 4000).decode()
    os.close(read)
    _, status = os.waitpid(child, 0)
    if status:
        failures[name] = message or f"exit status {status}"
print(json.dumps(failures))
"""


@pytest.mark.slow
def test_every_module_imports_on_its_own():
    """Each jaxsep module imported alone, jaxsep's own state fresh each time (see ``_IMPORT_EACH``), and the
    package's entry points in fully fresh interpreters (``import jaxsep.cli.demo`` once failed that way)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", _IMPORT_EACH, *sorted(MODULES)], capture_output=True, text=True,
                          env=env, cwd=PACKAGE.parent, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}

    def import_alone(name: str) -> tuple[str, int, str]:
        fresh = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, env=env,
                               cwd=PACKAGE.parent, timeout=300)
        return name, fresh.returncode, fresh.stderr[-2000:]

    with ThreadPoolExecutor(max_workers=2) as pool:
        entry_points = ["jaxsep", "jaxsep.cli", "jaxsep.cli.demo", "jaxsep.workflows.demo"]
        failures = [(name, err) for name, code, err in pool.map(import_alone, entry_points) if code != 0]
    assert failures == []


def test_the_import_check_catches_a_broken_module(tmp_path):
    """The forked check reports a module whose import fails (a check that cannot fail proves nothing)."""
    (tmp_path / "brokenpkg").mkdir()
    (tmp_path / "brokenpkg" / "__init__.py").write_text("")
    (tmp_path / "brokenpkg" / "bad.py").write_text("from . import missing_module\n")
    (tmp_path / "brokenpkg" / "good.py").write_text("VALUE = 1\n")
    script = _IMPORT_EACH.replace("import flax.linen, jax, librosa, matplotlib, numpy, optax, rich, scipy.stats, "
                                  "sklearn.linear_model, soundfile, typer", "import json")
    done = subprocess.run([sys.executable, "-c", script, "brokenpkg.good", "brokenpkg.bad"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    failures = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(failures) == ["brokenpkg.bad"] and "missing_module" in failures["brokenpkg.bad"]
