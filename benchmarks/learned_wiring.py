"""Time and memory per training step of the wiring variants at DWN's large MNIST size.

One LUT-Net, thermometer 3 levels (2,352 input bits) -> 2,000 LUT6 -> 1,000 LUT6 -> popcount
head, batch 128, Adam: the first layer's wiring is fixed (random, balanced), learned over all
2,352 inputs (DWN), or learned among C candidates per slot; input gradients exact or EFD.
Each variant runs in a fresh subprocess, so its peak resident memory (``ru_maxrss``: torch,
model, Adam state, activations) is its own; step times are medians of 10 steps after 3 warm-up
steps, and ratios to the fixed-wiring baseline are taken within the same run (the machine is
shared, so only ratios compare).

    .venv/bin/python benchmarks/learned_wiring.py            # all variants
    .venv/bin/python benchmarks/learned_wiring.py --quick    # smaller net, fewer steps

Writes benchmarks/results/learned_wiring.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "learned_wiring.json"

#: name -> lut-mlp config fields on top of the size
VARIANTS = {
    "fixed random, exact": {},
    "fixed random, EFD": {"input_grad": "efd"},
    "learned, all inputs, EFD": {"learned_wiring": 1, "input_grad": "efd"},
    "learned, 32 candidates, EFD": {"learned_wiring": 1, "candidates": 32, "input_grad": "efd"},
    "learned, 8 candidates, EFD": {"learned_wiring": 1, "candidates": 8, "input_grad": "efd"},
}


def child(config: dict, steps: int, batch: int) -> None:
    """Time ``steps`` training steps of one config; print a JSON line."""
    import torch

    from lutnn.models import build_model, count_params, make_config

    torch.manual_seed(0)
    model = build_model("lut-mlp", make_config("lut-mlp", config), (1, 28, 28), 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, fused=True)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (batch, 1, 28, 28), generator=gen).float()
    y = torch.randint(0, 10, (batch,), generator=gen)
    times = []
    for i in range(steps + 3):
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"step_ms": 1000 * statistics.median(times), "params": count_params(model),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    layers, steps, batch = ([500, 200], 3, 64) if args.quick else ([2000, 1000], 10, 128)
    if args.child:
        child(json.loads(args.child), steps, batch)
        return 0
    rows = []
    for name, extra in VARIANTS.items():
        config = {"layers": layers, "levels": 3, **extra}
        cmd = [sys.executable, __file__, "--child", json.dumps(config)]
        if args.quick:
            cmd.append("--quick")
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append({"variant": name, "config": config, **json.loads(out.splitlines()[-1])})
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["step_ms"]
    print("\n| variant | params | step ms | x fixed | peak RSS MB |\n|---|---|---|---|---|")
    for r in rows:
        r["ratio"] = r["step_ms"] / base
        print(f"| {r['variant']} | {r['params']:,} | {r['step_ms']:.0f} | {r['ratio']:.1f} | "
              f"{r['peak_rss_mb']:.0f} |")
    if not args.quick or args.out != RESULTS:
        from lutnn import io

        io.write_json(args.out, {"layers": layers, "batch": batch, "steps": steps, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
