"""The ``lutnn`` command line: ``lutnn train|distill|export|sim|synth|report|demo``.

User errors (:class:`~lutnn.errors.LutnnError`) print one line on stderr and exit with 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from lutnn.errors import LutnnError

EXIT_USER_ERROR = 2


def _load_overrides(path: str | None) -> dict:
    """Model config overrides from a JSON object file (``--config``)."""
    if path is None:
        return {}
    from lutnn import io

    overrides = io.read_json(path, "config file")
    if not isinstance(overrides, dict):
        raise LutnnError(f"config file {path} must hold a JSON object of config fields")
    return overrides


def cmd_train(args: argparse.Namespace) -> None:
    from lutnn.train import TrainConfig, train

    overrides = _load_overrides(args.config)
    defaults = TrainConfig()
    train_cfg = TrainConfig(
        epochs=args.epochs if args.epochs is not None else defaults.epochs,
        batch_size=args.batch_size or defaults.batch_size,
        lr=args.lr or defaults.lr,
        seed=args.seed,
        val_size=args.val_size if args.val_size is not None else defaults.val_size,
    )
    metrics = train(
        args.model, args.out, model_overrides=overrides, train_cfg=train_cfg,
        data=args.data, resume=args.resume,
    )
    print(
        f"{args.model}: val {metrics['val_accuracy']:.4f}, test {metrics['test_accuracy']:.4f}, "
        f"{metrics['epochs']} epochs, {metrics['seconds']:.0f} s "
        f"-> {Path(args.out) / 'metrics.json'}"
    )


def cmd_export(args: argparse.Namespace) -> None:
    from lutnn.pipeline import export_run

    pipeline = int(args.pipeline) if args.pipeline.isdigit() else args.pipeline
    info = export_run(args.run, pipeline=pipeline)
    s = info["summary"]["totals"]
    print(f"exported {args.run}: {s.get('lut_nodes', 0)} LUT nodes, "
          f"{s.get('threshold_neurons', 0)} XNOR neurons, latency {info['latency']} cycles "
          f"-> {info['verilog']}")


def cmd_sim(args: argparse.Namespace) -> None:
    from lutnn.pipeline import simulate_run

    r = simulate_run(args.run, rtl=args.rtl, vectors=args.vectors, simulator=args.simulator)
    line = (f"{args.run}: {r['vectors']} vectors, simulator accuracy {r['accuracy']:.4f}, "
            f"{r['mismatches']} mismatches")
    if args.rtl:
        line += f", RTL accuracy {r['rtl_accuracy']:.4f} ({r['simulator']})"
    print(line)
    if r["mismatches"]:
        raise LutnnError(f"{r['mismatches']} mismatching outputs: this is a lutnn bug, please "
                         f"report it with {Path(args.run) / 'sim.json'}")


def cmd_synth(args: argparse.Namespace) -> None:
    from lutnn.pipeline import synth_run

    r = synth_run(args.run, target=args.target)
    extra = f", Fmax {r['fmax_mhz']:.0f} MHz" if r.get("fmax_mhz") else ""
    print(f"{args.run}: {r['luts']} LUTs, {r['ffs']} FFs, {r['levels']} levels{extra} "
          f"({r['tool']}, {r['seconds']:.0f} s)")


def cmd_report(args: argparse.Namespace) -> None:
    from lutnn.report import write_report

    summary = write_report(args.dir)
    print(f"report of {len(summary['networks'])} network(s) -> {Path(args.dir) / 'report.md'}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from lutnn.models import MODELS

    parser = argparse.ArgumentParser(
        prog="lutnn", description="FPGA-native LUT networks: train, distill, export, verify."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a teacher or LUT-Net into a run folder")
    p.add_argument("--model", required=True, help=f"one of: {', '.join(sorted(MODELS))}")
    p.add_argument("--out", required=True, help="run folder to write")
    p.add_argument("--epochs", type=_positive_int, help="training epochs (default: 10)")
    p.add_argument("--batch-size", type=_positive_int, help="batch size (default: 128)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default: 1e-3)")
    p.add_argument("--data", help="IDX folder or .npz file (default: MNIST, found or fetched)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--val-size", type=_positive_int, help="validation samples (default: 5000)")
    p.add_argument("--config", help="JSON file of model config fields to override")
    p.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="write the IR netlist and Verilog into RUN/hdl")
    p.add_argument("run", help="run folder of a LUT-Net or binary-weight teacher")
    p.add_argument("--pipeline", default="layer",
                   help="registers: 'layer' (after every layer), 'none', or N (every N layers)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("sim", help="check PyTorch == IR simulator (== RTL) on test images")
    p.add_argument("run", help="run folder")
    p.add_argument("--rtl", action="store_true", help="also simulate the exported Verilog")
    p.add_argument("--vectors", type=_positive_int,
                   help="test images to use (default: all; 1000 with --rtl)")
    p.add_argument("--simulator", default="auto", choices=["auto", "verilator", "icarus"],
                   help="RTL simulator (default: auto = verilator if installed)")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("synth", help="synthesize the exported Verilog with Yosys")
    p.add_argument("run", help="run folder")
    p.add_argument("--target", default="xilinx", choices=["xilinx", "ecp5"],
                   help="xilinx: synth_xilinx cell counts; ecp5: synth_ecp5 + nextpnr Fmax")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("report", help="report.md, summary.json and PNG plots of run folders")
    p.add_argument("dir", help="a run folder, or a folder of run folders (e.g. the demo's)")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], None] = args.func
    try:
        func(args)
    except LutnnError as exc:
        print(f"lutnn {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        msg = f"lutnn {args.command}: interrupted (rerun with --resume to continue)"
        print(msg, file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "build_parser"]
