"""Package boundaries: the IR, simulators and hardware back end are torch-free; no import cycles.

Each check runs in a fresh interpreter (``sys.executable -c ...``), so modules another test
already imported cannot hide a missing import or a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import lutnn

TORCH_FREE = ("lutnn.ir", "lutnn.sim", "lutnn.hdl", "lutnn.csrc")


def _modules(package: str) -> list[str]:
    """``package`` and every module under it, found on disk (nothing is imported here)."""
    root = Path(lutnn.__file__).parent.parent
    names = []
    for path in sorted(root.joinpath(*package.split(".")).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_ir_sim_hdl_do_not_import_torch():
    modules = [m for package in TORCH_FREE for m in _modules(package)]
    assert "lutnn.ir.layers" in modules and "lutnn.hdl.emit" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'matplotlib'))\n"
        "assert not bad, bad[:5]\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr


ALONE = sorted(m for package in (*TORCH_FREE, "lutnn.frontend") for m in _modules(package))


@pytest.mark.parametrize("module", ALONE)
def test_each_module_imports_alone(module):
    """A module imported first, alone, loads: no cycle hidden by the order of other imports."""
    proc = _run(f"import {module}")
    assert proc.returncode == 0, proc.stderr


# What each package may import from lutnn (docs/design.md, "Layout"); lutnn.errors,
# lutnn.io and lutnn.templating are leaf modules every package may use.
MAY_IMPORT = {
    "ir": {"ir"},
    "sim": {"ir", "sim"},
    "hdl": {"ir", "hdl"},
    "csrc": {"ir", "csrc"},
    "frontend": {"frontend", "ir", "nn", "data"},
}
LEAVES = {"errors", "io", "templating"}


def _lutnn_imports(path: Path) -> set[str]:
    """Every ``lutnn.<module>`` a file imports, at any depth (function-level imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] == "lutnn" and n != "lutnn"}


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_package_imports_follow_the_layering(package):
    root = Path(lutnn.__file__).parent
    bad = []
    for path in sorted((root / package).rglob("*.py")):
        for name in _lutnn_imports(path):
            top = name.split(".")[1]
            if top not in MAY_IMPORT[package] | LEAVES:
                bad.append(f"{path.relative_to(root)} imports {name}")
    assert not bad, bad


def test_no_import_cycle_between_modules():
    """The module graph of ir, sim, hdl and frontend (imports at any depth) is acyclic."""
    root = Path(lutnn.__file__).parent
    graph: dict[str, set[str]] = {}
    for package in MAY_IMPORT:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root.parent).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            graph[name] = _lutnn_imports(path)
    # A module depends on what it imports; importing a package's submodule runs the package.
    def deps(name: str) -> set[str]:
        out = set()
        for target in graph.get(name, ()):
            out.add(target)
            parts = target.split(".")
            out.update(".".join(parts[:i]) for i in range(2, len(parts)))
        return {d for d in out if d in graph and d != name and not name.startswith(d + ".")}

    state: dict[str, int] = {}

    def visit(name: str, stack: list[str]) -> None:
        state[name] = 1
        for dep in sorted(deps(name)):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack, name, dep]))
            if dep not in state:
                visit(dep, [*stack, name])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
