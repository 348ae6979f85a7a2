"""Direct training of LUT-Net MLPs (``lut-mlp``) on MNIST at several sizes: the baseline.

This is the baseline that distillation (``lutnn distill``) must match on accuracy and beat on
training memory.  Each size is trained by ``lutnn train --model lut-mlp`` in a *fresh
subprocess*, which reports its own peak resident set (``ru_maxrss`` of ``RUSAGE_SELF``, i.e.
the whole training process: torch, the MNIST arrays, model, optimizer state, activations), so
every run's peak is its own and not the maximum over earlier children.

Recorded per size: LUT nodes (``count_lut_nodes``), validation accuracy (the best epoch's,
selected on the 5k validation split) and test accuracy of that model, wall time of the
subprocess (start-up, data load, training, evaluation), seconds per epoch (training + the
per-epoch validation pass, from ``metrics.json``), and peak memory.  The 1-, 5- and 15-minute
load averages before and after every run are recorded too: the machine is shared.

    export LUTNN_DATA=/work/shared/data/mnist
    .venv/bin/python benchmarks/lut_direct.py              # defaults: ~1k, ~4k, ~16k nodes
    .venv/bin/python benchmarks/lut_direct.py --quick      # smoke test: 1 epoch, 300 and 1000 nodes
    .venv/bin/python benchmarks/lut_direct.py --sizes 500,500 2000,1000 --epochs 3 3

Writes benchmarks/results/lut_direct.json (``--out`` to change) and the run folders under
``runs/lut_direct/`` (``--runs``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "lut_direct.json"

#: layer sizes of the ~1k, ~4k and ~16k LUT-node nets (the last layer is 10 groups of G bits)
DEFAULT_SIZES = ["500,500", "3000,1000", "12000,4000"]
#: epochs per size; fits in about 30 minutes on the shared 2-core machine
DEFAULT_EPOCHS = [5, 4, 1]


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes must be like 2000,1000, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return sizes


def child(argv: list[str]) -> None:
    """Run ``lutnn train`` in this process, then print its peak RSS as the last line (JSON)."""
    from lutnn.cli import main as lutnn_main

    rc = lutnn_main(argv)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: kilobytes
    print(json.dumps({"rc": rc, "peak_rss_mb": peak_kb / 1024}), flush=True)
    sys.exit(rc)


def tau_for(group: int, tau: str) -> float:
    """``tau`` as given, or ``"auto"``: ``group / 30`` (3.33 for 100 bits per class, DWN's
    value), so the logit range ``group / tau`` stays 30 at every size."""
    return group / 30 if tau == "auto" else float(tau)


def run_one(args: argparse.Namespace, layers: list[int], epochs: int) -> dict:
    group = layers[-1] // 10
    tau = tau_for(group, args.tau)
    name = "x".join(map(str, layers)) + f"_e{epochs}"
    out = args.runs / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cfg = {"layers": layers, "levels": args.levels, "tau": tau, "k": args.k}
    (out.parent / f"{name}.config.json").write_text(json.dumps(cfg) + "\n")
    argv = ["train", "--model", "lut-mlp", "--out", str(out), "--epochs", str(epochs),
            "--lr", str(args.lr), "--batch-size", str(args.batch_size),
            "--config", str(out.parent / f"{name}.config.json"), "--seed", str(args.seed)]
    if args.data:
        argv += ["--data", args.data]
    cmd = [sys.executable, __file__, "--child", *argv]
    if args.nice:
        cmd = ["nice", "-n", str(args.nice), *cmd]
    print(f"  {name}: {' '.join(argv)}", file=sys.stderr, flush=True)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.stderr.write(res.stderr[-3000:])
        raise SystemExit(f"lut_direct: training {name} failed (exit {res.returncode})")
    child_info = json.loads(res.stdout.strip().splitlines()[-1])
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "name": name,
        "layers": layers,
        "luts": metrics["luts"],
        "group_size": group,
        "tau": tau,
        "epochs": metrics["epochs"],
        "val_accuracy": metrics["val_accuracy"],
        "test_accuracy": metrics["test_accuracy"],
        "val_history": [round(h["val_accuracy"], 4) for h in metrics["history"]],
        "train_seconds": metrics["seconds"],
        "seconds_per_epoch": metrics["seconds"] / max(metrics["epochs"], 1),
        "wall_seconds": wall,
        "peak_rss_mb": child_info["peak_rss_mb"],
        "params": metrics["params"],
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "command": "lutnn " + " ".join(argv),
        "config": cfg,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", nargs="+", type=_sizes, default=None,
                   help=f"LUT layer sizes per net, e.g. 2000,1000 (default: {DEFAULT_SIZES})")
    p.add_argument("--epochs", nargs="+", type=int, default=None,
                   help=f"epochs per net, one value or one per size (default: {DEFAULT_EPOCHS})")
    p.add_argument("--levels", type=int, default=3, help="thermometer levels (default: 3)")
    p.add_argument("--k", type=int, default=6, help="inputs per LUT (default: 6)")
    p.add_argument("--tau", default="auto",
                   help="softmax temperature, or 'auto' = bits per class / 30 (default)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam lr (default: 1e-2)")
    p.add_argument("--batch-size", type=int, default=128, help="batch size (default: 128)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", help="dataset (default: lutnn's MNIST lookup, LUTNN_DATA)")
    p.add_argument("--nice", type=int, default=5, help="nice level of the runs (0: none)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 epoch per size, small nets (200,100 and 500,500 "
                        "unless --sizes)")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "lut_direct")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()

    if args.quick:
        sizes = args.sizes or [[200, 100], [500, 500]]
        epochs = args.epochs or [1]
    else:
        sizes = args.sizes or [_sizes(s) for s in DEFAULT_SIZES]
        epochs = args.epochs or DEFAULT_EPOCHS
    if len(epochs) == 1:
        epochs = epochs * len(sizes)
    if len(epochs) != len(sizes):
        p.error(f"--epochs needs 1 or {len(sizes)} values, got {len(epochs)}")
    for s in sizes:
        if s[-1] % 10:
            p.error(f"the last layer must be a multiple of the 10 classes, got {s}")

    import torch

    load_before = os.getloadavg()
    rows = [run_one(args, s, e) for s, e in zip(sizes, epochs, strict=True)]

    print(f"lut-mlp direct training on MNIST: levels={args.levels}, k={args.k}, lr={args.lr}, "
          f"batch={args.batch_size}, tau={args.tau}")
    print(f"{'layers':<12} {'LUTs':>6} {'ep':>3} {'val':>7} {'test':>7} {'s/epoch':>8} "
          f"{'wall s':>7} {'peak MB':>8} {'load before':>12}")
    for r in rows:
        print(f"{'x'.join(map(str, r['layers'])):<12} {r['luts']:>6} {r['epochs']:>3} "
              f"{r['val_accuracy']:>7.4f} {r['test_accuracy']:>7.4f} "
              f"{r['seconds_per_epoch']:>8.1f} {r['wall_seconds']:>7.0f} {r['peak_rss_mb']:>8.0f} "
              f"{r['loadavg_before'][0]:>12.2f}")
    report = {
        "benchmark": "lut_direct",
        "config": {
            "model": "lut-mlp",
            "levels": args.levels,
            "k": args.k,
            "tau": args.tau,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "quick": args.quick,
            "schedule": "Adam, one-cycle cosine (lutnn.train)",
            "data": args.data or os.environ.get("LUTNN_DATA", "mnist"),
        },
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "loadavg_1_5_15_before": [round(v, 2) for v in load_before],
            "loadavg_1_5_15_after": [round(v, 2) for v in os.getloadavg()],
        },
        "peak_memory_method": "ru_maxrss (RUSAGE_SELF) of a fresh subprocess running the training",
        "accuracy_note": "val = best epoch on the 5k validation split; test = that model",
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
