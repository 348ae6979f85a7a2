"""One LUT layer, forward + backward: throughput and peak memory per implementation.

Default size: N = 4096 six-input LUTs over 2352 input bits, batch 256, training mode (clipped
STE output), gradients to the tables *and* to the input bits (a hidden layer).  Every variant
runs in two fresh subprocesses: one timed (median of ``--repeat`` steps after a warm-up), one for
memory.  Peak memory is the growth of the memory child's resident set: ``VmHWM`` (``ru_maxrss``
where the mark cannot be reset) after one forward + backward minus ``VmRSS`` just before it,
after a warm-up step (code pages, thread pools) and with the high-water mark reset
(``/proc/self/clear_refs``) so earlier peaks do not hide it.  torch's CPU allocator is plain
malloc, and the memory child runs with a fixed glibc mmap threshold (not the timed child: it
slows allocation), so freed blocks go back to the OS and the growth is the live peak of the step.

    .venv/bin/python benchmarks/lut_layer.py            # prints a table, writes the JSON
    .venv/bin/python benchmarks/lut_layer.py --batch 64 --repeat 3   # quicker

Writes benchmarks/results/lut_layer.json (ratios against the naive baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = ["naive", "reference", "chunked", "lookup"]
RESULTS = Path(__file__).resolve().parent / "results" / "lut_layer.json"


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def predicted_bytes(variant: str, b: int, n: int, k: int, chunk_nodes: int) -> int:
    """The peak-memory formulas of lutnn.nn.lut's docstrings (float32 elements, 4 bytes)."""
    bn2k = b * n * 2**k
    elems = {
        "naive": 4 * bn2k,
        "reference": 2 * bn2k,
        "chunked": b * n * k + 2 * b * chunk_nodes * 2**k,
        "lookup": b * n * (k + 4) + n * 2**k * (k + 2),
    }[variant]
    return 4 * elems


def child(args: argparse.Namespace) -> dict:
    import torch

    from lutnn.nn.lut import CHUNKED_MAX_BYTES, LUTLayer

    torch.set_num_threads(args.threads)
    layer = LUTLayer(args.in_features, args.nodes, args.k, seed=0, implementation=args.variant)
    layer.train()
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(args.batch, args.in_features, generator=g) < 0.5).float().requires_grad_()
    grad_out = torch.randn(args.batch, args.nodes, generator=g)

    def step() -> None:
        layer.tables.grad = None
        x.grad = None
        layer(x).backward(grad_out)

    step()  # warm-up: pages in kernels' code, thread pools, autograd engine
    if args.mode == "mem":
        reset = True
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            reset = False
        rss0 = _status_kb("VmRSS")
        step()
        kb = _status_kb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        chunk = min(args.nodes, max(1, CHUNKED_MAX_BYTES // (args.batch * 2**args.k * 4)))
        pred = predicted_bytes(args.variant, args.batch, args.nodes, args.k, chunk)
        return {"peak_mb": (kb - rss0) / 1024, "predicted_mb": pred / 2**20, "peak_reset": reset}
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"variant": args.variant, "median_s": med, "samples_per_s": args.batch / med}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--nodes", type=int, default=4096)
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--in-features", type=int, default=2352)
    p.add_argument("--repeat", type=int, default=5, help="timed steps after the memory step")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--variant", help=argparse.SUPPRESS)  # set in the per-variant subprocess
    p.add_argument("--mode", choices=["time", "mem"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.variant:
        print(json.dumps(child(args)))
        return

    load_before = os.getloadavg()
    rows = []
    for v in args.variants:
        row: dict = {}
        for mode in ("time", "mem"):
            cmd = [sys.executable, __file__, "--variant", v, "--mode", mode]
            for name in ("nodes", "k", "batch", "in_features", "repeat", "threads"):
                cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
            env = dict(os.environ)
            if mode == "mem":  # fixed mmap threshold: freed blocks go back to the OS at once
                env.update(MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="0")
            res = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
            row.update(json.loads(res.stdout.strip().splitlines()[-1]))
        rows.append(row)
        print(f"  {v}: done", file=sys.stderr, flush=True)
    base = next((r for r in rows if r["variant"] == "naive"), None)
    for r in rows:
        r["speedup_vs_naive"] = base["median_s"] / r["median_s"] if base else None
        r["memory_ratio_vs_naive"] = r["peak_mb"] / base["peak_mb"] if base else None

    import torch

    print(
        f"LUT layer fwd+bwd: N={args.nodes}, k={args.k}, batch={args.batch}, "
        f"in={args.in_features}, {args.threads} thread(s), median of {args.repeat}"
    )
    head = f"{'variant':<10} {'ms/step':>9} {'samples/s':>10} {'peak MB':>9} {'formula MB':>10}"
    print(head + f" {'speed x':>8} {'mem x':>7}")
    for r in rows:
        sp = f"{r['speedup_vs_naive']:.2f}" if base else "-"
        mr = f"{r['memory_ratio_vs_naive']:.4f}" if base else "-"
        print(
            f"{r['variant']:<10} {1e3 * r['median_s']:>9.1f} {r['samples_per_s']:>10.0f} "
            f"{r['peak_mb']:>9.1f} {r['predicted_mb']:>10.1f} {sp:>8} {mr:>7}"
        )
    report = {
        "benchmark": "lut_layer",
        "config": {
            "nodes": args.nodes,
            "k": args.k,
            "batch": args.batch,
            "in_features": args.in_features,
            "repeat": args.repeat,
            "threads": args.threads,
            "mode": "train, grads to tables and inputs",
        },
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "loadavg_1_5_15_before": [round(v, 2) for v in load_before],
            "loadavg_1_5_15_after": [round(v, 2) for v in os.getloadavg()],
        },
        "peak_memory_method": "VmHWM - VmRSS of a fresh subprocess around one fwd+bwd",
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
