"""Distillation vs direct end-to-end training of the same LUT student.

Three ways to get the same student architecture (the teacher's neurons as trees of LUTs):

* ``distill``: ``lutnn distill`` (block by block within ``--budget`` MB, then ``--finetune``
  epochs end to end);
* ``e2e``: ``lutnn train --model lut-student`` (random first-stage wiring inside each neuron's
  inputs, tables trained from scratch on the task loss, ``--e2e-epochs``);
* ``e2e-wired``: end-to-end training from scratch, but with the distilled student's wiring
  (weight order), to separate what the wiring gives from what the fitted tables give;
* ``lut-mlp``: not the same student but the usual end-to-end LUT-Net (``lutnn train --model
  lut-mlp``: two random-wired LUT layers) with the student's LUT count and output bits.

Each runs in a fresh process; accuracy, wall time and peak resident memory (getrusage) are
measured the same way.

    OMP_NUM_THREADS=1 LUTNN_DATA=../shared/data/mnist .venv/bin/python \\
        benchmarks/distill_vs_e2e.py --teacher runs/distill/t256r10 --out runs/distill/vs

Results: benchmarks/results/distill_vs_e2e.json (``--json``). A distilled run already in
``OUT/distill`` (its ``metrics.json``) is read, not redone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _child(args: argparse.Namespace) -> None:
    """Runs inside the fresh process: one end-to-end training, prints a JSON line."""
    import torch

    from lutnn import io
    from lutnn.distill.memory import peak_rss_mb
    from lutnn.train import TrainConfig, load_run, train

    teacher_record = io.read_json(args.teacher / "run.json")
    cfg = TrainConfig(epochs=args.e2e_epochs, lr=args.lr, batch_size=args.batch_size,
                      val_size=teacher_record["train"]["val_size"],
                      seed=teacher_record["train"]["seed"])
    overrides = {"teacher": teacher_record["model"], "teacher_config": teacher_record["config"],
                 "k": args.k, "tree": args.tree}
    extra = None
    if args.mode == "e2e-wired":
        # the distilled student's wiring, fresh tables: patch the builder for this process
        import lutnn.models as models

        wired, _ = load_run(args.wired_from)
        build = models.MODELS["lut-student"].build

        def build_wired(*a, **k):
            model = build(*a, **k)
            with torch.no_grad():
                for name, buf in model.named_buffers():
                    if name.endswith("inputs"):
                        buf.copy_(dict(wired.named_buffers())[name])
            return model

        models.MODELS["lut-student"] = models.ModelSpec(
            models.StudentConfig, build_wired, "lut-student with distilled wiring")
        extra = None
    model = "lut-student"
    if args.mode == "lut-mlp":
        # a plain two-layer LUT-Net (random wiring) with the student's LUT count and output bits
        tc = teacher_record["config"]
        out_bits = tc["group_size"] * teacher_record["num_classes"]
        luts = io.read_json(args.wired_from / "metrics.json")["luts"]
        model = "lut-mlp"
        overrides = {"encoder": tc["encoder"], "levels": tc["levels"], "k": args.k,
                     "layers": [luts - out_bits, out_bits],
                     "tau": tc["group_size"] / 30}  # docs/results_lut.md: bits per class / 30
    t0 = time.perf_counter()
    metrics = train(model, args.run, model_overrides=overrides, train_cfg=cfg,
                    extra_metrics=extra, log=lambda _: None)
    print(json.dumps({"test_accuracy": metrics["test_accuracy"], "luts": metrics["luts"],
                      "seconds": time.perf_counter() - t0,
                      "peak_memory_mb": peak_rss_mb()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--budget", type=int, default=512, help="distillation memory budget (MB)")
    ap.add_argument("--finetune", type=int, default=3, help="fine-tuning epochs after distill")
    ap.add_argument("--distill-args", default="--wiring weight_order_std")
    ap.add_argument("--e2e-epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=1e-2, help="end-to-end learning rate")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--tree", type=int, nargs="*", default=[6])
    ap.add_argument("--modes", nargs="*", default=["distill", "e2e", "e2e-wired", "lut-mlp"])
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--wired-from", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path,
                    default=REPO / "benchmarks" / "results" / "distill_vs_e2e.json",
                    help="results file (rows of the modes run are replaced)")
    args = ap.parse_args()
    if args.mode:
        _child(args)
        return

    path = args.json
    old = json.loads(path.read_text())["rows"] if path.exists() else []
    rows = [r for r in old if r["mode"] not in args.modes]
    distilled = args.out / "distill"
    for mode in args.modes:
        if mode == "distill":
            if not (distilled / "metrics.json").exists():
                subprocess.run(
                    [sys.executable, "-m", "lutnn.cli", "distill", "--teacher", str(args.teacher),
                     "--out", str(distilled), "--memory-budget", str(args.budget),
                     "--finetune-epochs", str(args.finetune), "--k", str(args.k),
                     "--tree", *map(str, args.tree), *args.distill_args.split()]
                    + (["--resume"] if distilled.exists() else []),
                    check=True, stderr=subprocess.DEVNULL)
            m = json.loads((distilled / "metrics.json").read_text())
            row = {"mode": mode, "test_accuracy": m["test_accuracy"],
                   "test_before_finetune": m["test_accuracy_before_finetune"],
                   "teacher_test_accuracy": m["teacher_test_accuracy"], "luts": m["luts"],
                   "seconds": m["seconds"], "peak_memory_mb": m["peak_memory_mb"],
                   "epochs": f"distill + {m['finetune_epochs']} fine-tune",
                   "budget_mb": json.loads((distilled / "run.json").read_text())["distill"][
                       "memory_budget_mb"]}  # the run's own (it may predate this script)
        else:
            run = args.out / mode
            cmd = [sys.executable, __file__, "--mode", mode, "--run", str(run), "--teacher",
                   str(args.teacher), "--e2e-epochs", str(args.e2e_epochs), "--lr",
                   str(args.lr), "--batch-size", str(args.batch_size), "--k", str(args.k),
                   "--tree", *map(str, args.tree), "--out", str(args.out),
                   "--wired-from", str(distilled)]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            row = {"mode": mode, **json.loads(done.stdout.strip().splitlines()[-1]),
                   "epochs": f"{args.e2e_epochs} end to end (lr {args.lr})"}
        rows.append(row)
        print(f"{mode:10s} test {row['test_accuracy']:.4f}  {row['luts']} LUTs  "
              f"{row['seconds']:.0f} s  peak {row['peak_memory_mb']:.0f} MB  ({row['epochs']})",
              flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"teacher": str(args.teacher), "rows": rows}, indent=2) + "\n")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
