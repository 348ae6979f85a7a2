"""Latency vs area of the pipeline options: Fmax, LUT levels per stage, FFs, cycles, ns.

Two parts, both written into benchmarks/results/pipeline.json (each keeps the other's rows):

* ``--random`` (the default): one random LUT-Net (784 input bits -> 1000 LUT6 -> 500 LUT6 ->
  10-class head of 50 bits each; random wiring and full-support tables) exported with each
  pipeline option, synthesized with ``synth_xilinx`` (LUT6 levels per stage) and
  ``synth_ecp5`` + ``nextpnr-ecp5`` (LUT4 levels per stage, post-route Fmax at speed grades
  6 and 8), latency in ns = cycles / Fmax.  ``--only balanced1 ...`` re-measures some rows.
* ``--trained DIR``: trained run folders measured the same way through the CLI's own code
  (``export_run``, ``synthesize``): DIR/small (``lutnn train --preset small --epochs 2``)
  and DIR/teacher (an XNOR teacher-mlp, ``--teacher-hidden`` wide, default the quick demo's
  16 with groups of 5), trained first when missing; with ``balanced`` also RTL == simulator
  on 1,000 test images (``lutnn sim --rtl``).

    .venv/bin/python benchmarks/pipeline.py                    # random net (~15 minutes)
    .venv/bin/python benchmarks/pipeline.py --quick            # 64 -> 200 -> 100 (~2 min)
    .venv/bin/python benchmarks/pipeline.py --trained runs/h15 # trained nets (~15 minutes)
    .venv/bin/python benchmarks/pipeline.py --trained runs/h15 \
        --run "demo LUT-Net=runs/demo/lutnet" --run "large LUT-Net=runs/demo/lutnet-e2e"

Prints a table; ``--quick`` writes pipeline_quick.json instead.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from lutnn.hdl import export, synthesize, tool_version
from lutnn.hdl.synth import latency_ns, place_and_route
from lutnn.io import write_json
from lutnn.ir import GroupSumHead, LutLayer, Netlist

RESULTS = Path(__file__).resolve().parent / "results"
OPTIONS = [("none", None), ("layer", None), ("balanced", 3), ("balanced", 2), ("balanced", 1)]
TRAINED_OPTIONS = [("layer", None), ("balanced", None)]  # "none": no register, no Fmax
FAST_SPEED = 8  # ECP5 speed grades measured: 6 (nextpnr's default, the slowest) and 8


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


def _ecp5_row(design_verilog: str, latency: int, folder: Path, timeout: float) -> dict:
    """ECP5 at speed grade 6, then nextpnr again at speed grade 8 on the same netlist."""
    r = synthesize(design_verilog, target="ecp5", workdir=folder, timeout=timeout)
    row = {"luts": r["luts"], "ffs": r["ffs"], "levels": r["levels"],
           "levels_per_stage": r["levels_per_stage"], "seconds": r["seconds"],
           "fmax_mhz": r["fmax_mhz"], "device": r["device"],
           "latency_ns": latency_ns(latency, r["fmax_mhz"]),
           "critical_path": r["critical_path"]}
    fast = place_and_route(folder, r["luts"], speed=FAST_SPEED, timeout=timeout)
    row[f"speed{FAST_SPEED}"] = {"fmax_mhz": fast["fmax_mhz"], "device": fast["device"],
                                 "latency_ns": latency_ns(latency, fast["fmax_mhz"]),
                                 "critical_path": fast["critical_path"]}
    return row


def _xilinx_row(design_verilog: str, folder: Path, timeout: float) -> dict:
    r = synthesize(design_verilog, target="xilinx", workdir=folder, timeout=timeout)
    return {"luts": r["luts"], "ffs": r["ffs"], "levels": r["levels"],
            "levels_per_stage": r["levels_per_stage"], "seconds": r["seconds"],
            "carry4": r["carry4"]}


def measure(net: Netlist, pipeline: str, levels: int | None, folder: Path,
            timeout: float) -> dict:
    design = export(net, folder, pipeline=pipeline, levels_per_stage=levels)
    return {"pipeline": pipeline, "levels_per_stage": levels,
            "latency_cycles": design["latency"],
            "xilinx": _xilinx_row(design["verilog"], folder / "xilinx", timeout),
            "ecp5": _ecp5_row(design["verilog"], design["latency"], folder / "ecp5", timeout)}


def _lutnn(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    subprocess.run([sys.executable, "-m", "lutnn", *args], check=True, env=env)


def trained_runs(folder: Path, teacher_hidden: int) -> dict[str, Path]:
    """The trained nets measured (trained here first when missing)."""
    small, teacher = folder / "small", folder / f"teacher{teacher_hidden}"
    if not (small / "metrics.json").is_file():
        _lutnn("train", "--preset", "small", "--epochs", "2", "--out", str(small))
    if not (teacher / "metrics.json").is_file():
        cfg = folder / f"teacher{teacher_hidden}.json"
        cfg.write_text(json.dumps({"encoder": "threshold", "hidden": [teacher_hidden],
                                   "group_size": 5 if teacher_hidden < 64 else 10,
                                   "tau": 1.0}))
        _lutnn("train", "--model", "teacher-mlp", "--epochs", "5", "--config", str(cfg),
               "--out", str(teacher))
    return {"small LUT-Net": small, f"XNOR teacher 784-{teacher_hidden}": teacher}


def measure_run(run: Path, pipeline: str, levels: int | None, timeout: float,
                rtl: bool) -> dict:
    from lutnn.pipeline import TOP, export_run, simulate_run

    info = export_run(run, pipeline=pipeline, levels_per_stage=levels)
    verilog = str(run / info["verilog"])
    hdl = run / "hdl" / f"bench-{pipeline}{levels or ''}"
    row = {"pipeline": pipeline, "levels_per_stage": info["levels_per_stage"],
           "latency_cycles": info["latency"],
           "xilinx": _xilinx_row(verilog, hdl / "xilinx", timeout),
           "ecp5": _ecp5_row(verilog, info["latency"], hdl / "ecp5", timeout)}
    assert TOP == "lutnn_top"
    if rtl:
        sim = simulate_run(run, rtl=True, vectors=1000)
        row["rtl"] = {"vectors": sim["vectors"], "mismatches": sim["mismatches"],
                      "rtl_accuracy": sim["rtl_accuracy"], "simulator": sim.get("simulator")}
    return row


def format_table(rows: list[dict]) -> str:
    head = (f"{'pipeline':<12} {'cycles':>6} {'X LUTs':>7} {'X FFs':>6} {'X lvl':>5} "
            f"{'E LUT4':>7} {'E FFs':>6} {'E lvl':>5} {'MHz -6':>7} {'ns -6':>6} "
            f"{'MHz -8':>7} {'ns -8':>6}  ECP5 LUT4 levels per stage")
    lines = [head, "-" * len(head)]
    for r in rows:
        name = r["pipeline"] + (f" N={r['levels_per_stage']}" if r["levels_per_stage"] else "")
        x, e = r["xilinx"], r["ecp5"]
        fast = e.get(f"speed{FAST_SPEED}", {})
        per = " ".join(str(v) for v in e["levels_per_stage"].values())

        def num(v, spec):
            return format(v, spec) if v else "-"

        lines.append(f"{name:<12} {r['latency_cycles']:>6} {x['luts']:>7} {x['ffs']:>6} "
                     f"{x['levels']:>5} {e['luts']:>7} {e['ffs']:>6} {e['levels']:>5} "
                     f"{num(e['fmax_mhz'], '.0f'):>7} {num(e['latency_ns'], '.1f'):>6} "
                     f"{num(fast.get('fmax_mhz'), '.0f'):>7} "
                     f"{num(fast.get('latency_ns'), '.1f'):>6}  {per}")
    return "\n".join(lines)


def _key(row: dict) -> tuple:
    return (row["pipeline"], row["levels_per_stage"])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small random net")
    parser.add_argument("--only", nargs="+", metavar="OPTION",
                        help="random net: only these rows (none, layer, balancedN), the "
                             "others kept from the result file")
    parser.add_argument("--trained", type=Path, metavar="DIR",
                        help="measure trained run folders in DIR instead of the random net")
    parser.add_argument("--run", action="append", default=[], metavar="NAME=RUN",
                        help="with --trained: measure this trained run folder (repeatable; "
                             "e.g. 'demo LUT-Net=runs/demo/lutnet') instead of the ones "
                             "trained in DIR")
    parser.add_argument("--teacher-hidden", type=int, default=16,
                        help="with --trained: the XNOR teacher's hidden width (default 16)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds one tool run may take (default: 900)")
    parser.add_argument("--out", type=Path, help="result JSON (default: benchmarks/results/)")
    parser.add_argument("--workdir", type=Path, help="keep the Verilog and tool files here")
    args = parser.parse_args(argv)
    out = args.out or RESULTS / ("pipeline_quick.json" if args.quick else "pipeline.json")
    result = json.loads(out.read_text()) if out.is_file() else {}
    result.update({
        "what": "LUT-Nets exported with each pipeline option; Xilinx (synth_xilinx) and ECP5 "
                "(synth_ecp5 + nextpnr-ecp5 out of context, post-route Fmax at speed grade 6 "
                "and, under speed8, 8); latency_ns = cycles / Fmax",
        "tools": {"yosys": tool_version("yosys"), "nextpnr": tool_version("nextpnr-ecp5")},
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "quick": args.quick,
    })
    if args.trained:
        nets = result.setdefault("trained", {})
        given = dict(spec.split("=", 1) for spec in args.run)
        runs = ({name: Path(path) for name, path in given.items()} if given
                else trained_runs(args.trained, args.teacher_hidden))
        for name, run in runs.items():
            metrics = json.loads((run / "metrics.json").read_text())
            entry = {"run": str(run), "model": json.loads((run / "run.json").read_text())
                     .get("model"), "test_accuracy": metrics["test_accuracy"], "rows": []}
            nets[name] = entry
            for pipeline, levels in TRAINED_OPTIONS:
                entry["rows"].append(measure_run(run, pipeline, levels, args.timeout,
                                                 rtl=pipeline == "balanced"))
                print(name, format_table(entry["rows"]).splitlines()[-1], flush=True)
                write_json(out, result)
        for name, entry in nets.items():
            print(f"\n{name} (test accuracy {100 * entry['test_accuracy']:.2f}%)")
            print(format_table(entry["rows"]))
        print(f"-> {out}")
        return result
    shape = (64, [200, 100], 10) if args.quick else (784, [1000, 500], 10)
    net = random_lut_net(shape[0], shape[1], shape[2])
    old = {_key(r): r for r in result.get("rows", [])}
    rows = []
    with tempfile.TemporaryDirectory(prefix="lutnn-pipeline-") as tmp:
        workdir = args.workdir or Path(tmp)
        for pipeline, levels in OPTIONS:
            name = pipeline + (str(levels) if levels else "")
            if args.only and name not in args.only and (pipeline, levels) in old:
                rows.append(old[(pipeline, levels)])
                continue
            rows.append(measure(net, pipeline, levels, workdir / name, args.timeout))
            print(format_table(rows).splitlines()[-1], flush=True)
    result["design"] = {"inputs": shape[0], "lut6_layers": shape[1], "classes": shape[2],
                        "seed": 0}
    result["rows"] = rows
    if not args.only:
        head = Netlist(1000, (), head=GroupSumHead("head", 1000, 10))  # the head's cost alone
        with tempfile.TemporaryDirectory(prefix="lutnn-head-") as tmp:
            design = export(head, tmp, pipeline="layer")
            r = synthesize(design["verilog"], target="xilinx", workdir=Path(tmp) / "x")
        result["head_10x100_xilinx"] = {"luts": r["luts"], "ffs": r["ffs"],
                                        "carry4": r["carry4"],
                                        "luts_per_input_bit": round(r["luts"] / 1000, 3)}
    write_json(out, result)
    print(format_table(rows))
    print(f"-> {out}")
    return result


if __name__ == "__main__":
    main()
