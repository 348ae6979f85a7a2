"""Peak memory of ``lutnn distill`` under different ``--memory-budget`` values.

Each budget runs the same distillation (closed-form fit, no fine-tuning) in a fresh process;
the table gives the process's peak resident memory (getrusage, which includes Python, PyTorch
and the dataset), the resident memory before distillation starts, the chunk sizes the
scheduler chose per block, wall time, and whether the student is identical to the one of the
largest budget (the fit does not depend on chunking).

    OMP_NUM_THREADS=1 LUTNN_DATA=../shared/data/mnist .venv/bin/python \\
        benchmarks/distill_memory.py --teacher runs/distill/t256r10 --out runs/distill/mem

Results: benchmarks/results/distill_memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--budgets", type=int, nargs="*", default=[2048, 1024, 512, 400])
    ap.add_argument("--args", default="--finetune-epochs 0", help="distill arguments")
    args = ap.parse_args()
    import torch

    rows, reference = [], None
    for budget in args.budgets:
        out = args.out / f"b{budget}"
        if not (out / "metrics.json").exists():
            cmd = [sys.executable, "-m", "lutnn.cli", "distill", "--teacher", str(args.teacher),
                   "--out", str(out), "--memory-budget", str(budget), *args.args.split()]
            done = subprocess.run(cmd + (["--resume"] if out.exists() else []),
                                  stderr=subprocess.PIPE, text=True)
            if done.returncode:
                rows.append({"budget_mb": budget, "error": done.stderr.strip().splitlines()[-1]})
                print(f"budget {budget:5d} MB: {rows[-1]['error']}", flush=True)
                continue
        m = json.loads((out / "metrics.json").read_text())
        state = torch.load(out / "model.pt", weights_only=True)
        if reference is None:
            reference = state
        same = all(torch.equal(reference[k], state[k]) for k in reference)
        rows.append({
            "budget_mb": budget, "peak_memory_mb": m["peak_memory_mb"],
            "start_memory_mb": m["start_memory_mb"], "seconds": m["seconds"],
            "chunk_samples": [layer["chunk_samples"] for layer in m["layers"]],
            "neuron_group": [layer["neuron_group"] for layer in m["layers"]],
            "test_accuracy": m["test_accuracy"], "same_student_as_first": same,
        })
        r = rows[-1]
        print(f"budget {budget:5d} MB: peak {r['peak_memory_mb']:.0f} MB (start "
              f"{r['start_memory_mb']:.0f}), chunks {r['chunk_samples']}, groups "
              f"{r['neuron_group']}, {r['seconds']:.0f} s, test {r['test_accuracy']:.4f}, "
              f"same student: {same}", flush=True)
    path = REPO / "benchmarks" / "results" / "distill_memory.json"
    path.write_text(json.dumps({"teacher": str(args.teacher), "args": args.args, "rows": rows},
                               indent=2) + "\n")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
