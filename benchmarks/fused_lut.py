"""Fused lookup kernel vs the reference lookup path: one LUT layer, forward + backward.

Shape of DWN's MNIST first layer (../shared/ANCHORS.md): 2,000 six-input LUTs over 2,352 input
bits, batch 1,024 and 8,192, training mode (clipped STE output), EFD input gradient, gradients to
the tables *and* to the input bits (a hidden layer; ``--no-input-grad`` for a first layer).
Variants: ``LUTLayer(implementation="lookup", kernel="reference" | "fused")``.

* **time**: one fresh subprocess per batch size times both variants *interleaved* (reference,
  fused, reference, ...) after a warm-up step each, so load drift on a shared machine hits both
  alike; the median of ``--repeat`` steps per variant, and their ratio.  On CUDA each step is
  bracketed by ``torch.cuda.synchronize()``.
* **memory**: one fresh subprocess per (variant, batch).  CPU: resident-set growth, ``VmHWM``
  after one step (high-water mark reset through ``/proc/self/clear_refs`` after a warm-up step)
  minus ``VmRSS`` just before it, with a fixed glibc mmap threshold so freed blocks go back to the
  OS (as benchmarks/lut_layer.py; tracemalloc does not see torch's allocations); ``total`` is
  ``VmHWM`` minus ``VmRSS`` before the input, layer and gradients were allocated.  CUDA:
  ``torch.cuda.max_memory_allocated()`` during the step minus ``memory_allocated()`` before it,
  and the absolute ``max_memory_allocated()`` as ``total`` (the figure comparable to DWN's).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fused_lut.py               # CPU, writes JSON
    .venv/bin/python benchmarks/fused_lut.py --device cuda --repeat 20 --threads 16  # a GPU

Writes benchmarks/results/fused_lut.json (``fused_lut_cuda.json`` with ``--device cuda``).
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
from math import nan
from pathlib import Path

VARIANTS = ["reference", "fused"]
#: opt-in: the same layer step (lookup + clipped STE, no is_binary check) under torch.compile;
#: the compile happens in the warm-up step, outside the timings
COMPILED = ["reference_compiled", "fused_compiled"]
RESULTS = Path(__file__).resolve().parent / "results"

#: ../shared/ANCHORS.md, one NVIDIA H100, torch 2.11, median of 20 (DWN's CUDA kernel, EFD)
DWN_H100 = {
    "1024": {"ms": 1.38, "peak_mb": 30},
    "8192": {"ms": 9.08, "peak_mb": 217},
    "source": "../shared/ANCHORS.md, 'Measured side by side here (one NVIDIA H100, torch 2.11)'",
}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _setup(args: argparse.Namespace, variant: str):
    import torch

    from lutnn.nn.fused import fused_lookup
    from lutnn.nn.lut import LUTLayer, binarize_ste, lut_lookup

    dev = torch.device(args.device)
    kernel = variant.removesuffix("_compiled")
    layer = LUTLayer(args.in_features, args.nodes, args.k, seed=0, implementation="lookup",
                     input_grad=args.input_grad, kernel=kernel).to(dev).train()
    forward = layer
    if variant.endswith("_compiled"):
        wires, ig = layer.inputs, args.input_grad

        def plain(x2):  # LUTLayer.forward of this configuration, without the is_binary check
            if kernel == "fused":
                return binarize_ste(fused_lookup(x2, layer.tables, wires, ig))
            slots = x2.index_select(1, wires.flatten()).view(x2.shape[0], *wires.shape)
            return binarize_ste(lut_lookup(slots, layer.tables, ig))

        forward = torch.compile(plain)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(args.batch, args.in_features, generator=g) < 0.5).float().to(dev)
    x.requires_grad_(args.input_grad_on)
    grad_out = torch.randn(args.batch, args.nodes, generator=g).to(dev)

    def step() -> None:
        layer.tables.grad = None
        x.grad = None
        forward(x).backward(grad_out)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    return step


def child(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    if args.mode == "mem":
        rss_start = _status_kb("VmRSS")
        step = _setup(args, args.variant)
        step()  # warm-up: kernels' code pages, allocator pools, autograd engine
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            step()
            peak = torch.cuda.max_memory_allocated()
            return {"variant": args.variant, "peak_step_mb": (peak - before) / 2**20,
                    "peak_total_mb": peak / 2**20, "peak_reset": True}
        reset = True
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            reset = False
        rss0 = _status_kb("VmRSS")
        step()
        kb = _status_kb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"variant": args.variant, "peak_step_mb": (kb - rss0) / 1024,
                "peak_total_mb": (kb - rss_start) / 1024, "peak_reset": reset}
    steps = {v: _setup(args, v) for v in args.variants}
    for step in steps.values():
        step()  # warm-up
    times: dict[str, list[float]] = {v: [] for v in args.variants}
    for _ in range(args.repeat):
        for v, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[v].append(time.perf_counter() - t0)
    return {v: {"median_ms": 1e3 * statistics.median(t), "times_ms": [1e3 * s for s in t]}
            for v, t in times.items()}


def _child_cmd(args: argparse.Namespace, batch: int, mode: str, variant: str | None) -> list:
    cmd = [sys.executable, __file__, "--mode", mode, "--batch", str(batch)]
    if variant:
        cmd += ["--variant", variant]
    for name in ("nodes", "k", "in_features", "repeat", "threads", "device", "input_grad"):
        cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    cmd += ["--variants", *args.variants]
    if not args.input_grad_on:
        cmd.append("--no-input-grad")
    return cmd


def _run_child(cmd: list, env: dict) -> dict:
    res = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda (the same code path)")
    p.add_argument("--nodes", type=int, default=2000)
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--in-features", type=int, default=2352)
    p.add_argument("--batches", type=int, nargs="+", default=[1024, 8192])
    p.add_argument("--repeat", type=int, default=3, help="timed steps per variant")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--input-grad", default="efd", choices=["exact", "efd"])
    p.add_argument("--no-input-grad", dest="input_grad_on", action="store_false",
                   help="no gradient to the input bits (a first layer)")
    p.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS + COMPILED)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)  # per-child
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=["time", "mem"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.mode:
        print(json.dumps(child(args)))
        return

    import torch

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device visible")
    load_before = os.getloadavg()
    rows = []
    for batch in args.batches:
        timed = _run_child(_child_cmd(args, batch, "time", None), dict(os.environ))
        for v in args.variants:
            env = dict(os.environ)
            if not cuda:  # fixed mmap threshold: freed blocks go back to the OS at once
                env.update(MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="0")
            mem = _run_child(_child_cmd(args, batch, "mem", v), env)
            rows.append({"batch": batch, **timed[v], **mem})
            print(f"  batch {batch} {v}: done", file=sys.stderr, flush=True)
    for r in rows:
        ref = next((q for q in rows if q["batch"] == r["batch"]
                    and q["variant"] == "reference"), None)
        if ref is None:
            continue
        r["speedup_vs_reference"] = ref["median_ms"] / r["median_ms"]
        r["step_memory_ratio_vs_reference"] = r["peak_step_mb"] / ref["peak_step_mb"]
        r["total_memory_ratio_vs_reference"] = r["peak_total_mb"] / ref["peak_total_mb"]

    print(f"LUT layer fwd+bwd ({args.device}): N={args.nodes}, k={args.k}, "
          f"in={args.in_features}, input_grad={args.input_grad}, grads to inputs: "
          f"{args.input_grad_on}, {args.threads} thread(s), median of {args.repeat}")
    print(f"{'batch':>6} {'variant':<18} {'ms/step':>9} {'step MB':>9} {'total MB':>9} "
          f"{'speed x':>8} {'mem x':>7}")
    for r in rows:
        print(f"{r['batch']:>6} {r['variant']:<18} {r['median_ms']:>9.1f} "
              f"{r['peak_step_mb']:>9.1f} {r['peak_total_mb']:>9.1f} "
              f"{r.get('speedup_vs_reference', nan):>8.2f} "
              f"{r.get('step_memory_ratio_vs_reference', nan):>7.3f}")
    mem_method = (
        "CUDA: torch.cuda.max_memory_allocated during one step minus memory_allocated before "
        "(step); absolute max_memory_allocated (total)" if cuda else
        "CPU: VmHWM - VmRSS of a fresh subprocess around one fwd+bwd after a warm-up (step); "
        "VmHWM - VmRSS before allocating input, layer and grads (total); not tracemalloc"
    )
    report = {
        "benchmark": "fused_lut",
        "config": {
            "device": args.device, "nodes": args.nodes, "k": args.k,
            "in_features": args.in_features, "batches": args.batches, "repeat": args.repeat,
            "threads": args.threads, "input_grad": args.input_grad,
            "grads_to_inputs": args.input_grad_on,
            "mode": "train (clipped STE), LUTLayer(implementation='lookup', kernel=variant), "
                    "fixed random wiring",
        },
        "machine": {
            "device": torch.cuda.get_device_name() if cuda else
            (platform.processor() or platform.machine()),
            "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version(),
            "loadavg_1_5_15_before": [round(v, 2) for v in load_before],
            "loadavg_1_5_15_after": [round(v, 2) for v in os.getloadavg()],
        },
        "gpu_lent": cuda,
        "note": None if cuda else (
            "CPU only: no GPU was lent to the session that wrote this. The same script runs "
            "unchanged with --device cuda; the DWN figures below are from an H100 and are not "
            "comparable with CPU timings."),
        "peak_memory_method": mem_method,
        "dwn_cuda_kernel_h100": DWN_H100,
        "results": rows,
    }
    out = args.out or RESULTS / ("fused_lut_cuda.json" if cuda else "fused_lut.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
