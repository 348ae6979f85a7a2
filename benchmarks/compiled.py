"""Compiled C vs the numpy simulator vs PyTorch eval: MNIST images/s, uint8 pixels in, class
indices out, one thread and two, in one run.

Nets: the trained MNIST LUT-Nets of ``--run`` (e1_full: ~3,000 LUTs; the large preset: ~3,900),
with their PyTorch models, on the 10,000 MNIST test images, and a ~4,000-LUT6 net with random
tables and wiring (``benchmarks/simulator.py``'s: encoder 784 x 2 -> LUT6 x 2000 -> LUT6 x 2000
-> head 10), the issue's target size; random tables are the hard case for the C (no LUT
simplifies). Every C result is checked equal to the numpy simulator's before it is timed.

    OMP_NUM_THREADS=1 LUTNN_DATA=../shared/data/mnist .venv/bin/python benchmarks/compiled.py

Prints a table and writes benchmarks/results/compiled.json.  ``--quick``: a 2 x 500 random
net on 20,000 images and no trained run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from lutnn.csrc import compile_netlist
from lutnn.io import write_json
from lutnn.sim import simulate
from simulator import mnist_sized_net

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "compiled.json"
TARGET = 1.1e6  # images/s on one core for a ~4,000-LUT net (the issue's)


def best_seconds(fn, repeats: int) -> tuple[float, float]:
    """Best (wall seconds, CPU seconds of this process, all threads) over ``repeats`` runs."""
    runs = []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - t0, time.process_time() - c0))
    return min(r[0] for r in runs), min(r[1] for r in runs)


def _row(name: str, backend: str, threads: int, images: int, seconds: tuple[float, float],
         **more) -> dict:
    """images/s by the wall clock, and per CPU-second (what one core does when the machine
    is shared: other processes' time is not counted)."""
    return {"net": name, "backend": backend, "threads": threads,
            "images_per_s": images / seconds[0], "images_per_cpu_s": round(images / seconds[1]),
            **more}


def measure(name: str, net, x: np.ndarray, repeats: int, model=None) -> list[dict]:
    """Rows of (backend, threads, images/s) for ``net`` on ``x`` (uint8 [B, 784])."""
    rows = []
    n_sim = min(len(x), 10_000)
    want = simulate(net, x[:n_sim], keep_layers=False).classes
    t = best_seconds(lambda: simulate(net, x[:n_sim], keep_layers=False), max(1, repeats // 2))
    rows.append(_row(name, "numpy sim", 1, n_sim, t))
    for word in (64, 256):
        t0 = time.perf_counter()
        compiled = compile_netlist(net, word=word)
        build = time.perf_counter() - t0
        np.testing.assert_array_equal(compiled.classify(x[:n_sim]), want)  # bit-exact first
        for threads in (1, 2):
            t = best_seconds(lambda c=compiled, th=threads: c.classify(x, threads=th), repeats)
            rows.append(_row(name, f"C {word}-bit", threads, len(x), t,
                             build_seconds=round(build, 1)))
    if model is not None:
        import torch

        from lutnn.train import predict

        n_torch = min(len(x), 10_000)
        np.testing.assert_array_equal(predict(model, x[:1000].reshape(-1, 1, 28, 28)), want[:1000])
        for threads in (1, 2):
            torch.set_num_threads(threads)
            t = best_seconds(lambda: predict(model, x[:n_torch].reshape(-1, 1, 28, 28)), 2)
            rows.append(_row(name, "PyTorch eval", threads, n_torch, t))
    numpy_ips = rows[0]["images_per_s"]
    torch_ips = {r["threads"]: r["images_per_s"] for r in rows if r["backend"] == "PyTorch eval"}
    for r in rows:
        r["x_numpy"] = round(r["images_per_s"] / numpy_ips, 2)
        if torch_ips:
            r["x_pytorch_same_threads"] = round(r["images_per_s"] / torch_ips[r["threads"]], 2)
        r["images_per_s"] = round(r["images_per_s"])
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, nargs="+",
                    default=[ROOT / "runs" / "exp" / "e1_full", ROOT / "runs" / "pareto" /
                             "large-s0"],
                    help="trained MNIST run folders (exported: RUN/hdl/netlist.*); missing "
                         "ones are left out")
    ap.add_argument("--images", type=int, default=200_000,
                    help="images per C timing (the test set repeated)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs (best)")
    ap.add_argument("--quick", action="store_true", help="a 2 x 500 random net, no trained run")
    ap.add_argument("--out", type=Path, default=RESULTS, help="JSON results path")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    nets, x_test = [], None
    for run in [] if args.quick else args.run:
        if not (run / "hdl" / "netlist.json").is_file():
            print(f"no exported run at {run}: left out")
            continue
        from lutnn.data import load_dataset
        from lutnn.ir.serialize import load_netlist
        from lutnn.train import load_run

        model, _ = load_run(run)
        if x_test is None:
            x_test = load_dataset(os.environ.get("LUTNN_DATA"), val_size=1).x_test
            x_test = x_test.reshape(len(x_test), -1)
        nets.append((f"trained {run.name}", load_netlist(run / "hdl"), x_test, model))
    width = 500 if args.quick else 2000
    images = 20_000 if args.quick else args.images
    pool = x_test if x_test is not None else rng.integers(0, 256, (10_000, 784), dtype=np.uint8)
    nets.append((f"random 2 x {width} LUT6", mnist_sized_net(rng, width), pool, None))

    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    results, nets_info = [], []
    for name, net, pool_x, model in nets:
        x = np.ascontiguousarray(np.resize(pool_x, (images, 784)))  # the pool repeated
        results += measure(name, net, x, args.repeats, model)
        nets_info.append({"net": name, "lut_nodes": sum(layer.out_width for layer in net.layers),
                          "encoder_bits": net.input_bits})
    print(f"images/s, uint8 pixels -> class indices; {images} images per C timing; load "
          f"average {load} on {os.cpu_count()} CPUs")
    print(f"{'net':<24}{'backend':<14}{'threads':>8}{'images/s':>13}{'x numpy':>9}"
          f"{'x PyTorch':>10}{'per CPU-s':>13}")
    for r in results:
        vs_torch = r.get("x_pytorch_same_threads")
        print(f"{r['net']:<24}{r['backend']:<14}{r['threads']:>8}{r['images_per_s']:>13,}"
              f"{r['x_numpy']:>9.1f}{'' if vs_torch is None else f'{vs_torch:.1f}':>10}"
              f"{r['images_per_cpu_s']:>13,}")
    big = [r for r in results if r["net"].startswith("random") and r["threads"] == 1
           and r["backend"].startswith("C")]
    best = max(r["images_per_s"] for r in big)
    best_cpu = max(r["images_per_cpu_s"] for r in big)
    print(f"target {TARGET:,.0f} images/s on one core: best one-thread C on the random net "
          f"{best:,} by the wall clock ({best / TARGET:.2f}x the target), {best_cpu:,} per "
          f"CPU-second ({best_cpu / TARGET:.2f}x)")
    write_json(args.out, {
        "benchmark": "compiled", "images_per_timing": images, "repeats": args.repeats,
        "nets": nets_info, "results": results, "target_images_per_s": TARGET,
        "best_one_thread_c_random_net": best, "best_one_thread_c_random_net_per_cpu_s": best_cpu,
        "bit_exact_vs_numpy": True,
        "load_average_1min": load, "cpus": os.cpu_count(), "python": sys.version.split()[0],
        "numpy": np.__version__, "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
    })
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
