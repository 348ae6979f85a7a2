"""RTL simulation of the emitted Verilog with Verilator or Icarus Verilog.

:func:`run_rtl` emits the design and a testbench, builds them (once per distinct design text:
builds are cached under ``workdir`` by a hash of the Verilog), feeds the input vectors through a
``$readmemh`` file one per clock cycle, and reads back one output per vector.

Verilator builds a C++ model (``--binary``: its own ``main``, ``--timing`` for the testbench's
clock); it takes seconds to compile and then runs 10,000 MNIST vectors in well under a second.
Icarus compiles in a fraction of a second and interprets, so it is the quicker choice for
tiny nets and the slower one for big ones.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lutnn import io
from lutnn.errors import LutnnError, ToolNotFoundError
from lutnn.hdl.emit import VerilogDesign, emit_verilog
from lutnn.hdl.testbench import TB_TOP, emit_testbench, input_hex, parse_hex_lines
from lutnn.hdl.tools import Tool, find_tool, tool_version
from lutnn.ir.layers import Netlist

SIMULATORS = ("auto", "verilator", "icarus")
BUILD_TIMEOUT_S = 3600
_LOG_TAIL = 3000


@dataclass(frozen=True)
class RtlResult:
    """What one RTL simulation produced.

    Attributes:
        outputs: int64 [B] classes (netlist with a head) or bool [B, W] output bits.
        simulator: "verilator" or "icarus".
        version: the simulator's version line.
        build_seconds: wall time of the build (0.0 when a cached build was reused).
        run_seconds: wall time of the simulation run (including reading and writing files).
        build_dir: where the design, testbench and build live.
        latency_cycles: the latency the testbench measured: its cycle count at the last output
            minus one per vector and the one cycle it takes to drive the first (equal to the
            design's ``latency`` when ``out_valid`` keeps pace with the data).
    """

    outputs: np.ndarray
    simulator: str
    version: str
    build_seconds: float
    run_seconds: float
    build_dir: Path
    latency_cycles: int | None = None


def pick_simulator(simulator: str = "auto") -> str:
    """Resolve "auto" to Verilator if installed, else Icarus; check the chosen one exists."""
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, got {simulator!r}")
    if simulator == "auto":
        try:
            find_tool("verilator")
            return "verilator"
        except ToolNotFoundError as exc:
            try:
                find_tool("iverilog")
                find_tool("vvp")
            except ToolNotFoundError:
                raise ToolNotFoundError(f"no RTL simulator found: {exc}; or for Icarus run "
                                        "`apt-get install iverilog`") from None
            return "icarus"
    for tool in ("iverilog", "vvp") if simulator == "icarus" else ("verilator",):
        find_tool(tool)
    return simulator


def _tail(text: str) -> str:
    return text[-_LOG_TAIL:].strip()


def _check(proc: subprocess.CompletedProcess, what: str, log: Path) -> None:
    io.write_text(log, proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise LutnnError(f"{what} failed (exit {proc.returncode}; full log {log}):\n"
                         f"{_tail(proc.stdout + proc.stderr)}")


# The C++ main of a Verilator build: toggles the testbench's clk port every 5 time units until
# $finish (so the model needs no --timing coroutines and builds faster).
VERILATOR_MAIN = """\
#include "verilated.h"
#include "V{tb}.h"
int main(int argc, char** argv) {{
    VerilatedContext* context = new VerilatedContext;
    context->commandArgs(argc, argv);
    V{tb}* tb = new V{tb}{{context}};
    tb->clk = 0;
    while (!context->gotFinish()) {{
        tb->eval();
        context->timeInc(5);
        tb->clk = !tb->clk;
    }}
    tb->final();
    delete tb;
    delete context;
    return 0;
}}
"""
_RUNTIME_GLOB = "verilated*.o"  # Verilator's runtime objects: the same for every design
# g++ on the model: the generated code is one huge expression per layer, and optimizing it costs
# far more build time than it saves in simulation for test-sized runs (10,000 vectors).
VERILATOR_OPT = ("OPT_FAST=-O0", "OPT_SLOW=-O0")
VERILATOR_ARGS = ("--cc", "--exe", "--top-module", TB_TOP, "--Mdir", "obj", "-o", "sim",
                  "+define+LUTNN_TB_EXTERNAL_CLOCK", "-Wno-fatal", "-Wno-lint", "-Wno-style",
                  "--x-assign", "fast", "--x-initial", "fast",
                  # Split the model into many small C++ files and functions: an XNOR layer's
                  # counter trees otherwise become one function that g++ needs >10 GB for
                  # (measured: 784x32 XNOR teacher, 10.6 GB -> 0.3 GB peak, same outputs).
                  "--output-split", "3000", "--output-split-cfuncs", "300")


def _runtime_cache(workdir: Path) -> Path:
    """Where Verilator's compiled runtime is kept for reuse, keyed by tool and flags."""
    tool = find_tool("verilator")
    key = "|".join([tool_version("verilator"), *tool.argv, tool.env.get("CXXFLAGS", ""),
                    os.environ.get("CXXFLAGS", "")])
    return workdir / "verilator-runtime" / hashlib.sha256(key.encode()).hexdigest()[:12]


def _make_overrides(tool: Tool) -> list[str]:
    """Make variables fixing the PyPI wheel's build config: its ``verilated.mk`` leaves
    ``CFG_CXXFLAGS_PCH_I`` empty, which breaks the precompiled header of split (big) models."""
    root = tool.env.get("VERILATOR_ROOT")
    if root is None:
        return []
    mk = Path(root) / "include" / "verilated.mk"
    text = mk.read_text() if mk.is_file() else ""
    if re.search(r"^CFG_CXXFLAGS_PCH_I\s*=\s*$", text, flags=re.MULTILINE):
        return ["CFG_CXXFLAGS_PCH_I=-include"]
    return []


def _build(simulator: str, build_dir: Path) -> Path:
    """Compile design.v + tb.v in ``build_dir``; returns the executable (or .vvp) path."""
    if simulator == "icarus":
        target = build_dir / "sim.vvp"
        proc = find_tool("iverilog").run(
            ["-g2005", "-s", TB_TOP, "-o", target.name, "design.v", "tb.v"],
            cwd=build_dir, timeout=BUILD_TIMEOUT_S)
        _check(proc, "iverilog", build_dir / "build.log")
        return target
    tool = find_tool("verilator")
    io.write_text(build_dir / "main.cpp", VERILATOR_MAIN.format(tb=TB_TOP))
    proc = tool.run([*VERILATOR_ARGS, "design.v", "tb.v", "main.cpp"], cwd=build_dir,
                    timeout=BUILD_TIMEOUT_S)
    _check(proc, "verilator", build_dir / "verilate.log")
    cache = _runtime_cache(build_dir.parent)
    for obj in cache.glob(_RUNTIME_GLOB):  # compiled once per workdir, not once per design
        shutil.copyfile(obj, build_dir / "obj" / obj.name)  # now newer than V*.mk: make skips it
    jobs = str(max(1, min(os.cpu_count() or 1, 8)))
    proc = subprocess.run(["make", "-C", "obj", "-f", f"V{TB_TOP}.mk", "-j", jobs,
                           *VERILATOR_OPT, *_make_overrides(tool)],
                          cwd=build_dir, env=tool.environ(), capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT_S)
    _check(proc, "verilator C++ build (make)", build_dir / "build.log")
    if not cache.is_dir():
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache.parent))
        for obj in (build_dir / "obj").glob(_RUNTIME_GLOB):
            shutil.copy2(obj, tmp / obj.name)
        try:
            os.replace(tmp, cache)
        except OSError:  # another build filled the cache first
            shutil.rmtree(tmp, ignore_errors=True)
    return build_dir / "obj" / "sim"


