"""``make bench``: the quick variant of every self-contained benchmark, one after another.

Each runs as its own process with its small settings (its ``--quick`` where it has one) and
writes into ``--out`` (default ``runs/bench-quick``), never over the full-run results in
``benchmarks/results/``.  The distillation benchmarks need a trained teacher (``--teacher``)
and are listed, not run; ``teachers.py`` trains for a long time and is left out too.

    .venv/bin/python benchmarks/run_all.py                 # all quick benchmarks
    .venv/bin/python benchmarks/run_all.py simulator       # only the named ones

Exits 1 when any benchmark failed (the others still run).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def quick_runs(out: Path) -> dict[str, list[str]]:
    """Name -> argument list of each quick benchmark (results under ``out``)."""
    return {
        "simulator": ["simulator.py", "--images", "2000", "--repeats", "2",
                      "--out", str(out / "simulator.json")],
        "lut_layer": ["lut_layer.py", "--nodes", "512", "--batch", "64", "--repeat", "2",
                      "--out", str(out)],
        "scaling": ["scaling.py", "--quick", "--out", str(out)],
        "lut_direct": ["lut_direct.py", "--quick", "--runs", str(out / "lut_direct"),
                       "--out", str(out / "lut_direct.json")],
        "learned_wiring": ["learned_wiring.py", "--quick",
                           "--out", str(out / "learned_wiring.json")],
        "pareto": ["pareto.py", "--quick", "--runs", str(out / "pareto"),
                   "--out", str(out / "pareto.json")],
        "compiled": ["compiled.py", "--quick", "--out", str(out / "compiled.json")],
    }


NEEDS_A_TEACHER = ["distill_ablation.py", "distill_memory.py", "distill_teachers.py",
                   "distill_vs_e2e.py"]


def main(argv: list[str] | None = None) -> int:
    runs = quick_runs(Path("."))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(runs)} (default: all)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-quick")
    args = ap.parse_args(argv)
    unknown = sorted(set(args.names) - set(runs))
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(runs)}")
    args.out.mkdir(parents=True, exist_ok=True)
    runs = quick_runs(args.out.resolve())
    failed = []
    for name in args.names or list(runs):
        cmd = [sys.executable, str(HERE / runs[name][0]), *runs[name][1:]]
        print(f">> {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.run(cmd, cwd=ROOT).returncode
        print(f"<< {name}: exit {code} after {time.perf_counter() - t0:.0f} s", flush=True)
        if code:
            failed.append(name)
    print("not run (need --teacher; run them directly): " + ", ".join(NEEDS_A_TEACHER))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
