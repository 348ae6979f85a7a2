"""Streaming RTL simulation: :func:`run_stream` feeds whole images pixel by pixel, with random
``s_tvalid`` gaps and ``m_tready`` stalls, through the design of :func:`lutnn.hdl.stream.
emit_stream` in Verilator or Icarus and returns the classes (bit-exact with
:func:`lutnn.sim.simulate`, tested on random nets).  The streaming counterpart of
:mod:`lutnn.hdl.rtl`, whose simulator choice, build cache and error checks it shares.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lutnn import io
from lutnn.errors import LutnnError
from lutnn.hdl.rtl import _check, cached_build, pick_simulator
from lutnn.hdl.stream import StreamDesign, emit_stream, emit_stream_testbench, split_stream
from lutnn.hdl.testbench import bits_to_hex_lines, parse_hex_lines, pixels_to_hex_lines
from lutnn.hdl.tools import find_tool, tool_version
from lutnn.ir.layers import Netlist


def stream_hex(netlist: Netlist, x: np.ndarray) -> str:
    """The ``$readmemh`` text of images ``x`` as pixels in raster order, one per line."""
    x = np.asarray(x)
    image, flatten, _ = split_stream(netlist)
    c_n, r_n, q_n = (image[0] if image else flatten).in_shape
    hw = r_n * q_n
    if netlist.encoder is not None:
        enc = netlist.encoder
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != enc.pixels:
            raise ValueError(f"input must be uint8 pixels [B, {enc.pixels}], got {x.dtype} "
                             f"{x.shape}")
        per_pixel = x.reshape(len(x), enc.channels, hw).transpose(0, 2, 1).reshape(-1,
                                                                                  enc.channels)
        lines = pixels_to_hex_lines(np.ascontiguousarray(per_pixel))
    else:
        if x.ndim != 2 or x.shape[1] != netlist.input_bits:
            raise ValueError(f"input must be bits [B, {netlist.input_bits}], got {x.shape}")
        per_pixel = x.reshape(len(x), c_n, hw).transpose(0, 2, 1).reshape(-1, c_n)
        lines = bits_to_hex_lines(per_pixel.astype(bool))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class StreamResult:
    """What one streaming RTL simulation produced.

    Attributes:
        outputs: int64 [B] classes (with a head) or bool [B, W] output bits.
        simulator, version: the RTL simulator.
        cycles: clocks of the whole run (from the end of reset to the last result).
        first_pixel_cycle, first_class_cycle: the testbench's cycle of the first pixel's and
            the first result's handshake (their difference is the first image's latency).
        build_seconds, run_seconds: wall times (build 0.0 when cached).
        build_dir: where the design, testbench and build live.
    """

    outputs: np.ndarray
    simulator: str
    version: str
    cycles: int
    first_pixel_cycle: int
    first_class_cycle: int
    build_seconds: float
    run_seconds: float
    build_dir: Path


_DONE = re.compile(r"LUTNN_TB_DONE (\d+) of (\d+) outputs in (\d+) cycles, first pixel at "
                   r"(-?\d+), first class at (-?\d+), tlast_error (\d+)")


def simulate_stream(design: StreamDesign, netlist: Netlist, x: np.ndarray, *,
                    simulator: str = "auto", workdir: str | os.PathLike,
                    gap: float = 0.0, stall: float = 0.0, seed: int = 1) -> StreamResult:
    """Stream images ``x`` through ``design`` in an RTL simulator; see :func:`run_stream`."""
    simulator = pick_simulator(simulator)
    n = int(len(x))
    if n < 1:
        raise ValueError("simulate_stream needs at least one image")
    for name, p in (("gap", gap), ("stall", stall)):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1), got {p!r}")
    vectors = stream_hex(netlist, x)
    total = n * design.pixels
    nmax = max(1024, 1 << (total - 1).bit_length())
    tb = emit_stream_testbench(design, nmax=nmax)
    build_dir, target, build_s = cached_build(simulator, design.text, tb, workdir, "stream-")
    t0 = time.perf_counter()
    in_path, out_path = build_dir / "inputs.hex", build_dir / "outputs.hex"
    io.write_text(in_path, vectors)
    out_path.unlink(missing_ok=True)
    # without stalls a few clocks per pixel at most; stalls slow it by 1/(1-p) each side
    slow = 1.0 / ((1.0 - gap) * (1.0 - stall))
    max_cycles = int(1000 + 4 * slow * n * design.cycles_per_image)
    args = [f"+in={in_path}", f"+out={out_path}", f"+n={n}", f"+gap={int(gap * 256)}",
            f"+stall={int(stall * 256)}", f"+seed={int(seed) & 0x7FFFFFFF or 1}",
            f"+max_cycles={max_cycles}"]
    if simulator == "icarus":
        proc = find_tool("vvp").run(["-n", str(target), *args], cwd=build_dir, timeout=None)
    else:
        proc = subprocess.run([str(target), *args], cwd=build_dir, capture_output=True,
                              text=True)
    log = build_dir / "run.log"
    _check(proc, f"{simulator} simulation", log)
    done = _DONE.search(proc.stdout)
    if done is None or "LUTNN_TB_ERROR" in proc.stdout:
        raise LutnnError(f"{simulator} stream testbench did not finish cleanly (log {log}):\n"
                         f"{(proc.stdout + proc.stderr)[-3000:]}")
    received, _, cycles, first_in, first_out, tlast_error = map(int, done.groups())
    if received != n:
        raise LutnnError(f"{simulator}: expected {n} results, got {received} in {cycles} "
                         f"cycles (stalled? log {log})")
    if tlast_error:
        raise LutnnError(f"{simulator}: the design flagged tlast_error (log {log})")
    lines = out_path.read_text().splitlines()
    try:
        bits = parse_hex_lines(lines, design.out_width)
    except ValueError as exc:
        raise LutnnError(f"{simulator}: {exc} (in {out_path})") from None
    run_s = time.perf_counter() - t0
    if design.has_head:
        outputs = (bits.astype(np.int64) << np.arange(bits.shape[1])).sum(axis=1)
    else:
        outputs = bits
    version = tool_version("verilator" if simulator == "verilator" else "iverilog")
    return StreamResult(outputs, simulator, version, cycles, first_in, first_out, build_s,
                        run_s, build_dir)


def run_stream(netlist: Netlist, x: np.ndarray, *, simulator: str = "auto",
               workdir: str | os.PathLike | None = None, gap: float = 0.0,
               stall: float = 0.0, seed: int = 1, top: str = "lutnn_top",
               tail_pipeline: str | int = "layer",
               registered_ready: bool = True, registered_window: bool = True) -> StreamResult:
    """Emit ``netlist`` as a stream and run images ``x`` through it in an RTL simulator.

    Args:
        netlist: a spatial netlist (see :func:`emit_stream`).
        x: uint8 pixels [B, P] (with an encoder) or bits [B, input_bits].
        simulator: "verilator", "icarus" or "auto".
        workdir: where builds are cached (None: a temporary folder, removed).
        gap: the chance that the source holds ``s_tvalid`` low in a cycle between pixels.
        stall: the chance that the sink holds ``m_tready`` low in a cycle.
        seed: the testbench's random seed.
        tail_pipeline: :func:`emit_stream`'s option (results do not depend on it).
        registered_ready, registered_window: :func:`emit_stream`'s options (results do not
            depend on them).

    Returns:
        A :class:`StreamResult` (``.outputs``: classes, or bits without a head).
    """
    design = emit_stream(netlist, top=top, tail_pipeline=tail_pipeline,
                         registered_ready=registered_ready,
                         registered_window=registered_window)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="lutnn-stream-") as tmp:
            return simulate_stream(design, netlist, x, simulator=simulator, workdir=tmp,
                                   gap=gap, stall=stall, seed=seed)
    return simulate_stream(design, netlist, x, simulator=simulator, workdir=workdir, gap=gap,
                           stall=stall, seed=seed)


__all__ = ["StreamResult", "run_stream", "simulate_stream", "stream_hex"]