_DONE = re.compile(r"LUTNN_TB_DONE (\d+) of (\d+) outputs in (\d+) cycles")


def _run(simulator: str, target: Path, in_path: Path, out_path: Path, n: int) -> int:
    """Run the built testbench; returns its cycle count at the end."""
    args = [f"+in={in_path}", f"+out={out_path}", f"+n={n}"]
    if simulator == "icarus":
        proc = find_tool("vvp").run(["-n", str(target), *args], cwd=target.parent, timeout=None)
    else:
        proc = subprocess.run([str(target), *args], cwd=target.parent, capture_output=True,
                              text=True)
    log = target.parent / "run.log"
    _check(proc, f"{simulator} simulation", log)
    if "LUTNN_TB_DONE" not in proc.stdout or "LUTNN_TB_ERROR" in proc.stdout:
        raise LutnnError(f"{simulator} testbench did not finish cleanly (log {log}):\n"
                         f"{_tail(proc.stdout + proc.stderr)}")
    done = _DONE.search(proc.stdout)
    return int(done.group(3)) if done else -1


def cached_build(simulator: str, design_text: str, tb: str, workdir: str | os.PathLike,
                 prefix: str = "") -> tuple[Path, Path, float]:
    """Build design + testbench in ``workdir/<prefix><simulator>-<hash>``, or reuse that build.

    The folder is named by the SHA-256 of both texts and the simulator's flags, so a cached
    build is always of the same sources; an interrupted build (no target) starts over.

    Returns:
        ``(build_dir, target, build_seconds)``: the absolute folder (tools run elsewhere), the
        executable (``sim.vvp`` or ``obj/sim``) and the build's wall time (0.0 when cached).
    """
    flags = repr((VERILATOR_ARGS, VERILATOR_OPT)) if simulator == "verilator" else "-g2005"
    key = hashlib.sha256((design_text + tb + flags).encode()).hexdigest()[:16]
    build_dir = Path(workdir).resolve() / f"{prefix}{simulator}-{key}"
    target = build_dir / ("sim.vvp" if simulator == "icarus" else "obj/sim")
    t0 = time.perf_counter()
    if not target.is_file():
        if build_dir.exists():
            shutil.rmtree(build_dir)
        build_dir.mkdir(parents=True)
        io.write_text(build_dir / "design.v", design_text)
        io.write_text(build_dir / "tb.v", tb)
        _build(simulator, build_dir)
    return build_dir, target, time.perf_counter() - t0


