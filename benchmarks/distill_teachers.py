"""Which teacher is easiest to imitate: dense MLP vs full-conv CNN vs MobileNet-like.

The seed (point 7) found that the fewer connections a teacher's DenseAffine has, the easier
it is to imitate, and guessed that a depthwise + pointwise (MobileNet-like) teacher would
therefore distill well.  This distills several teacher runs with the same settings (closed-form
fit, no fine-tuning, so the numbers measure imitation alone) and lists, per teacher block, its
fan-in, the student's stages, LUTs, and bit agreement with the teacher on validation data: end
to end (student prefix vs teacher prefix) and *local* (the block alone, teacher fed the
student's own inputs).

    OMP_NUM_THREADS=1 LUTNN_DATA=../shared/data/mnist .venv/bin/python \\
        benchmarks/distill_teachers.py --teachers runs/distill/t256r10 runs/distill/tcnn \\
        runs/distill/tmb --out runs/distill/teachers

Results: benchmarks/results/distill_teachers.json.
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
    ap.add_argument("--teachers", required=True, type=Path, nargs="+")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--args", default="--memory-budget 1024 --finetune-epochs 0",
                    help="distill arguments shared by all teachers")
    args = ap.parse_args()
    results = []
    for teacher in args.teachers:
        out = args.out / teacher.name
        if not (out / "metrics.json").exists():
            cmd = [sys.executable, "-m", "lutnn.cli", "distill", "--teacher", str(teacher),
                   "--out", str(out), *args.args.split()]
            subprocess.run(cmd + (["--resume"] if out.exists() else []), check=True,
                           stderr=subprocess.DEVNULL)
        m = json.loads((out / "metrics.json").read_text())
        results.append({
            "teacher": str(teacher), "teacher_model": m["teacher_model"],
            "teacher_test_accuracy": m["teacher_test_accuracy"],
            "test_accuracy": m["test_accuracy"], "luts": m["luts"], "seconds": m["seconds"],
            "peak_memory_mb": m["peak_memory_mb"],
            "layers": [{k: layer[k] for k in ("name", "fan_in", "groups", "widths", "luts",
                                             "agreement", "local_agreement")}
                       for layer in m["layers"]],
        })
        r = results[-1]
        print(f"\n{teacher} ({r['teacher_model']}): teacher {r['teacher_test_accuracy']:.4f}, "
              f"student {r['test_accuracy']:.4f}, {r['luts']} LUTs, {r['seconds']:.0f} s, "
              f"peak {r['peak_memory_mb']:.0f} MB")
        print(f"  {'block':18s} {'fan-in':>7s} {'stages':>8s} {'LUTs':>8s} {'agree':>7s} "
              f"{'local':>7s}")
        for layer in r["layers"]:
            print(f"  {layer['name']:18s} {layer['fan_in']:7d} {str(layer['widths']):>8s} "
                  f"{layer['luts']:8d} {layer['agreement']:7.4f} {layer['local_agreement']:7.4f}")
    path = REPO / "benchmarks" / "results" / "distill_teachers.json"
    path.write_text(json.dumps({"args": args.args, "teachers": results}, indent=2) + "\n")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
