"""How synthesized LUTs grow with layer width: fully connected XNOR layers vs LUT6 layers.

The measurement only (numpy and Yosys, no plotting): used by ``benchmarks/scaling.py`` and the
demo, which run the sweep; :func:`lutnn.report.plot_scaling` draws a saved result.  A point is
one layer of width N synthesized alone by :func:`lutnn.hdl.synthesize` (``synth_xilinx``),
registered outputs:

* "xnor": a ThresholdLayer with N neurons, each reading all N inputs (fan-in F = N) with random
  +-1 weights: N^2 XNOR-popcount connections;
* "lut6": a LutLayer with N six-input LUTs, random distinct wiring, random tables.

The growth exponent is the slope of a least-squares line through (log N, log LUTs).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from lutnn.errors import LutnnError
from lutnn.ir.layers import LutLayer, Netlist, ThresholdLayer

SERIES = {
    "xnor": "fully connected XNOR layer (ThresholdLayer, fan-in F = N)",
    "lut6": "LUT6 layer (N six-input LUTs, random wiring)",
}


def xnor_net(n: int, seed: int = 0) -> Netlist:
    """N threshold neurons over N inputs, all connected, random +-1 weights and thresholds."""
    rng = np.random.default_rng(seed)
    inputs = np.tile(np.arange(n, dtype=np.int32), (n, 1))  # (N, F = N)
    weights = rng.choice(np.array([-1, 1], np.int8), (n, n))
    thresholds = (n // 2 + rng.integers(-2, 3, n)).clip(1, n).astype(np.int32)
    invert = rng.random(n) < 0.5
    return Netlist(n, (ThresholdLayer("xnor", n, inputs, weights, thresholds, invert),))


def lut6_net(n: int, seed: int = 0) -> Netlist:
    """N six-input LUTs over N inputs (distinct inputs per node), random tables."""
    rng = np.random.default_rng(seed)
    k = min(6, n)
    inputs = np.stack([rng.choice(n, k, replace=False) for _ in range(n)]).astype(np.int32)
    tables = rng.integers(0, 2, (n, 2**k)).astype(np.uint8)
    return Netlist(n, (LutLayer("lut6", n, inputs, tables),))


NETS = {"xnor": xnor_net, "lut6": lut6_net}


def fit_exponent(ns: list[int], luts: list[int]) -> dict | None:
    """Least-squares line through (log N, log LUTs): {"exponent", "coefficient"} or None."""
    if len(ns) < 2:
        return None
    slope, intercept = np.polyfit(np.log(ns), np.log(luts), 1)
    return {"exponent": round(float(slope), 3), "coefficient": round(math.exp(intercept), 4)}


def run_series(kind: str, sizes: list[int], workdir: str | os.PathLike, *,
               timeout: float = 300.0, growth_guard: float = 1.0, log=print) -> dict:
    """Synthesize ``kind`` ("xnor" or "lut6") at each width; stop early when a point would
    likely exceed ``timeout`` seconds (the last time x the size ratio squared x growth_guard for
    XNOR, x the size ratio for LUT6) or did exceed it.

    Returns:
        {"label", "points": [{"n", "luts", "ffs", "levels", "carry4", "seconds",
        "connections"}...], "skipped": [{"n", "reason"}...], "fit": {...} | None (all points),
        "fit_widest3": {...} | None (the 3 widest, when there are more than 3 points)}
    """
    from lutnn.hdl.export import export
    from lutnn.hdl.synth import synthesize

    points, skipped = [], []
    last: tuple[int, float] | None = None
    for n in sizes:
        if skipped:
            skipped.append({"n": n, "reason": "a smaller width was skipped"})
            continue
        if last is not None:
            power = 2 if kind == "xnor" else 1
            predicted = last[1] * (n / last[0]) ** power * growth_guard
            if predicted > timeout:
                skipped.append({"n": n, "reason": f"predicted {predicted:.0f} s > {timeout:.0f} s"})
                log(f"{kind} N={n}: skipped (predicted {predicted:.0f} s)")
                continue
        folder = Path(workdir) / f"{kind}-{n}"
        t0 = time.perf_counter()
        path = export(NETS[kind](n), folder, pipeline="layer")["verilog"]
        try:
            r = synthesize(path, "lutnn_top", workdir=folder / "xilinx", timeout=timeout)
        except LutnnError as exc:
            skipped.append({"n": n, "reason": str(exc).splitlines()[0]})
            log(f"{kind} N={n}: {skipped[-1]['reason']}")
            continue
        seconds = time.perf_counter() - t0
        connections = n * n if kind == "xnor" else 6 * n
        points.append({"n": n, "luts": r["luts"], "ffs": r["ffs"], "levels": r["levels"],
                       "carry4": r["carry4"], "seconds": round(seconds, 1),
                       "connections": connections})
        log(f"{kind} N={n}: {r['luts']} LUTs, {r['levels']} levels, {seconds:.0f} s")
        last = (n, seconds)
    ns, luts = [p["n"] for p in points], [p["luts"] for p in points]
    return {"label": SERIES[kind], "points": points, "skipped": skipped,
            "fit": fit_exponent(ns, luts),
            "fit_widest3": fit_exponent(ns[-3:], luts[-3:]) if len(ns) > 3 else None}


def format_table(scaling: dict) -> str:
    """A plain-text table of every point, then the fitted exponents."""
    lines = [f"{'series':<6} {'N':>6} {'LUTs':>9} {'LUTs/N':>8} {'levels':>6} {'CARRY4':>7} "
             f"{'seconds':>8}"]
    for kind, series in scaling["series"].items():
        for p in series["points"]:
            lines.append(f"{kind:<6} {p['n']:>6} {p['luts']:>9} {p['luts'] / p['n']:>8.1f} "
                         f"{p['levels']:>6} {p['carry4']:>7} {p['seconds']:>8.1f}")
        for s in series["skipped"]:
            lines.append(f"{kind:<6} {s['n']:>6}   skipped: {s['reason']}")
    for kind, series in scaling["series"].items():
        fit = series["fit"]
        text = "n/a (fewer than 2 points)" if fit is None else (
            f"LUTs ~ {fit['coefficient']:.3g} * N^{fit['exponent']:.2f}")
        tail = series.get("fit_widest3")
        if tail:
            text += f"; widest 3 widths: N^{tail['exponent']:.2f}"
        lines.append(f"{kind}: {text}")
    return "\n".join(lines)
