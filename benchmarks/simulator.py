"""Simulator throughput: the packed golden model vs the reference, on an MNIST-sized LUT net.

The net: encoder (784 pixels x 2 levels = 1568 bits) -> LUT6 x 2000 -> LUT6 x 2000 -> group-sum
head (10 classes x 200), i.e. 4000 LUT nodes, random tables and wiring; 10 000 random images.
Speed does not depend on the data or the tables, so nothing is trained or downloaded.

Run on one core (the numbers in docs are measured this way):

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/simulator.py

Prints a table and writes benchmarks/results/simulator.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from lutnn.io import write_json
from lutnn.ir import GroupSumHead, InputEncoder, LutLayer, Netlist
from lutnn.sim import simulate, simulate_reference

RESULTS = Path(__file__).resolve().parent / "results" / "simulator.json"


def mnist_sized_net(rng: np.random.Generator, width: int = 2000, k: int = 6) -> Netlist:
    """Encoder 784 x 2 -> LUT[width] -> LUT[width] -> head 10 classes."""
    enc = InputEncoder("enc", 1, 784, np.array([64, 160], np.int16))
    layers, w = [], enc.out_width
    for i in range(2):
        inputs = rng.integers(0, w, size=(width, k)).astype(np.int32)
        tables = rng.integers(0, 2, size=(width, 2**k)).astype(np.uint8)
        layers.append(LutLayer(f"lut{i}", w, inputs, tables))
        w = width
    return Netlist(enc.out_width, tuple(layers), encoder=enc, head=GroupSumHead("head", w, 10))


def best_of(fn, repeats: int) -> tuple[float, float]:
    """Best (wall seconds, CPU seconds of this process) over ``repeats`` runs."""
    runs = []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - w0, time.process_time() - c0))
    return min(runs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000, help="batch size B")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of the packed sim (best)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="JSON results path")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    net = mnist_sized_net(rng)
    x = rng.integers(0, 256, size=(args.images, 784)).astype(np.uint8)
    lut_nodes = sum(layer.out_width for layer in net.layers)

    fast = simulate(net, x, keep_layers=False)  # warm-up, and the result checked below
    rows = {
        "packed (classes only)": best_of(lambda: simulate(net, x, keep_layers=False), args.repeats),
        "packed (keep_layers)": best_of(lambda: simulate(net, x), args.repeats),
    }
    w0, c0 = time.perf_counter(), time.process_time()
    ref = simulate_reference(net, x)
    rows["reference"] = (time.perf_counter() - w0, time.process_time() - c0)
    np.testing.assert_array_equal(fast.classes, ref.classes)
    np.testing.assert_array_equal(fast.output_bits, ref.output_bits)

    ref_s = rows["reference"][0]
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    print(
        f"MNIST-sized net: {lut_nodes} LUT{net.layers[0].k} nodes, {args.images} images, "
        f"threads={os.environ.get('OMP_NUM_THREADS', 'default')}, load average {load}"
    )
    print(f"{'simulator':<24}{'wall s':>9}{'cpu s':>9}{'images/s':>12}{'x reference':>13}")
    results = []
    for name, (sec, cpu) in rows.items():
        ips, ratio = args.images / sec, ref_s / sec
        print(f"{name:<24}{sec:>9.3f}{cpu:>9.3f}{ips:>12,.0f}{ratio:>13.1f}")
        results.append(
            {
                "simulator": name,
                "seconds": round(sec, 4),
                "cpu_seconds": round(cpu, 4),
                "images_per_s": round(ips, 1),
                "speedup_vs_reference": round(ratio, 2),
            }
        )
    write_json(
        args.out,
        {
            "benchmark": "simulator",
            "net": {
                "encoder_bits": net.input_bits,
                "lut_nodes": lut_nodes,
                "k": net.layers[0].k,
                "layers": [layer.out_width for layer in net.layers],
                "classes": 10,
            },
            "images": args.images,
            "threads": os.environ.get("OMP_NUM_THREADS", "default"),
            "load_average_1min": load,
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "machine": platform.machine(),
            "processor": platform.processor(),
            "results": results,
            "bit_exact_vs_reference": True,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
