"""Data-parallel ``lutnn train``: samples/s of 1 and 2 processes (gloo, torchrun), small LUT-Net.

Each configuration is a fresh ``python -m lutnn train`` subprocess (``--nproc 2`` launches
torchrun) on the same synthetic 28x28 data set (the class sets the bright quadrant), with the
same global batch, seed and epochs; throughput is training samples x epochs over the time
spent in epochs (``metrics.json`` ``seconds``, which includes each epoch's validation pass;
process start, data loading and torchrun's rendezvous are reported apart as ``wall_s``).
Configurations: one process with one thread, one process with two threads, two processes
with one thread each (the data-parallel run), so the ratio says what DDP adds or costs for
the same cores.  The two-process weights are compared with the one-process ones (max abs
difference: float summation order only) and the test accuracies must match.

On this 2-core machine (shared with other jobs) no speed-up is expected: the point is
correctness and overhead.  The ratio is reported as measured.

    .venv/bin/python benchmarks/distributed.py            # prints a table, writes the JSON
    .venv/bin/python benchmarks/distributed.py --quick    # a smaller net and data set

Writes benchmarks/results/distributed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "distributed.json"
#: (name, processes, threads per process)
CONFIGS = [("1 process, 1 thread", 1, 1), ("1 process, 2 threads", 1, 2),
           ("2 processes, 1 thread each", 2, 1)]


def make_data(path: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """A learnable 4-class set of 28x28 uint8 images (the class sets the bright quadrant)."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, 4, n)
        x = rng.integers(0, 120, (n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            r, q = (c // 2) * 14, (c % 2) * 14
            x[i, r : r + 14, q : q + 14] += 100
        return x, y

    (x_train, y_train), (x_test, y_test) = make(n_train), make(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def run_one(root: Path, name: str, nproc: int, threads: int, args: argparse.Namespace,
            data: Path, config: Path) -> dict:
    out = root / f"p{nproc}t{threads}"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "lutnn", "train", "--model", "lut-mlp", "--config", str(config),
           "--data", str(data), "--out", str(out), "--epochs", str(args.epochs),
           "--batch-size", str(args.batch_size), "--val-size", str(args.val_size),
           "--nproc", str(nproc)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"{name} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    n_train = args.train - args.val_size
    return {
        "name": name, "processes": nproc, "threads_per_process": threads,
        "epoch_seconds": metrics["seconds"], "wall_s": round(wall, 2),
        "samples_per_s": round(n_train * args.epochs / metrics["seconds"], 1),
        "test_accuracy": metrics["test_accuracy"], "run": out,
    }


def max_weight_difference(a: Path, b: Path) -> float:
    import torch

    wa = torch.load(a / "model.pt", weights_only=True)
    wb = torch.load(b / "model.pt", weights_only=True)
    return max(float((wa[k].double() - wb[k].double()).abs().max()) for k in wa)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smaller net and data set")
    ap.add_argument("--train", type=int, default=6000, help="training images (incl. val)")
    ap.add_argument("--val-size", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128, help="the global batch")
    ap.add_argument("--layers", type=int, nargs="+", default=[2000, 500])
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.quick:
        args.train, args.epochs, args.layers = 2000, 1, [600, 200]
    cfg = {"layers": args.layers, "levels": 2, "k": 6}
    rows = []
    with tempfile.TemporaryDirectory(prefix="lutnn-dp-") as tmp:
        root = Path(tmp)
        data, config = root / "data.npz", root / "config.json"
        make_data(data, args.train, 1000)
        config.write_text(json.dumps(cfg))
        for name, nproc, threads in CONFIGS:
            rows.append(run_one(root, name, nproc, threads, args, data, config))
            print(f"  {name}: {rows[-1]['samples_per_s']:.0f} samples/s", file=sys.stderr)
        diff = max_weight_difference(rows[0]["run"], rows[2]["run"])
        diff_2t = max_weight_difference(rows[0]["run"], rows[1]["run"])
    for row in rows:
        row["run"] = str(Path(row["run"]).name)
    base = rows[0]["samples_per_s"]
    for row in rows:
        row["ratio_vs_1_process_1_thread"] = round(row["samples_per_s"] / base, 3)
    print(f"\nlut-mlp {cfg['layers']} (k=6), {args.train - args.val_size} training images "
          f"28x28, global batch {args.batch_size}, {args.epochs} epoch(s)")
    print(f"{'configuration':30s} {'samples/s':>10s} {'ratio':>7s} {'epochs s':>9s} "
          f"{'wall s':>7s} {'test acc':>9s}")
    for row in rows:
        print(f"{row['name']:30s} {row['samples_per_s']:10.0f} "
              f"{row['ratio_vs_1_process_1_thread']:7.3f} {row['epoch_seconds']:9.1f} "
              f"{row['wall_s']:7.1f} {row['test_accuracy']:9.4f}")
    print(f"max |w(2 processes) - w(1 process)| = {diff:.3g} (float summation order); "
          f"1 vs 2 threads in one process: {diff_2t:.3g}")
    result = {
        "benchmark": "distributed",
        "model": "lut-mlp", "config": cfg, "train_images": args.train - args.val_size,
        "val_images": args.val_size, "epochs": args.epochs, "global_batch": args.batch_size,
        "backend": "gloo (CPU)", "rows": rows,
        "max_weight_difference_2proc_vs_1proc": diff,
        "max_weight_difference_2threads_vs_1thread": diff_2t,
        "same_test_accuracy": rows[0]["test_accuracy"] == rows[2]["test_accuracy"],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "load_average_at_end": list(os.getloadavg())},
        "note": "2 cores shared with other jobs: no speed-up expected; ratios as measured",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.out)
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
