"""``lutnn export|sim|compile|synth``: a run's netlist as Verilog or C, checked and measured.
The export flags make one :class:`~lutnn.ir.options.ExportOptions` (validated there)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lutnn.cli.common import default, positive_int
from lutnn.errors import LutnnError
from lutnn.ir.options import FORMATS, FORMS, ExportOptions


def add_export_parser(sub) -> None:
    C = ExportOptions
    p = sub.add_parser("export", help="write the IR netlist and Verilog into RUN/hdl (or an "
                                      "XNOR teacher as QONNX into RUN/qonnx)")
    p.add_argument("run", help="run folder of a LUT-Net or binary-weight teacher")
    p.add_argument("--format", choices=FORMATS, default=C.format,
                   help="'verilog' (RUN/hdl: netlist, Verilog, testbench, Vivado and Quartus "
                        "scripts) or 'qonnx' (RUN/qonnx/model.onnx: a binary-weight teacher as "
                        "QONNX for FINN, checked with qonnx's executor against the simulator "
                        f"on --vectors test images; needs lutnn[interop]) {default(C, 'format')}")
    p.add_argument("--vectors", type=int, metavar="N",
                   help="with --format qonnx: test images the QONNX model is checked on "
                        "(default 100; 0: no check)")
    p.add_argument("--pipeline",
                   help="registers: 'layer' (after every layer), 'none', N (every N layers), "
                        "or 'balanced' (as 'layer', and the popcount trees and the argmax cut "
                        "into stages of at most --levels-per-stage LUT levels) "
                        f"{default(C, 'pipeline')}")
    p.add_argument("--levels-per-stage", type=positive_int, metavar="N",
                   help="with --pipeline balanced (implied): the most LUT levels per stage "
                        "(default: the deepest LUT layer's, 1 for k <= 6)")
    p.add_argument("--argmax", choices=("tree", "parallel"),
                   help="the class head's argmax: 'tree' (log2 C levels of compare + select, "
                        "fewer LUTs) or 'parallel' (all pairs compared at once, ~5 LUT levels "
                        "for 10 classes: fewer cycles when balanced); default: parallel with "
                        "--pipeline balanced, tree otherwise")
    p.add_argument("--no-prune", action="store_true",
                   help="export the netlist as converted (default: prune constant, duplicate "
                        "and unread LUTs first; RUN/hdl/unpruned keeps the converted one)")
    p.add_argument("--conv", choices=FORMS, default=C.form,
                   help="convolutions: 'unrolled' (every output position its own LUTs, one "
                        "image per clock) or 'stream' (one pixel per clock through line "
                        f"buffers, AXI4-Stream ports; not pruned) {default(C, 'form')}")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> None:
    from lutnn.pipeline import QONNX_CHECK_VECTORS, export_qonnx_run, export_run

    options = ExportOptions.from_flags(form=args.conv, pipeline=args.pipeline,
                                       levels_per_stage=args.levels_per_stage,
                                       argmax=args.argmax, prune=not args.no_prune,
                                       format=args.format)
    if options.format == "qonnx":
        vectors = QONNX_CHECK_VECTORS if args.vectors is None else args.vectors
        if vectors < 0:
            raise LutnnError(f"--vectors must be >= 0, got {vectors}")
        info = export_qonnx_run(args.run, vectors=vectors)
        ops = ", ".join(f"{n} {op}" for op, n in sorted(info["ops"].items()))
        checked = info["checked"]
        proof = (f"qonnx's executor == lutnn's simulator on {checked['vectors']} test samples "
                 "(classes, scores, every stage's bits)" if checked else "not checked")
        print(f"exported {args.run} as QONNX ({ops}); {proof} -> {info['model']}")
        return
    if args.vectors is not None:
        raise LutnnError("--vectors is an option of --format qonnx (the QONNX check)")
    info = export_run(args.run, options=options)
    s = info["summary"]["totals"]
    if options.stream:
        print(f"exported {args.run} as a stream: {s.get('lut_nodes', 0)} LUT nodes (tables "
              f"shared across positions), {info['line_buffer_bits']} line-buffer bits, latency "
              f"{info['latency']} cycles (first pixel to class), one image per "
              f"{info['cycles_per_image']} cycles -> {info['verilog']}")
        return
    bound = (f", at most {info['levels_per_stage']} LUT level(s) per stage"
             if info["levels_per_stage"] else "")
    print(f"exported {args.run}: {s.get('lut_nodes', 0)} LUT nodes, "
          f"{s.get('threshold_neurons', 0)} XNOR neurons, latency {info['latency']} cycles "
          f"(pipeline {info['pipeline']}{bound}, {info['argmax']} argmax) -> {info['verilog']}")
    if info.get("pruned"):
        gone: dict[str, int] = {}
        for layer in info["prune"]["layers"]:
            for reason, n in layer["removed"].items():
                gone[reason] = gone.get(reason, 0) + n
        why = ", ".join(f"{n} {reason}" for reason, n in gone.items() if n) or "nothing removed"
        print(f"  pruned: {info['lut_nodes_before']} -> {info['lut_nodes_after']} LUT nodes "
              f"({why}; {info['prune']['constant_head_bits']} constant head bits)")


def add_sim_parser(sub) -> None:
    p = sub.add_parser("sim", help="check PyTorch == IR simulator (== RTL) on test images")
    p.add_argument("run", help="run folder")
    p.add_argument("--rtl", action="store_true",
                   help="also simulate the exported Verilog file (RUN/hdl)")
    p.add_argument("--vectors", type=positive_int,
                   help="test images to use (default: all; 1000 with --rtl)")
    p.add_argument("--simulator", default="auto", choices=["auto", "verilator", "icarus"],
                   help="RTL simulator (default: auto = verilator if installed)")
    p.add_argument("--backend", default="auto", choices=["auto", "c", "numpy"],
                   help="IR simulator: compiled C or numpy (default: auto = C when a C "
                        "compiler is found, else numpy)")
    p.add_argument("--threads", type=positive_int, default=1, metavar="N",
                   help="threads the C backend splits the batch over (default 1)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"],
                   help="where the PyTorch evaluation runs (default: cpu)")
    p.set_defaults(func=cmd_sim)


def cmd_sim(args: argparse.Namespace) -> None:
    from lutnn.pipeline import simulate_run

    r = simulate_run(args.run, rtl=args.rtl, vectors=args.vectors, simulator=args.simulator,
                     backend=args.backend, threads=args.threads, device=args.device)
    if r.get("backend_note"):
        print(f"note: {r['backend_note']}")
    line = (f"{args.run}: {r['vectors']} vectors, simulator ({r['backend']}) accuracy "
            f"{r['accuracy']:.4f}, {r['mismatches']} mismatches")
    if args.rtl:
        line += f", RTL accuracy {r['rtl_accuracy']:.4f} ({r['simulator']})"
    print(line)
    if r["mismatches"]:
        raise LutnnError(f"{r['mismatches']} mismatching outputs: this is a lutnn bug, please "
                         f"report it with {Path(args.run) / r['file']}")


def add_compile_parser(sub) -> None:
    p = sub.add_parser("compile", help="the netlist as bit-sliced C: a shared library + header")
    p.add_argument("run", help="run folder")
    p.add_argument("--out", help="output folder (default: RUN/c)")
    p.add_argument("--word", type=int, default=64, choices=[64, 256],
                   help="samples per machine word: 64 (uint64) or 256 (AVX2 vectors)")
    p.set_defaults(func=cmd_compile)


def cmd_compile(args: argparse.Namespace) -> None:
    from lutnn.pipeline import compile_run

    r = compile_run(args.run, out=args.out, word=args.word)
    print(f"{args.run}: bit-sliced C ({r['signals']} signal words of {r['word']} samples) -> "
          f"{r['library']} ({' '.join(r['flags'])}); API in {r['header']}")


def add_synth_parser(sub) -> None:
    p = sub.add_parser("synth", help="synthesize the exported Verilog file with Yosys")
    p.add_argument("run", help="run folder")
    p.add_argument("--target", default="xilinx", choices=["xilinx", "ecp5"],
                   help="xilinx: synth_xilinx cell counts; ecp5: synth_ecp5 + nextpnr Fmax")
    p.add_argument("--whole-only", action="store_true",
                   help="only the whole design (default: with an encoder, also synthesize "
                        "without it for luts_without_encoder)")
    p.add_argument("--speed", type=int, choices=[6, 7, 8],
                   help="with --target ecp5: the speed grade nextpnr times for (default: 6, "
                        "the slowest; 8 is the fastest)")
    p.set_defaults(func=cmd_synth)


def cmd_synth(args: argparse.Namespace) -> None:
    from lutnn.pipeline import synth_run

    if args.target != "ecp5" and args.speed is not None:
        raise LutnnError("--speed is nextpnr's speed grade: it needs --target ecp5")
    r = synth_run(args.run, target=args.target, without_encoder=not args.whole_only,
                  speed=args.speed or 6)
    extra = f", Fmax {r['fmax_mhz']:.0f} MHz" if r.get("fmax_mhz") else ""
    if r.get("latency_ns") is not None:
        extra += f", latency {r['latency']} cycles = {r['latency_ns']:.1f} ns"
    else:
        extra += f", latency {r['latency']} cycles"
    print(f"{args.run}: {r['luts']} LUTs, {r['ffs']} FFs, {r['levels']} levels{extra} "
          f"({r['tool']}, {r['seconds']:.0f} s)")
    per = ", ".join(f"{k}: {v}" for k, v in r["levels_per_stage"].items())
    unit = "LUT4" if args.target == "ecp5" else "LUT"
    print(f"  {unit} levels per stage ({r['pipeline']}): {per}")
    print("  LUTs by counting convention:")
    for row in r["lut_conventions"]:
        luts = "not measured (--whole-only)" if row["luts"] is None else f"{row['luts']:>7}"
        print(f"    {row['convention']:<17} {luts}  ({row['counts']})")
    path = r.get("critical_path")
    if path:
        print(f"  {r['device']}: critical path {path['ns']:.2f} ns ({path['logic_ns']:.2f} "
              f"logic, {path['routing_ns']:.2f} routing; longest net {path['longest_net_ns']:.2f}"
              f" ns) from {path['from']} to {path['to']}")
