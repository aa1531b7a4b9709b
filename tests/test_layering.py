"""Import direction: cli -> datasource / tpch / jvm -> table -> formats, kms, storage, errors.

Checked twice: statically, from every import statement in the sources (function-local ones included, since a
lazy import is still a dependency), and at run time, by importing every module of ``formats`` and ``kms`` in
a fresh interpreter where a meta-path finder refuses pyspark and the upper layers.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "bigdl_ppml_az"
ROOT = Path(__file__).resolve().parent.parent / "python" / PACKAGE
UPPER = ("datasource", "jvm", "tpch", "cli")
PURE = ("formats", "kms", "table")
# Known violation, removed by the KMS-registry work (issue 9, item 3): the pyarrow KmsClient moves into kms/.
# When it lands this case XPASSes, which fails under strict=True: delete the entry then.
def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package_member(dotted: str) -> bool:
    relative = dotted.split(".")[1:]
    target = ROOT.joinpath(*relative)
    return target.is_dir() or target.with_suffix(".py").is_file()


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth; relative imports resolved."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names_base = False
            for alias in node.names:  # `from .. import jvm` imports the subpackage jvm, not the package's names
                candidate = f"{base}.{alias.name}"
                if candidate.startswith(PACKAGE + ".") and _is_package_member(candidate):
                    yield node.lineno, candidate
                else:
                    names_base = True
            if names_base:
                yield node.lineno, base


def unit_of(module: str) -> str | None:
    """The layer a module belongs to: its subpackage or top-level module (``errors``, ``filecrypt``...)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    return parts[1] if len(parts) > 1 else "<package>"


def _sources(subpackage: str) -> list[Path]:
    return sorted((ROOT / subpackage).rglob("*.py"))


def _forbidden_for_pure(name: str) -> bool:
    return name.split(".")[0] == "pyspark" or unit_of(name) in UPPER


# ------------------------------------------------------------------------------------------- static checks


@pytest.mark.parametrize("subpackage", PURE)
def test_pure_layers_import_no_spark_and_no_upper_layer_statically(subpackage: str) -> None:
    files = _sources(subpackage)
    assert files
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in files
        for line, name in imports_of(path)
        if _forbidden_for_pure(name)
    ]
    assert bad == []


def _datasource_cases() -> list[object]:
    return [pytest.param(str(p.relative_to(ROOT)), id=str(p.relative_to(ROOT))) for p in _sources("datasource")]


@pytest.mark.parametrize("relative", _datasource_cases())
def test_datasource_does_not_import_jvm(relative: str) -> None:
    bad = [f"{relative}:{line} imports {name}" for line, name in imports_of(ROOT / relative) if unit_of(name) == "jvm"]
    assert bad == []


def subpackage_graph() -> dict[str, set[str]]:
    """unit -> units it imports (any import, at any depth), without self-edges."""
    graph: dict[str, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        source = unit_of(_module_name(path))
        assert source is not None
        edges = graph.setdefault(source, set())
        for _, name in imports_of(path):
            target = unit_of(name)
            if target is not None and target != source:
                edges.add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None if the graph is acyclic."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for succ in sorted(graph.get(node, ())):
            if state.get(succ) == 1:
                return stack[stack.index(succ) :] + [succ]
            if succ not in state and (cycle := visit(succ)) is not None:
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_find_cycle_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycles_between_subpackages() -> None:
    graph = subpackage_graph()
    assert {"formats", "kms", "storage", "datasource", "jvm", "tpch", "cli", "errors"} <= set(graph)
    assert "jvm" in graph["tpch"]  # tpch/native.py uses the shim: the edge that must stay one-way
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_static_scan_sees_function_local_imports() -> None:
    """The scanner must see lazy imports, or a lazy upper-layer import in formats/kms would slip through."""
    found = set(name for _, name in imports_of(ROOT / "tpch" / "tables.py"))
    assert f"{PACKAGE}.tpch.native" in found  # imported inside tables() only
    found = set(name for _, name in imports_of(ROOT / "cli" / "tpch.py"))
    assert f"{PACKAGE}.tpch.session" in found and f"{PACKAGE}.kms" in found


# ------------------------------------------------------------------------------------------ run-time check

_BLOCKED_IMPORT = r"""
import importlib, importlib.abc, json, pkgutil, sys

BLOCKED = ("pyspark", "py4j") + tuple("bigdl_ppml_az." + name for name in %(upper)r)

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if any(fullname == b or fullname.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"layering: {fullname} may not be imported here")
        return None

sys.meta_path.insert(0, Refuse())
imported = []
for top in %(pure)r:
    package = importlib.import_module("bigdl_ppml_az." + top)
    imported.append(package.__name__)
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
leaked = sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED))
print(json.dumps({"imported": imported, "leaked": leaked}))
"""


def test_pure_layers_import_without_spark_or_upper_layers_at_run_time() -> None:
    code = _BLOCKED_IMPORT % {"upper": UPPER, "pure": PURE}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["leaked"] == []
    expected = {_module_name(p) for sub in PURE for p in _sources(sub)}
    assert set(report["imported"]) == expected


def test_the_blocker_really_blocks() -> None:
    """The same finder refuses pyspark to the data source, so a passing run-time check means something."""
    code = _BLOCKED_IMPORT % {"upper": (), "pure": ("datasource",)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "layering: pyspark" in done.stderr
