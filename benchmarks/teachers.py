"""Teacher benchmark: MNIST test accuracy and training wall time of each teacher.

Runs ``lutnn train`` per teacher (reusing a finished run folder), then prints a table and
writes ``benchmarks/results/teachers.json``.  Targets (issue: foundation): binary MLP >= 98.0%,
binary CNN >= 99.0%, each within 30 minutes on a 2-core machine.

    python benchmarks/teachers.py [--epochs 10] [--models teacher-mlp teacher-cnn] [--runs runs]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"teacher-mlp": 0.98, "teacher-cnn": 0.99, "teacher-mobilenet": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(TARGETS))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--runs", default=str(ROOT / "runs" / "teachers"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "teachers.json"))
    args = parser.parse_args()

    rows = []
    for model in args.models:
        run = Path(args.runs) / model
        if not (run / "metrics.json").is_file():
            cmd = [sys.executable, "-m", "lutnn.cli", "train", "--model", model, "--out",
                   str(run), "--epochs", str(args.epochs)]
            if (run / "checkpoint.pt").is_file():
                cmd.append("--resume")
            subprocess.run(cmd, check=True)
        metrics = json.loads((run / "metrics.json").read_text())
        rows.append({
            "model": model,
            "test_accuracy": metrics["test_accuracy"],
            "val_accuracy": metrics["val_accuracy"],
            "epochs": metrics["epochs"],
            "minutes": round(metrics["seconds"] / 60, 1),
            "params": metrics["params"],
            "target": TARGETS.get(model),
            "load_average_at_report": round(os.getloadavg()[0], 2),
        })

    print(f"{'model':<18} {'test acc':>9} {'target':>7} {'val acc':>8} {'epochs':>6} "
          f"{'minutes':>8} {'params':>9}")
    for r in rows:
        target = f"{100 * r['target']:.1f}%" if r["target"] else "-"
        print(f"{r['model']:<18} {100 * r['test_accuracy']:>8.2f}% {target:>7} "
              f"{100 * r['val_accuracy']:>7.2f}% {r['epochs']:>6} {r['minutes']:>8.1f} "
              f"{r['params']:>9}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"teachers": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
