"""Accuracy vs LUTs on MNIST, in both counting conventions, against the peers' published points.

Each point is one command, ``lutnn train --preset NAME``; this script trains it (or resumes
it), exports it, checks PyTorch == IR simulator on all 10,000 test images (and the RTL on
``--rtl-vectors`` of them), and synthesizes it with Yosys ``synth_xilinx``.  Every row holds
both LUT counts (``lutnn synth`` measures both): the *whole design* (input encoder, LUT layers,
popcounts, argmax; lutnn's convention, judged on the presets small / medium / large) and the
*encoder excluded* (the same design synthesized without its input encoder; the peers'
convention, judged on thermo-small / thermo-medium / thermo-large).  ``pareto.png`` has one
panel per convention, each with the peers' points counted that way (lutnn's
``anchors.json``, from ANCHORS.md).

    export LUTNN_DATA=/work/shared/data/mnist
    .venv/bin/python benchmarks/pareto.py                        # small, medium, large, seed 0
    .venv/bin/python benchmarks/pareto.py --presets small --seeds 0 1 2   # the seed spread
    .venv/bin/python benchmarks/pareto.py --points small:0 small:1 medium:0 # explicit points
    .venv/bin/python benchmarks/pareto.py --from runs/dwn-mnist   # run folders trained already
    .venv/bin/python benchmarks/pareto.py --plot-only             # replot --out's rows
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
    row = measure_run(run, name, seed, rtl_vectors, synth)
    row["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return row


def measure_run(run: Path, name: str, seed: int, rtl_vectors: int, synth: bool) -> dict:
    """Export, simulate and synthesize a trained run folder (finished stages read back)."""
    from lutnn import io
    from lutnn.pipeline import export_run, simulate_run, synth_run
    from lutnn.presets import PRESETS

    metrics = io.read_json(run / "metrics.json")
    if not (run / "hdl" / "export.json").is_file():
        export_run(run)
    sim = simulate_run(run)  # all test images: PyTorch == IR simulator
    if sim["mismatches"]:
        raise SystemExit(f"{run}: {sim['mismatches']} PyTorch/simulator mismatches (a bug)")
    preset = PRESETS.get(name)
    row = {
        "preset": name, "seed": seed, "command": f"lutnn train --preset {name} --seed {seed}",
        "budget": preset.budget if preset else "", "val_accuracy": metrics["val_accuracy"],
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
        excluded = s.get("luts_encoder_excluded", s.get("luts_without_encoder"))
        row.update(luts=s["luts"], luts_encoder_excluded=excluded,
                   luts_without_encoder=s.get("luts_without_encoder"),
                   ffs=s["ffs"], levels=s["levels"], synth_tool=s["tool"])
    return row


def from_run(run: Path, rtl_vectors: int, synth: bool) -> dict:
    """The row of a run folder trained already (``lutnn train --preset NAME --out RUN``):
    its preset found by content (:func:`lutnn.presets.preset_of_run`), else its folder name."""
    from lutnn import io
    from lutnn.presets import preset_of_run

    record = io.read_json(run / "run.json")
    name = preset_of_run(record) or run.name
    return measure_run(run, name, int(record.get("train", {}).get("seed", 0)), rtl_vectors,
                       synth)


def spread(rows: list[dict]) -> list[dict]:
    """Mean, standard deviation, min and max of test accuracy per preset over its seeds."""
    out = []
    for name in dict.fromkeys(r["preset"] for r in rows):
        accs = [r["test_accuracy"] for r in rows if r["preset"] == name]
        if len(accs) > 1:
            out.append({"preset": name, "seeds": len(accs), "mean": statistics.mean(accs),
                        "stdev": statistics.stdev(accs), "min": min(accs), "max": max(accs)})
    return out


#: the two panels of the plot: (title, the row's LUT count, the peers' convention)
PANELS = (("encoder excluded (the peers' convention)", "luts_encoder_excluded",
           "encoder excluded"),
          ("whole design (lutnn's convention)", "luts", "whole design"))


def _luts(row: dict, key: str) -> int | None:
    """The row's LUT count ``key`` (rows written before both conventions were named hold
    the encoder-excluded count as ``luts_without_encoder``)."""
    if key == "luts_encoder_excluded":
        return row.get(key, row.get("luts_without_encoder"))
    return row.get(key)


def plot(rows: list[dict], path: Path) -> None:
    """Accuracy vs LUTs of the presets beside the peers' published points, one panel per
    counting convention (a panel holds only the peers' points counted that way)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lutnn import io
    from lutnn.report import draw_accuracy_vs_luts

    fig, axes = plt.subplots(1, 2, figsize=(14, 5.2), dpi=120, sharex=True, sharey=True)
    for ax, (title, key, convention) in zip(axes, PANELS, strict=True):
        entries = [{"name": f"{r['preset']} s{r['seed']}", "kind": "LUT-Net",
                    "luts": _luts(r, key), "test_accuracy": r["test_accuracy"],
                    "rtl_accuracy": None} for r in rows if _luts(r, key)]
        draw_accuracy_vs_luts(ax, entries, convention)
        ax.set_title(f"LUTs, {title}", fontsize=10)
    fig.suptitle("MNIST accuracy vs LUTs: lutnn presets (Yosys synth_xilinx) and published "
                 "peers (their tools)", fontsize=11)
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def table(rows: list[dict]) -> str:
    head = ("| preset | seed | test acc. | val acc. | LUT nodes | LUTs (whole design) "
            "| LUTs (encoder excluded) | FFs | epochs | train s |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        excluded = _luts(r, "luts_encoder_excluded")
        lines.append(
            f"| {r['preset']} | {r['seed']} | {100 * r['test_accuracy']:.2f}% | "
            f"{100 * r['val_accuracy']:.2f}% | {r['lut_nodes']:,} | {r.get('luts') or '-'} | "
            f"{excluded or '-'} | {r.get('ffs') or '-'} | {r['epochs']} | "
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
    parser.add_argument("--from", dest="from_runs", nargs="+", type=Path, metavar="RUN",
                        help="run folders trained already (their preset found by content); "
                             "measured instead of the presets")
    parser.add_argument("--plot-only", action="store_true",
                        help="only redraw the table and plot of the rows in --out")
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
    if args.from_runs or args.plot_only:
        points = []
    rows = []  # rows of other points already in --out are kept, re-measured ones replaced
    if args.out.is_file() and not args.fresh:
        rows = [r for r in io.read_json(args.out)["rows"] if (r["preset"], r["seed"]) not in points
                and r.get("run") not in {str(p) for p in args.from_runs or []}]
    jobs = [(lambda n=n, s=s: measure(n, s, args.runs, args.data, args.epochs,
                                      args.rtl_vectors, not args.no_synth)) for n, s in points]
    jobs += [(lambda r=r: from_run(r, args.rtl_vectors, not args.no_synth))
             for r in args.from_runs or []]
    for job in jobs:
        row = job()
        rows = [r for r in rows if (r["preset"], r["seed"]) != (row["preset"], row["seed"])]
        rows.append(row)
        io.write_json(args.out, {"rows": rows, "spread": spread(rows)})  # a stop loses little
        print(json.dumps(row), flush=True)
    print(table(rows))
    for s in spread(rows):
        print(f"{s['preset']}: {s['seeds']} seeds, test {100 * s['mean']:.2f}% "
              f"+- {100 * s['stdev']:.2f} (min {100 * s['min']:.2f}, max {100 * s['max']:.2f})")
    plot(rows, args.out.with_suffix(".png"))  # the peers' points even before any synthesis
    print(f"plot: {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
