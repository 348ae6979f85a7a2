"""Package boundaries: the IR, simulators and hardware back end are torch-free; every package
follows the layering of docs/design.md; no import cycles anywhere under src/lutnn.

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

TORCH_FREE = ("lutnn.ir", "lutnn.sim", "lutnn.hdl", "lutnn.csrc", "lutnn.qonnx")


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


ALONE = sorted(m for package in (*TORCH_FREE, "lutnn.frontend", "lutnn.nn")
               for m in _modules(package))


@pytest.mark.parametrize("module", ALONE)
def test_each_module_imports_alone(module):
    """A module imported first, alone, loads: no cycle hidden by the order of other imports."""
    proc = _run(f"import {module}")
    assert proc.returncode == 0, proc.stderr


# What each package or top-level module may import from lutnn (docs/design.md, "Layout");
# lutnn.errors, lutnn.io and lutnn.templating are leaf modules every package may use.  The
# commands (pipeline, report, demo, cli, __main__) may import anything and are not listed.
CORE = {"models", "student", "presets", "footprint", "runfolder", "distributed", "train",
        "training"}
MAY_IMPORT = {
    "data": {"data"},
    "nn": {"nn", "data"},
    **{name: {"data", "nn"} | CORE for name in CORE},
    "distill": {"distill", "data", "nn"} | CORE,
    "interop": {"interop", "data", "nn", "frontend"} | CORE,
    "frontend": {"frontend", "ir", "nn", "data"},
    "ir": {"ir"},
    "sim": {"ir", "sim"},
    "hdl": {"ir", "hdl"},
    "csrc": {"ir", "csrc"},
    "qonnx": {"ir", "sim", "qonnx"},
}
LEAVES = {"errors", "io", "templating"}
COMMANDS = {"pipeline", "report", "demo", "cli", "__main__"}
ROOT = Path(lutnn.__file__).parent


def _lutnn_imports(path: Path) -> set[str]:
    """Every ``lutnn.<module>`` a file imports, at any depth (function-level imports too);
    ``from lutnn import io`` counts as ``lutnn.io``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "lutnn":
                names.update(f"lutnn.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] == "lutnn" and n != "lutnn"}


def _top(path: Path) -> str:
    """The package (``nn``) or top-level module (``train``) of a file under src/lutnn."""
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_the_layering_table_names_every_package():
    """Every package and module under src/lutnn is in the table, a leaf or a command."""
    tops = {_top(path) for path in ROOT.rglob("*.py")} - {"__init__"}
    assert tops <= set(MAY_IMPORT) | LEAVES | COMMANDS, tops - set(MAY_IMPORT) - LEAVES - COMMANDS
    assert set(MAY_IMPORT) <= tops, set(MAY_IMPORT) - tops


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_package_imports_follow_the_layering(package):
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        if _top(path) != package:
            continue
        for name in _lutnn_imports(path):
            top = name.split(".")[1]
            if top not in MAY_IMPORT[package] | LEAVES:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, bad


def _module_graph() -> dict[str, set[str]]:
    """Every module under src/lutnn -> the lutnn modules it imports (at any depth)."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[name] = _lutnn_imports(path)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the module graph as a path ``[a, b, ..., a]``, or None."""

    # A module depends on what it imports; importing a package's submodule runs the package.
    def deps(name: str) -> set[str]:
        out = set()
        for target in graph.get(name, ()):
            out.add(target)
            parts = target.split(".")
            out.update(".".join(parts[:i]) for i in range(2, len(parts)))
        return {d for d in out if d in graph and d != name and not name.startswith(d + ".")}

    state: dict[str, int] = {}

    def visit(name: str, stack: list[str]) -> list[str] | None:
        state[name] = 1
        for dep in sorted(deps(name)):
            if state.get(dep) == 1:
                return [*(stack[stack.index(dep):] if dep in stack else []), name, dep]
            if dep not in state and (cycle := visit(dep, [*stack, name])):
                return cycle
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name, [])):
            return cycle
    return None


def test_no_import_cycle_between_modules():
    """The module graph of every package and module under src/lutnn (imports at any depth,
    function-level ones too) is acyclic."""
    graph = _module_graph()
    assert {"lutnn.nn.lut", "lutnn.nn.fused", "lutnn.data.mnist", "lutnn.distill.run",
            "lutnn.frontend.torch", "lutnn.train"} <= set(graph)
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_function_level_cycle():
    """The nn/lut.py <-> nn/fused.py circle that was (fused imported lut inside a function)."""
    graph = {"lutnn.nn": {"lutnn.nn.lut"}, "lutnn.nn.lut": {"lutnn.nn.fused"},
             "lutnn.nn.fused": {"lutnn.errors"}, "lutnn.errors": set()}
    assert _find_cycle(graph) is None
    graph["lutnn.nn.fused"] = {"lutnn.nn.lut"}
    assert _find_cycle(graph) == ["lutnn.nn.lut", "lutnn.nn.fused", "lutnn.nn.lut"]
