"""Latency vs area of the pipeline options: Fmax, LUT levels per stage, FFs, cycles, ns.

One random LUT-Net (784 input bits -> 1000 LUT6 -> 500 LUT6 -> 10-class head of 50 bits each;
random wiring and full-support tables: what a trained net of that shape synthesizes to, give or
take the tables ABC can shrink) exported with each pipeline option, synthesized with
``synth_xilinx`` (LUT6 levels per stage) and ``synth_ecp5`` + ``nextpnr-ecp5`` (LUT4 levels
per stage, post-route Fmax), latency in ns = cycles / Fmax.

    .venv/bin/python benchmarks/pipeline.py            # the design above (~10 minutes)
    .venv/bin/python benchmarks/pipeline.py --quick    # 64 -> 200 -> 100, 10 classes (~2 min)

Prints a table and writes benchmarks/results/pipeline.json (``--quick``: pipeline_quick.json).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from lutnn.hdl import export, synthesize, tool_version
from lutnn.hdl.synth import latency_ns
from lutnn.io import write_json
from lutnn.ir import GroupSumHead, LutLayer, Netlist

RESULTS = Path(__file__).resolve().parent / "results"
OPTIONS = [("none", None), ("layer", None), ("balanced", 3), ("balanced", 2), ("balanced", 1)]


def random_lut_net(inputs: int, widths: list[int], classes: int, seed: int = 0) -> Netlist:
    """LUT6 layers with distinct random inputs per node and random tables, then a head."""
    rng = np.random.default_rng(seed)
    layers, width = [], inputs
    for i, n in enumerate(widths):
        idx = np.argsort(rng.random((n, width)), axis=1)[:, :6].astype(np.int32)
        tables = rng.integers(0, 2, (n, 64)).astype(np.uint8)
        layers.append(LutLayer(f"lut{i + 1}", width, idx, tables))
        width = n
    return Netlist(inputs, tuple(layers), head=GroupSumHead("head", width, classes))


def measure(net: Netlist, pipeline: str, levels: int | None, folder: Path,
            timeout: float) -> dict:
    design = export(net, folder, pipeline=pipeline, levels_per_stage=levels)
    row = {"pipeline": pipeline, "levels_per_stage": levels, "latency_cycles": design["latency"]}
    for target in ("xilinx", "ecp5"):
        t0 = time.perf_counter()
        r = synthesize(design["verilog"], target=target, workdir=folder / target, timeout=timeout)
        row[target] = {"luts": r["luts"], "ffs": r["ffs"], "levels": r["levels"],
                       "levels_per_stage": r["levels_per_stage"],
                       "seconds": round(time.perf_counter() - t0, 1)}
        if target == "xilinx":
            row[target]["carry4"] = r["carry4"]
        else:
            row[target].update(fmax_mhz=r["fmax_mhz"], device=r["device"],
                               latency_ns=latency_ns(design["latency"], r["fmax_mhz"]))
    return row


def format_table(rows: list[dict]) -> str:
    head = (f"{'pipeline':<12} {'cycles':>6} {'X LUTs':>7} {'X FFs':>6} {'X lvl':>5} "
            f"{'E LUT4':>7} {'E FFs':>6} {'E lvl':>5} {'Fmax MHz':>9} {'ns':>7}  "
            "ECP5 LUT4 levels per stage")
    lines = [head, "-" * len(head)]
    for r in rows:
        name = r["pipeline"] + (f" N={r['levels_per_stage']}" if r["levels_per_stage"] else "")
        x, e = r["xilinx"], r["ecp5"]
        per = " ".join(str(v) for v in e["levels_per_stage"].values())
        ns = f"{e['latency_ns']:.1f}" if e["latency_ns"] is not None else "-"
        fmax = f"{e['fmax_mhz']:.0f}" if e["fmax_mhz"] else "-"
        lines.append(f"{name:<12} {r['latency_cycles']:>6} {x['luts']:>7} {x['ffs']:>6} "
                     f"{x['levels']:>5} {e['luts']:>7} {e['ffs']:>6} {e['levels']:>5} "
                     f"{fmax:>9} {ns:>7}  {per}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small net (development)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds one tool run may take (default: 900)")
    parser.add_argument("--out", type=Path, help="result JSON (default: benchmarks/results/)")
    parser.add_argument("--workdir", type=Path, help="keep the Verilog and tool files here")
    args = parser.parse_args(argv)
    shape = (64, [200, 100], 10) if args.quick else (784, [1000, 500], 10)
    net = random_lut_net(shape[0], shape[1], shape[2])
    rows = []
    with tempfile.TemporaryDirectory(prefix="lutnn-pipeline-") as tmp:
        workdir = args.workdir or Path(tmp)
        for pipeline, levels in OPTIONS:
            name = pipeline + (str(levels) if levels else "")
            rows.append(measure(net, pipeline, levels, workdir / name, args.timeout))
            print(format_table(rows).splitlines()[-1], flush=True)
    result = {
        "what": "one random LUT-Net exported with each pipeline option; Xilinx (synth_xilinx) "
                "and ECP5 (synth_ecp5 + nextpnr-ecp5 out of context, post-route Fmax); "
                "latency_ns = cycles / Fmax",
        "design": {"inputs": shape[0], "lut6_layers": shape[1], "classes": shape[2],
                   "seed": 0},
        "tools": {"yosys": tool_version("yosys"), "nextpnr": tool_version("nextpnr-ecp5")},
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "quick": args.quick,
        "rows": rows,
    }
    head = Netlist(1000, (), head=GroupSumHead("head", 1000, 10))  # the head's cost alone
    with tempfile.TemporaryDirectory(prefix="lutnn-head-") as tmp:
        design = export(head, tmp, pipeline="layer")
        r = synthesize(design["verilog"], target="xilinx", workdir=Path(tmp) / "x")
    result["head_10x100_xilinx"] = {"luts": r["luts"], "ffs": r["ffs"], "carry4": r["carry4"],
                                    "luts_per_input_bit": round(r["luts"] / 1000, 3)}
    print(f"10-class head over 1000 bits alone (synth_xilinx): {r['luts']} LUTs, "
          f"{r['carry4']} CARRY4, {r['luts'] / 1000:.3f} LUTs per bit")
    out = args.out or RESULTS / ("pipeline_quick.json" if args.quick else "pipeline.json")
    write_json(out, result)
    print(format_table(rows))
    print(f"-> {out}")
    return result


if __name__ == "__main__":
    main()
