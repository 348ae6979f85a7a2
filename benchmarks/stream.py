"""Streaming vs unrolled Verilog of one trained LUT-CNN (issue 12): Yosys ``synth_xilinx`` LUTs
and FFs of both forms, and the streamed RTL (Verilator, random stalls on both sides) == the IR
simulator == PyTorch on MNIST test images.

    .venv/bin/lutnn train --model lut-cnn --epochs 1 --out runs/h12/cnn \\
        --config runs/h12/cnn_config.json   # {"channels": [6, 12], "layers": [400], ...}
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/stream.py --run runs/h12/cnn --images 1000

Writes the designs under ``RUN/stream_bench/`` and the numbers to
``benchmarks/results/stream.json`` under ``runs[NAME]`` (``--name``, default the run folder's
name; the other runs' entries are kept).  ``--ecp5`` adds ``synth_ecp5`` + nextpnr of the
stream (post-route Fmax at speed grades 6 and 8, images per second = Fmax / interval).
The unrolled form is what ``lutnn export`` writes (pruned, ``pipeline="layer"``); the
stream what ``lutnn export --conv stream`` writes (the spatial netlist, not pruned, its dense
tail ``pipeline="layer"``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from lutnn.frontend import to_ir
from lutnn.hdl import export, synthesize, tool_version
from lutnn.hdl.stream import export_stream
from lutnn.hdl.stream_rtl import run_stream
from lutnn.hdl.synth import latency_ns, place_and_route
from lutnn.io import write_json
from lutnn.ir.passes import prune
from lutnn.ir.summary import netlist_summary
from lutnn.pipeline import _test_split
from lutnn.sim import simulate
from lutnn.train import load_run, predict

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "stream.json"
KEEP = ("luts", "lut_counts", "ffs", "carry4", "muxf7", "muxf8", "levels", "seconds")


def _synth(verilog: Path, workdir: Path) -> dict:
    t0 = time.perf_counter()
    result = synthesize(verilog, "lutnn_top", target="xilinx", workdir=workdir)
    out = {k: result[k] for k in KEEP if k in result}
    out["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return out


def _ecp5(verilog: Path, workdir: Path, latency: int, interval: int) -> dict:
    """synth_ecp5 + nextpnr (speed grade 6, then 8 on the same netlist)."""
    r = synthesize(verilog, "lutnn_top", target="ecp5", workdir=workdir)
    out = {k: r[k] for k in ("luts", "ffs", "levels", "seconds", "fmax_mhz", "device",
                             "critical_path") if k in r}
    fast = place_and_route(workdir, r["luts"], speed=8)
    out["speed8"] = {"fmax_mhz": fast["fmax_mhz"], "device": fast["device"]}
    for row in (out, out["speed8"]):
        if row["fmax_mhz"]:
            row["latency_ns"] = latency_ns(latency, row["fmax_mhz"])
            row["images_per_second"] = round(row["fmax_mhz"] * 1e6 / interval)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/h12/cnn")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--gap", type=float, default=0.2)
    ap.add_argument("--stall", type=float, default=0.2)
    ap.add_argument("--name", help="key of this run in stream.json (default: the folder name)")
    ap.add_argument("--ecp5", action="store_true",
                    help="also synth_ecp5 + nextpnr-ecp5 the stream (Fmax, images/s)")
    ap.add_argument("--no-unrolled-synth", action="store_true",
                    help="skip synthesizing the unrolled form (the slow part)")
    args = ap.parse_args()
    run = Path(args.run)
    model, record = load_run(run)
    shape = tuple(record["input_shape"])
    out = run / "stream_bench"

    spatial = to_ir(model, shape, spatial=True)
    unrolled = prune(to_ir(model, shape))
    stream = export_stream(spatial, out / "stream", top="lutnn_top")
    flat = export(unrolled, out / "unrolled", top="lutnn_top", pipeline="layer")

    x, y = _test_split(record, args.images)
    x = x.reshape(len(x), -1)
    sim_classes = simulate(spatial, x, keep_layers=False).classes
    torch_classes = predict(model, x.reshape(len(x), *shape))
    t0 = time.perf_counter()
    rtl = run_stream(spatial, x, simulator="verilator", workdir=out / "rtl", gap=args.gap,
                     stall=args.stall)
    rtl_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    nostall = run_stream(spatial, x[:20], simulator="verilator", workdir=out / "rtl")

    result = {
        "run": str(run),
        "model": record["model"],
        "config": record.get("config"),
        "test_images": int(len(x)),
        "accuracy_sim": float((sim_classes == y).mean()),
        "accuracy_rtl_stream": float((rtl.outputs == y).mean()),
        "rtl_stream_vs_sim_mismatches": int((rtl.outputs != sim_classes).sum()),
        "torch_vs_sim_mismatches": int((torch_classes != sim_classes).sum()),
        "rtl": {"simulator": rtl.simulator, "version": rtl.version, "gap": args.gap,
                "stall": args.stall, "cycles": rtl.cycles,
                "build_seconds": round(rtl.build_seconds, 1),
                "run_seconds": round(rtl.run_seconds, 2), "wall_seconds": round(rtl_wall, 1)},
        "stream": {
            "latency_cycles": stream["latency"],
            "cycles_per_image": stream["cycles_per_image"],
            "latency_cycles_measured": nostall.first_class_cycle - nostall.first_pixel_cycle,
            "cycles_per_image_measured": (nostall.cycles - nostall.first_class_cycle) / 19,
            "line_buffer_bits": stream["line_buffer_bits"],
            "line_buffer": "shift registers (FFs; synth_xilinx -nosrl keeps them as FFs)",
            "stages": stream["stages"],
            "lut_nodes": netlist_summary(spatial)["totals"].get("lut_nodes", 0),
        },
        "unrolled": {"lut_nodes": netlist_summary(unrolled)["totals"].get("lut_nodes", 0),
                     "latency_cycles": flat["latency"]},
        "yosys": tool_version("yosys"),
        "machine": platform.platform(),
    }
    assert result["rtl_stream_vs_sim_mismatches"] == 0, result
    print(f"RTL stream == sim on {len(x)} images ({result['accuracy_rtl_stream']:.4f}); "
          f"{rtl.simulator} {rtl.build_seconds:.0f} s build, {rtl.run_seconds:.1f} s run")
    result["stream"]["synth_xilinx"] = _synth(Path(stream["verilog"]), out / "synth-stream")
    print("stream:", result["stream"]["synth_xilinx"])
    if not args.no_unrolled_synth:
        result["unrolled"]["synth_xilinx"] = _synth(Path(flat["verilog"]),
                                                    out / "synth-unrolled")
        print("unrolled:", result["unrolled"]["synth_xilinx"])
        s, u = result["stream"]["synth_xilinx"], result["unrolled"]["synth_xilinx"]
        result["lut_ratio_unrolled_over_stream"] = round(u["luts"] / s["luts"], 2)
    if args.ecp5:
        result["stream"]["ecp5"] = _ecp5(Path(stream["verilog"]), out / "ecp5-stream",
                                         stream["latency"], stream["cycles_per_image"])
        print("stream ECP5:", result["stream"]["ecp5"])
    saved = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if saved and "runs" not in saved:  # the single-run layout of the first measurement
        saved = {"runs": {Path(saved["run"]).name: saved}}
    saved.setdefault("runs", {})[args.name or run.name] = result
    write_json(RESULTS, saved)
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