def simulate_design(design: VerilogDesign, netlist: Netlist, x: np.ndarray, *,
                    simulator: str = "auto", workdir: str | os.PathLike) -> RtlResult:
    """Simulate an emitted ``design`` of ``netlist`` on inputs ``x``; see :func:`run_rtl`."""
    simulator = pick_simulator(simulator)
    n = int(len(x))
    if n < 1:
        raise ValueError("run_rtl needs at least one input vector")
    vectors = input_hex(netlist, x)
    nmax = max(1024, 1 << (n - 1).bit_length())
    tb = emit_testbench(design, nmax=nmax)
    build_dir, target, build_s = cached_build(simulator, design.text, tb, workdir)
    t0 = time.perf_counter()
    in_path, out_path = build_dir / "inputs.hex", build_dir / "outputs.hex"
    io.write_text(in_path, vectors)
    out_path.unlink(missing_ok=True)
    cycles = _run(simulator, target, in_path, out_path, n)
    lines = out_path.read_text().splitlines() if out_path.is_file() else []
    if len(lines) != n:
        raise LutnnError(f"{simulator}: expected {n} outputs, got {len(lines)} "
                         f"(log {build_dir / 'run.log'})")
    try:
        bits = parse_hex_lines(lines, design.out_port.width)
    except ValueError as exc:
        raise LutnnError(f"{simulator}: {exc} (in {out_path})") from None
    run_s = time.perf_counter() - t0
    if netlist.head is not None:
        outputs = (bits.astype(np.int64) << np.arange(bits.shape[1])).sum(axis=1)
    else:
        outputs = bits
    version = tool_version("verilator" if simulator == "verilator" else "iverilog")
    latency = cycles - n - 1 if cycles >= 0 else None  # first vector driven on cycle 1
    return RtlResult(outputs, simulator, version, build_s, run_s, build_dir, latency)


def run_rtl(netlist: Netlist, x: np.ndarray, *, simulator: str = "auto",
            workdir: str | os.PathLike | None = None, pipeline: str | int = "layer",
            top: str = "lutnn_top", levels_per_stage: int | None = None,
            argmax: str | None = None) -> np.ndarray:
    """Run ``netlist``'s emitted Verilog in an RTL simulator on inputs ``x``.

    Args:
        netlist: the IR.
        x: uint8 pixels [B, P] (netlist with an encoder) or bits [B, input_bits] (0/1, any
            integer or bool dtype).
        simulator: "verilator", "icarus", or "auto" (Verilator if installed, else Icarus).
        workdir: folder for the design, testbench, build and vector files (builds are cached
            there by design hash); None = a temporary folder, removed afterwards.
        pipeline: the emitter's pipeline option (outputs do not depend on it).
        top: the top module name.
        levels_per_stage: the emitter's bound for ``pipeline="balanced"``.
        argmax: the emitter's argmax option ("tree", "parallel"; None: by the pipeline).

    Returns:
        int64 [B] class indices with a head, else bool [B, output_bits].

    Raises:
        ToolNotFoundError: the simulator is not installed.
        LutnnError: the build or the simulation failed (the message holds the log's tail).
    """
    design = emit_verilog(netlist, top=top, pipeline=pipeline, levels_per_stage=levels_per_stage,
                          argmax=argmax)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="lutnn-rtl-") as tmp:
            return simulate_design(design, netlist, x, simulator=simulator,
                                   workdir=tmp).outputs
    return simulate_design(design, netlist, x, simulator=simulator, workdir=workdir).outputs
