"""Accuracy vs LUTs on MNIST: lutnn's presets against the peers' published points.

Each point is one command, ``lutnn train --preset NAME``; this script trains it (or resumes
it), exports it, checks PyTorch == IR simulator on all 10,000 test images (and the RTL on
``--rtl-vectors`` of them), and synthesizes it with Yosys ``synth_xilinx``.  LUTs are the
whole design (the input encoder, LUT layers, popcounts, argmax, pipeline registers'
neighbours) and, beside it, the count without the encoder where synthesis reports it.

    export LUTNN_DATA=/work/shared/data/mnist
    .venv/bin/python benchmarks/pareto.py                        # small, medium, large, seed 0
    .venv/bin/python benchmarks/pareto.py --presets small --seeds 0 1 2   # the seed spread
    .venv/bin/python benchmarks/pareto.py --points small:0 small:1 medium:0 # explicit points
    .venv/bin/python benchmarks/pareto.py --quick                # 1 epoch of small, no synth

Rows of points already in the output JSON and not measured again are kept (``--fresh`` drops
them), so one preset can be re-measured without retraining the others.

Writes benchmarks/results/pareto.json (``--out``) and pareto.png beside it; the run folders
go to ``runs/pareto/NAME-sSEED`` (``--runs``), so an interrupted benchmark resumes where it
stopped (finished stages are read back, not redone).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "pareto.json"


def measure(name: str, seed: int, runs: Path, data: str | None, epochs: int | None,
            rtl_vectors: int, synth: bool) -> dict:
    """Train (or resume), export, simulate and synthesize one preset; returns its row."""
    from lutnn import io
    from lutnn.pipeline import export_run, simulate_run, synth_run
    from lutnn.presets import get_preset
    from lutnn.train import TrainConfig, train

    preset = get_preset(name)
    run = runs / f"{name}-s{seed}"
    settings = dict(preset.train, **({"epochs": epochs} if epochs else {}))
    t0 = time.perf_counter()
    if not (run / "metrics.json").is_file():
        train(preset.model, run, model_overrides=preset.config,
              train_cfg=TrainConfig(seed=seed, **settings), data=data,
              resume=(run / "checkpoint.pt").is_file())
    metrics = io.read_json(run / "metrics.json")
    if not (run / "hdl" / "export.json").is_file():
        export_run(run)
    sim = simulate_run(run)  # all test images: PyTorch == IR simulator
    if sim["mismatches"]:
        raise SystemExit(f"{run}: {sim['mismatches']} PyTorch/simulator mismatches (a bug)")
    row = {
        "preset": name, "seed": seed, "command": f"lutnn train --preset {name} --seed {seed}",
        "budget": preset.budget, "val_accuracy": metrics["val_accuracy"],
        "test_accuracy": metrics["test_accuracy"], "sim_accuracy": sim["accuracy"],
        "lut_nodes": metrics.get("luts"), "epochs": metrics["epochs"],
        "train_seconds": metrics["seconds"], "run": str(run),
    }
    if rtl_vectors:  # the RTL on the first rtl_vectors test images (result kept in rtl.json)
        rtl_file = run / "rtl.json"
        rtl = io.read_json(rtl_file) if rtl_file.is_file() else None
        if rtl is None or rtl["vectors"] != rtl_vectors:
            rtl = simulate_run(run, rtl=True, vectors=rtl_vectors)
            io.write_json(rtl_file, rtl)
        row.update(rtl_vectors=rtl["vectors"], rtl_mismatches=rtl["rtl_mismatches"])
        if rtl["mismatches"]:
            raise SystemExit(f"{run}: {rtl['mismatches']} RTL mismatches (a bug)")
        simulate_run(run)  # sim.json back to the full test set
    if synth:  # a finished synthesis is read back (synth refuses a stale export)
        done = run / "synth.json"
        s = io.read_json(done) if done.is_file() else synth_run(run)
        row.update(luts=s["luts"], luts_without_encoder=s.get("luts_without_encoder"),
                   ffs=s["ffs"], levels=s["levels"], synth_tool=s["tool"])
    row["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return row


def spread(rows: list[dict]) -> list[dict]:
    """Mean, standard deviation, min and max of test accuracy per preset over its seeds."""
    out = []
    for name in dict.fromkeys(r["preset"] for r in rows):
        accs = [r["test_accuracy"] for r in rows if r["preset"] == name]
        if len(accs) > 1:
            out.append({"preset": name, "seeds": len(accs), "mean": statistics.mean(accs),
                        "stdev": statistics.stdev(accs), "min": min(accs), "max": max(accs)})
    return out


def plot(rows: list[dict], path: Path) -> None:
    """Accuracy vs LUTs of the presets (whole design) beside the peers' published points."""
    from lutnn.report import plot_accuracy_vs_luts

    plot_accuracy_vs_luts([{"name": f"{r['preset']} s{r['seed']}", "kind": "LUT-Net",
                            "luts": r["luts"], "test_accuracy": r["test_accuracy"],
                            "rtl_accuracy": None} for r in rows if r.get("luts")], path)


def table(rows: list[dict]) -> str:
    head = ("| preset | seed | test acc. | val acc. | LUT nodes | LUTs (whole) | LUTs (no enc.) "
            "| FFs | epochs | train s |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['seed']} | {100 * r['test_accuracy']:.2f}% | "
            f"{100 * r['val_accuracy']:.2f}% | {r['lut_nodes']:,} | {r.get('luts') or '-'} | "
            f"{r.get('luts_without_encoder') or '-'} | {r.get('ffs') or '-'} | {r['epochs']} | "
            f"{r['train_seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["small", "medium", "large"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--points", nargs="+", metavar="NAME:SEED",
                        help="explicit points instead of presets x seeds, e.g. small:1")
    parser.add_argument("--epochs", type=int, help="override the presets' epochs")
    parser.add_argument("--data", help="MNIST folder (default: $LUTNN_DATA, cache or fetch)")
    parser.add_argument("--rtl-vectors", type=int, default=1000,
                        help="test images through the RTL (0: skip)")
    parser.add_argument("--no-synth", action="store_true", help="skip Yosys")
    parser.add_argument("--quick", action="store_true", help="1 epoch of small, no synth/RTL")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "pareto")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--fresh", action="store_true",
                        help="drop the rows already in --out (default: keep the other points')")
    args = parser.parse_args(argv)
    if args.quick:
        args.presets, args.epochs, args.no_synth, args.rtl_vectors = ["small"], 1, True, 0
        if args.out == RESULTS:
            args.out = args.runs / "pareto-quick.json"
    from lutnn import io

    points = [(n, s) for n in args.presets for s in args.seeds]
    if args.points:
        points = [(p.split(":")[0], int(p.split(":")[1])) for p in args.points]
    rows = []  # rows of other points already in --out are kept, re-measured ones replaced
    if args.out.is_file() and not args.fresh:
        rows = [r for r in io.read_json(args.out)["rows"] if (r["preset"], r["seed"]) not in points]
    for name, seed in points:
        row = measure(name, seed, args.runs, args.data, args.epochs, args.rtl_vectors,
                      not args.no_synth)
        rows.append(row)
        io.write_json(args.out, {"rows": rows, "spread": spread(rows)})  # a stop loses little
        print(json.dumps(row), flush=True)
    print(table(rows))
    for s in spread(rows):
        print(f"{s['preset']}: {s['seeds']} seeds, test {100 * s['mean']:.2f}% "
              f"+- {100 * s['stdev']:.2f} (min {100 * s['min']:.2f}, max {100 * s['max']:.2f})")
    if any(r.get("luts") for r in rows):
        plot(rows, args.out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
