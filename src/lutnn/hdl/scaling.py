"""How synthesized LUTs grow with layer width: fully connected XNOR layers vs LUT6 layers.

Used by ``benchmarks/scaling.py`` (which runs the synthesis) and by ``lutnn report`` (which
plots a saved result with :func:`plot_scaling`).  A point is one layer of width N synthesized
alone by :func:`lutnn.hdl.synthesize` (``synth_xilinx``), registered outputs:

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


def plot_scaling(scaling: dict, path: str | os.PathLike) -> None:
    """Log-log plot of LUTs vs N per series, fitted power laws, and N log N / N^2 guides."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lutnn import io

    colors = {"xnor": "#c0392b", "lut6": "#2471a3"}
    fig, ax = plt.subplots(figsize=(7.5, 5.2), dpi=120)
    all_n = [p["n"] for s in scaling["series"].values() for p in s["points"]]
    if not all_n:
        raise LutnnError("scaling result has no points to plot")
    grid = np.geomspace(min(all_n), max(all_n), 50)
    for kind, series in scaling["series"].items():
        pts = series["points"]
        if not pts:
            continue
        ns, luts = [p["n"] for p in pts], [p["luts"] for p in pts]
        fit = series["fit"]
        label = series["label"] + (f": fit N^{fit['exponent']:.2f}" if fit else "")
        color = colors.get(kind)
        ax.plot(ns, luts, "o", color=color, label=label, zorder=3)
        if fit:
            span = np.geomspace(min(ns), max(ns), 20)
            ax.plot(span, fit["coefficient"] * span ** fit["exponent"], "-", color=color,
                    alpha=0.6)
        if kind == "xnor":  # guides through the widest XNOR point (least fixed overhead)
            n0, l0 = ns[-1], luts[-1]
            ax.plot(grid, l0 * (grid * np.log2(grid)) / (n0 * math.log2(n0)), ":", color="0.3",
                    label="guide: N log N (through the widest XNOR point)")
            ax.plot(grid, l0 * (grid / n0) ** 2, "--", color="0.55",
                    label="guide: N^2 (through the widest XNOR point)")
        for s in series["skipped"][:1]:
            ax.annotate(f"{kind} N={s['n']}: skipped", (s["n"], luts[-1]), fontsize=7,
                        color=color, xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_yscale("log")
    ax.set_xlabel("layer width N (neurons = inputs)")
    ax.set_ylabel("LUTs after synthesis (Yosys synth_xilinx, LUT1..LUT6)")
    ax.set_title("LUT cost of one layer vs width: fully connected XNOR vs LUT6")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
