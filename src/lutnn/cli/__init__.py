"""The ``lutnn`` command line: ``lutnn train|distill|export|sim|compile|synth|report|data|demo``.

User errors (:class:`~lutnn.errors.LutnnError`) print one line on stderr and exit with 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
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


def _launch_if_asked(args: argparse.Namespace) -> int | None:
    """With ``--nproc N > 1``: rerun this command in N processes under torchrun; the exit
    status (None: run here, in this process)."""
    from lutnn import distributed

    if args.nproc == 1:
        return None
    if distributed.launched():
        raise LutnnError("--nproc is for a plain lutnn command; under torchrun leave it out "
                         "(torchrun's --nproc-per-node sets the processes)")
    return distributed.launch(args.nproc, _without_nproc(args.argv))


def _without_nproc(argv: list[str]) -> list[str]:
    """``argv`` without its ``--nproc N`` / ``--nproc=N`` (the launched processes' command)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def cmd_train(args: argparse.Namespace) -> int | None:
    launched = _launch_if_asked(args)
    if launched is not None:
        return launched
    from lutnn import distributed
    from lutnn.presets import Preset, get_preset
    from lutnn.train import TrainConfig, train

    preset = get_preset(args.preset) if args.preset else Preset(args.model)
    model = args.model or preset.model
    if model is None:
        raise LutnnError("lutnn train needs --model NAME or --preset NAME")
    if args.preset and args.model and args.model != preset.model:
        raise LutnnError(f"preset {args.preset!r} is a {preset.model} recipe, not {args.model}")
    overrides = {**preset.config, **_load_overrides(args.config)}
    given = {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "val_size": args.val_size, "teacher": args.teacher, "kd_alpha": args.kd_alpha,
        "kd_temperature": args.kd_temperature, "shift": args.shift,
    }
    settings = {**preset.train, **{k: v for k, v in given.items() if v is not None}}
    train_cfg = TrainConfig(seed=args.seed, **settings)
    metrics = train(
        model, args.out, model_overrides=overrides, train_cfg=train_cfg,
        data=args.data, resume=args.resume, label=args.label, device=args.device,
    )
    if distributed.is_main():
        print(
            f"{model}: val {metrics['val_accuracy']:.4f}, test {metrics['test_accuracy']:.4f}, "
            f"{metrics['epochs']} epochs, {metrics['seconds']:.0f} s "
            f"-> {Path(args.out) / 'metrics.json'}"
        )
    return None


def cmd_export(args: argparse.Namespace) -> None:
    from lutnn.pipeline import export_run

    pipeline = args.pipeline
    if pipeline is None:  # --levels-per-stage alone means balanced
        pipeline = "balanced" if args.levels_per_stage is not None else "layer"
    pipeline = int(pipeline) if pipeline.isdigit() else pipeline
    if args.levels_per_stage is not None and pipeline != "balanced":
        raise LutnnError(f"--levels-per-stage needs --pipeline balanced, not {pipeline!r}")
    try:
        info = export_run(args.run, pipeline=pipeline, levels_per_stage=args.levels_per_stage,
                          prune=not args.no_prune, conv=args.conv, argmax=args.argmax)
    except ValueError as exc:  # a bad --pipeline value
        raise LutnnError(str(exc)) from None
    s = info["summary"]["totals"]
    if info.get("conv") == "stream":
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
        gone = {}
        for layer in info["prune"]["layers"]:
            for reason, n in layer["removed"].items():
                gone[reason] = gone.get(reason, 0) + n
        why = ", ".join(f"{n} {reason}" for reason, n in gone.items() if n) or "nothing removed"
        print(f"  pruned: {info['lut_nodes_before']} -> {info['lut_nodes_after']} LUT nodes "
              f"({why}; {info['prune']['constant_head_bits']} constant head bits)")


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


def cmd_compile(args: argparse.Namespace) -> None:
    from lutnn.pipeline import compile_run

    r = compile_run(args.run, out=args.out, word=args.word)
    print(f"{args.run}: bit-sliced C ({r['signals']} signal words of {r['word']} samples) -> "
          f"{r['library']} ({' '.join(r['flags'])}); API in {r['header']}")


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
    if "luts_without_encoder" in r:
        print(f"  {r['luts']} LUTs whole design, {r['luts_without_encoder']} without the encoder")
    path = r.get("critical_path")
    if path:
        print(f"  {r['device']}: critical path {path['ns']:.2f} ns ({path['logic_ns']:.2f} "
              f"logic, {path['routing_ns']:.2f} routing; longest net {path['longest_net_ns']:.2f}"
              f" ns) from {path['from']} to {path['to']}")


def cmd_report(args: argparse.Namespace) -> None:
    from lutnn.report import write_report

    summary = write_report(args.dir)
    print(f"report of {len(summary['networks'])} network(s) -> {Path(args.dir) / 'report.md'}")


def cmd_distill(args: argparse.Namespace) -> int | None:
    launched = _launch_if_asked(args)
    if launched is not None:
        return launched
    from lutnn import distributed
    from lutnn.distill import DistillConfig, distill

    fields = {
        "k": args.k, "tree": tuple(args.tree) if args.tree is not None else None,
        "wiring": args.wiring, "method": args.method, "target": args.target,
        "unseen": args.unseen, "local_epochs": args.local_epochs, "samples": args.samples,
        "conv_positions": args.conv_positions, "finetune_epochs": args.finetune_epochs,
        "finetune_lr": args.finetune_lr, "finetune_scope": args.finetune_scope,
        "memory_budget_mb": args.memory_budget, "seed": args.seed,
    }
    cfg = DistillConfig(**{k: v for k, v in fields.items() if v is not None})
    metrics = distill(args.teacher, args.out, cfg, data=args.data, resume=args.resume,
                      device=args.device)
    if distributed.is_main():
        print(
            f"distilled {metrics['teacher_model']}: test {metrics['test_accuracy']:.4f} "
            f"(teacher {metrics['teacher_test_accuracy']:.4f}, before fine-tuning "
            f"{metrics['test_accuracy_before_finetune']:.4f}), {metrics['luts']} LUTs, "
            f"{metrics['seconds']:.0f} s, peak {metrics['peak_memory_mb']:.0f} MB "
            f"-> {Path(args.out) / 'metrics.json'}"
        )
    return None


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def cmd_data(args: argparse.Namespace) -> None:
    from lutnn.data.fetch_tables import fetch_table

    path = fetch_table(args.name, source=args.source, dest=args.out, force=args.force)
    print(path)


def cmd_demo(args: argparse.Namespace) -> None:
    from lutnn.demo import run_demo

    run_demo(args.out, quick=args.quick, data=args.data)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


MAX_SEED = 2**32 - 1


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed must lie in 0..{MAX_SEED}, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """Usage errors on one line, like every other user error (exit status 2)."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_scale_arguments(p: argparse.ArgumentParser) -> None:
    """``--device`` and ``--nproc`` (:mod:`lutnn.distributed`) of ``train`` and ``distill``."""
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"],
                   help="where to compute: cpu, cuda, or auto = cuda when a GPU is visible "
                   "(default: cpu)")
    p.add_argument("--nproc", type=_positive_int, default=1, metavar="N",
                   help="data-parallel processes on this machine: relaunches the command under "
                   "torchrun (gloo on CPU, nccl on CUDA); the global batch stays --batch-size "
                   "(default: 1)")


def build_parser() -> argparse.ArgumentParser:
    from lutnn.models import MODELS
    from lutnn.presets import PRESETS

    parser = _Parser(
        prog="lutnn", description="FPGA-native LUT networks: train, distill, export, verify."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a teacher or LUT-Net into a run folder")
    p.add_argument("--model", help=f"one of: {', '.join(sorted(MODELS))}")
    p.add_argument("--preset", help=f"a named recipe: {', '.join(PRESETS)} "
                   "(model, config and epochs; other flags override it)")
    p.add_argument("--out", required=True, help="run folder to write")
    p.add_argument("--epochs", type=_positive_int, help="training epochs (default: 10)")
    p.add_argument("--batch-size", type=_positive_int, help="batch size (default: 128)")
    p.add_argument("--lr", type=_positive_float,
                   help="peak Adam learning rate (default: 1e-3 teachers, 1e-2 LUT-Nets)")
    p.add_argument("--data", help="IDX folder, .npz file, or a table (.csv, or .npz with 2-D "
                   "x_train) (default: MNIST, found or fetched)")
    p.add_argument("--label", metavar="COLUMN",
                   help="with a .csv table: the label column (default: the last column)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p.add_argument("--val-size", type=_positive_int, help="validation samples (default: 5000)")
    p.add_argument("--config", help="JSON file of model config fields to override")
    p.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    p.add_argument("--teacher", help="run folder of a trained model whose class scores guide "
                   "training (knowledge distillation)")
    p.add_argument("--kd-alpha", type=float,
                   help="with --teacher: weight of the teacher's soft targets (default: 0.5)")
    p.add_argument("--kd-temperature", type=float,
                   help="with --teacher: softmax temperature (default: 2)")
    p.add_argument("--shift", type=int,
                   help="images: move each training image by a random -N..N pixels per axis "
                        "(augmentation; default: 0, or the preset's)")
    _add_scale_arguments(p)
    p.set_defaults(func=cmd_train)

    from lutnn.distill.config import METHODS, SCOPES, TARGETS
    from lutnn.distill.fit import UNSEEN_RULES
    from lutnn.student import FIRST_STAGE_WIRINGS

    p = sub.add_parser("distill", help="distill a teacher run into a LUT-Net student run")
    p.add_argument("--teacher", required=True, help="run folder of the teacher to distill")
    p.add_argument("--out", required=True, help="run folder to write the student to")
    p.add_argument("--wiring", choices=FIRST_STAGE_WIRINGS,
                   help="first-stage LUT wiring (default: weight_order_std)")
    p.add_argument("--method", choices=METHODS,
                   help="fit: closed form; train: local gradient; fit+train (default: fit)")
    p.add_argument("--target", choices=TARGETS,
                   help="first-stage target of the fit (default: teacher)")
    p.add_argument("--unseen", choices=UNSEEN_RULES,
                   help="table entry of addresses no sample hits (default: majority)")
    p.add_argument("--k", type=_positive_int, help="inputs per first-stage LUT (default: 6)")
    p.add_argument("--tree", type=_positive_int, nargs="*",
                   help="LUTs per neuron in each stage before the last (default: 6)")
    p.add_argument("--local-epochs", type=_non_negative_int,
                   help="local training epochs per block for --method train (default: 2)")
    p.add_argument("--samples", type=_non_negative_int,
                   help="training samples to distill on (default: 0 = all)")
    p.add_argument("--conv-positions", type=_non_negative_int,
                   help="positions per image to fit a convolution on (default: 16; 0 = all)")
    p.add_argument("--memory-budget", type=_positive_int, metavar="MB",
                   help="resident memory budget of the process in MiB (default: 1024)")
    p.add_argument("--finetune-epochs", type=_non_negative_int,
                   help="end-to-end fine-tuning epochs after distillation (default: 5)")
    p.add_argument("--finetune-lr", type=_positive_float,
                   help="fine-tuning learning rate (default: 1e-2)")
    p.add_argument("--finetune-scope", choices=SCOPES,
                   help="fine-tune all tables or only the last block's (default: all)")
    p.add_argument("--data", help="dataset (default: the teacher's)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    _add_scale_arguments(p)
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser("export", help="write the IR netlist and Verilog into RUN/hdl")
    p.add_argument("run", help="run folder of a LUT-Net or binary-weight teacher")
    p.add_argument("--pipeline",
                   help="registers: 'layer' (after every layer; the default), 'none', N (every "
                        "N layers), or 'balanced' (as 'layer', and the popcount trees and the "
                        "argmax cut into stages of at most --levels-per-stage LUT levels)")
    p.add_argument("--levels-per-stage", type=_positive_int, metavar="N",
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
    p.add_argument("--conv", choices=("unrolled", "stream"), default="unrolled",
                   help="convolutions: 'unrolled' (every output position its own LUTs, one "
                        "image per clock; the default) or 'stream' (one pixel per clock "
                        "through line buffers, AXI4-Stream ports; not pruned)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("sim", help="check PyTorch == IR simulator (== RTL) on test images")
    p.add_argument("run", help="run folder")
    p.add_argument("--rtl", action="store_true", help="also simulate the exported Verilog")
    p.add_argument("--vectors", type=_positive_int,
                   help="test images to use (default: all; 1000 with --rtl)")
    p.add_argument("--simulator", default="auto", choices=["auto", "verilator", "icarus"],
                   help="RTL simulator (default: auto = verilator if installed)")
    p.add_argument("--backend", default="auto", choices=["auto", "c", "numpy"],
                   help="IR simulator: compiled C or numpy (default: auto = C when a C "
                        "compiler is found, else numpy)")
    p.add_argument("--threads", type=_positive_int, default=1, metavar="N",
                   help="threads the C backend splits the batch over (default 1)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"],
                   help="where the PyTorch evaluation runs (default: cpu)")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("compile", help="the netlist as bit-sliced C: a shared library + header")
    p.add_argument("run", help="run folder")
    p.add_argument("--out", help="output folder (default: RUN/c)")
    p.add_argument("--word", type=int, default=64, choices=[64, 256],
                   help="samples per machine word: 64 (uint64) or 256 (AVX2 vectors)")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("synth", help="synthesize the exported Verilog with Yosys")
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

    p = sub.add_parser("report", help="report.md, summary.json and PNG plots of run folders")
    p.add_argument("dir", help="a run folder, or a folder of run folders (e.g. the demo's)")
    p.set_defaults(func=cmd_report)

    from lutnn.data.fetch_tables import TABLE_SETS

    p = sub.add_parser("data", help="fetch a benchmark table (verified, cached as a .npz for "
                       "--data); prints its path")
    p.add_argument("name", choices=list(TABLE_SETS),
                   help="; ".join(f"{k}: {v.description}" for k, v in TABLE_SETS.items()))
    p.add_argument("--source", help="URL or folder to read the raw files from (default: "
                   "OpenML for jsc; unsw-nb15 needs one)")
    p.add_argument("--out", help="the .npz to write (default: ~/.cache/lutnn/NAME/NAME.npz)")
    p.add_argument("--force", action="store_true", help="fetch again even if cached")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("demo", help="the whole pipeline on MNIST: train, distill, export, "
                       "RTL-simulate and synthesize both nets, report")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--quick", action="store_true", help="a small run (a few minutes)")
    p.add_argument("--data", help="IDX folder or .npz file (default: MNIST)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # for --nproc, which reruns the command
    func: Callable[[argparse.Namespace], int | None] = args.func
    from lutnn.runfolder import USER_ERRNOS

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(args.command)
            code = func(args)
    except LutnnError as exc:
        from lutnn.distributed import is_main

        if is_main():  # under torchrun every rank raises the same: rank 0 says it once
            print(f"lutnn {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # the file system refuses (read-only, full): not a lutnn bug
        if exc.errno not in USER_ERRNOS:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"lutnn {args.command}: error: {exc.strerror}{where}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        again = ("rerun with --resume to continue" if args.command in ("train", "distill")
                 else "nothing half-written was left; run the command again")
        print(f"lutnn {args.command}: interrupted ({again})", file=sys.stderr)
        return 130
    return code or 0


def _one_line_warning(command: str):
    """``warnings.showwarning`` for lutnn's own warnings: one line, no source line."""
    from lutnn.data.datasets import DataWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DataWarning):
            print(f"lutnn {command}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "build_parser"]
