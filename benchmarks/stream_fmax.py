"""ECP5 Fmax of one streamed student under each stream-control option (issue 25's 200 MHz).

    .venv/bin/lutnn export S --conv stream --pipeline balanced
    python benchmarks/stream_fmax.py S [--variants windows,ready] [--name NAME]

Emits the student's spatial netlist (``S/hdl/netlist.npz``) as a stream, dense tail
``pipeline="balanced"``, once per variant, and runs ``synth_ecp5`` + ``nextpnr-ecp5``
(LFE5U, speed grade 6, out of context, seed 1) on each:

* ``combinational``: every stage's ``in_ready`` reads its downstream's (the ready chain);
* ``ready``: registered ready where it costs no throughput (session 12);
* ``windows``: ... and registered windows on the padded stages that have a clock to spare
  (session 14: the engine reads registers only).

Prints a table (LUT4s, FFs, Fmax, images/s, latency, critical path) and writes it to
``benchmarks/results/stream_fmax.json`` under ``runs[NAME]`` (default: the folder's name).
Place and route takes minutes per variant; the machine's load changes seconds, not Fmax.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lutnn.hdl.stream import emit_stream
from lutnn.hdl.synth import synthesize
from lutnn.io import write_json
from lutnn.ir.serialize import load_netlist

RESULTS = Path(__file__).resolve().parent / "results" / "stream_fmax.json"
VARIANTS = {"combinational": {"registered_ready": False, "registered_window": False},
            "ready": {"registered_ready": True, "registered_window": False},
            "windows": {"registered_ready": True, "registered_window": True}}


def measure(netlist, variant: str, workdir: Path) -> dict:
    """One variant's stream, synthesized and placed and routed."""
    design = emit_stream(netlist, tail_pipeline="balanced", **VARIANTS[variant])
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "lutnn_top.v").write_text(design.text)
    t0 = time.perf_counter()
    r = synthesize(workdir / "lutnn_top.v", design.top, target="ecp5", workdir=workdir / "ecp5")
    return {"variant": variant, "luts4": r["luts"], "ffs": r["ffs"], "fmax_mhz": r["fmax_mhz"],
            "images_per_s": round(r["fmax_mhz"] * 1e6 / design.cycles_per_image),
            "latency": design.latency, "cycles_per_image": design.cycles_per_image,
            "line_buffer_bits": design.line_buffer_bits,
            "registered_windows": sum(s.registered_window for s in design.stages),
            "critical_path": r["critical_path"], "device": r["device"],
            "wall_seconds": round(time.perf_counter() - t0)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("student", type=Path, help="a run folder exported with --conv stream")
    ap.add_argument("--variants", default="ready,windows",
                    help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument("--name", help="entry in the results file (default: the folder's name)")
    args = ap.parse_args(argv)
    netlist = load_netlist(args.student / "hdl")
    rows = []
    for variant in args.variants.split(","):
        row = measure(netlist, variant, args.student / "stream_fmax" / variant)
        rows.append(row)
        path = row["critical_path"] or {}
        print(f"{variant:14s} {row['luts4']:>7,} LUT4 {row['ffs']:>6,} FF "
              f"{row['fmax_mhz']:6.1f} MHz {row['images_per_s']:>9,} img/s "
              f"latency {row['latency']} | {path.get('from')} -> {path.get('to')} "
              f"({path.get('ns')} ns, {path.get('routing_ns')} routing)", flush=True)
    doc = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    doc["runs"][args.name or args.student.name] = {"student": str(args.student), "rows": rows}
    write_json(RESULTS, doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
