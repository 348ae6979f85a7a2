"""Distillation ablation: wiring, fitting method, first-stage target, unseen-address rule.

Each variant runs ``lutnn distill`` in a fresh process (so its peak memory is its own) on the
same teacher run, and the table lists per-layer agreement with the teacher (validation data),
test accuracy before/after fine-tuning, LUTs, wall time and peak memory.

    OMP_NUM_THREADS=1 LUTNN_DATA=../shared/data/mnist .venv/bin/python \\
        benchmarks/distill_ablation.py --teacher runs/distill/t256r --out runs/distill/ablation

Results: benchmarks/results/distill_ablation.json (and ``--tag`` for other teachers).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: name -> extra ``lutnn distill`` arguments
VARIANTS: dict[str, list[str]] = {
    "weight_order fit": ["--wiring", "weight_order"],
    "weight_order_std fit": ["--wiring", "weight_order_std"],
    "random fit": ["--wiring", "random"],
    "weight_order_std fit, target partial": ["--wiring", "weight_order_std", "--target",
                                             "partial"],
    "weight_order_std fit, unseen nearest": ["--wiring", "weight_order_std", "--unseen",
                                             "nearest"],
    "weight_order_std train": ["--wiring", "weight_order_std", "--method", "train"],
    "weight_order_std fit+train": ["--wiring", "weight_order_std", "--method", "fit+train"],
    "random fit+train": ["--wiring", "random", "--method", "fit+train"],
}


def run_variant(teacher: Path, out: Path, args: list[str], common: list[str]) -> dict:
    if not (out / "metrics.json").exists():
        cmd = [sys.executable, "-m", "lutnn.cli", "distill", "--teacher", str(teacher),
               "--out", str(out), *common, *args]
        if out.exists():
            cmd.append("--resume")
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text())


def row(name: str, m: dict) -> dict:
    return {
        "variant": name,
        "agreement": [round(layer["agreement"], 4) for layer in m["layers"]],
        "local_agreement": [round(layer["local_agreement"], 4) for layer in m["layers"]],
        "test_before_finetune": m["test_accuracy_before_finetune"],
        "test": m["test_accuracy"],
        "teacher_test": m["teacher_test_accuracy"],
        "luts": m["luts"],
        "seconds": m["seconds"],
        "peak_memory_mb": m["peak_memory_mb"],
        "finetune_epochs": m["finetune_epochs"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path, help="folder for the student runs")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), help="names to run")
    ap.add_argument("--common", default="--memory-budget 512 --finetune-epochs 0",
                    help="arguments every variant gets")
    ap.add_argument("--tag", default="distill_ablation", help="results file name")
    args = ap.parse_args()
    rows = []
    for name in args.variants:
        folder = args.out / name.replace(" ", "_").replace(",", "").replace("+", "p")
        m = run_variant(args.teacher, folder, VARIANTS[name], args.common.split())
        rows.append(row(name, m))
        r = rows[-1]
        print(f"{name:40s} agree {' '.join(f'{a:.4f}' for a in r['agreement'])}  "
              f"test {r['test_before_finetune']:.4f} -> {r['test']:.4f}  "
              f"{r['luts']} LUTs  {r['seconds']:.0f} s  {r['peak_memory_mb']:.0f} MB", flush=True)
    result = {"teacher": str(args.teacher), "common": args.common, "rows": rows}
    path = REPO / "benchmarks" / "results" / f"{args.tag}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
