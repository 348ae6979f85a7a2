"""Distilled streaming LUT-CNNs: a MobileNet-like teacher preset -> ``lutnn distill`` ->
``lutnn export --conv stream`` -> RTL == simulator == PyTorch on test images streamed with
stalls -> Yosys ``synth_xilinx`` (whole streamed design) -> ECP5 post-route Fmax.

Each step skips what its run folder already holds (so a stopped run continues); the table is
printed, appended to ``benchmarks/results/cnn_distill.json`` and plotted (accuracy vs LUTs,
with the peers' published MNIST points) into ``benchmarks/results/cnn_distill.png``::

    python benchmarks/cnn_distill.py --preset mobilenet-large --out runs/cnn/large
    python benchmarks/cnn_distill.py --preset mobilenet-small --out runs/cnn/small --teacher-rtl

The commands each step runs, for the README: ``lutnn train --preset P --out T``,
``lutnn distill --teacher T --out S``, ``lutnn export S --conv stream --pipeline balanced``,
``lutnn sim S --rtl --vectors N``, ``lutnn synth S``, ``lutnn synth S --target ecp5``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def _row(run: Path, conv: str, label: str) -> dict:
    from lutnn.report import images_per_second, network_entry

    e = network_entry(run, conv=conv)
    keep = ("test_accuracy", "rtl_vectors", "mismatches", "luts", "ffs", "line_buffer_bits",
            "cycles_per_image", "latency", "fmax_mhz", "ecp5_luts", "lut_nodes")
    row = {"network": label, "run": str(run), "conv": conv, **{k: e.get(k) for k in keep}}
    row["images_per_s"] = images_per_second(e)
    metrics = json.loads((run / "metrics.json").read_text())
    row["train_seconds"] = metrics.get("seconds")
    row["epochs"] = metrics.get("epochs")
    return row


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lutnn.report import published_anchors

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for a in published_anchors():
        ax.scatter(a["luts"], 100 * a["accuracy"], marker="x", color="grey")
        ax.annotate(a["system"], (a["luts"], 100 * a["accuracy"]), fontsize=7, color="grey")
    for r in rows:
        if r.get("luts"):
            ax.scatter(r["luts"], 100 * r["test_accuracy"], s=40)
            ax.annotate(r["network"], (r["luts"], 100 * r["test_accuracy"]), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("LUTs (lutnn: Yosys synth_xilinx, whole design; peers: as published)")
    ax.set_ylabel("MNIST test accuracy (%)")
    ax.set_ylim(88, 100)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    from lutnn import io
    from lutnn.demo import _hardware, _stage
    from lutnn.distill import DistillConfig, distill
    from lutnn.pipeline import export_run, simulate_run, synth_run
    from lutnn.presets import get_preset
    from lutnn.train import TrainConfig, train

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="mobilenet-small")
    ap.add_argument("--out", required=True, help="folder for the teacher/ and student/ runs")
    ap.add_argument("--vectors", type=int, default=1000, help="test images through the "
                    "student's stream")
    ap.add_argument("--teacher-rtl", action="store_true", help="also stream the teacher as "
                    "an XNOR-Net (binary-weight presets)")
    ap.add_argument("--teacher-vectors", type=int, default=200)
    ap.add_argument("--epochs", type=int, help="teacher epochs (default: the preset's)")
    ap.add_argument("--finetune-epochs", type=int, help="student fine-tuning epochs "
                    "(default: the preset's)")
    ap.add_argument("--config", type=Path, help="JSON file of teacher config fields that "
                    "override the preset's (e.g. {\"prune_epochs\": 5})")
    ap.add_argument("--name", help="the result's name in the JSON and table (default: the "
                    "preset's, with +config)")
    ap.add_argument("--pipeline", default="balanced", help="export registers (as `lutnn "
                    "export --pipeline`; the demo's: balanced)")
    ap.add_argument("--no-ecp5", action="store_true")
    ap.add_argument("--json", default=str(RESULTS / "cnn_distill.json"))
    args = ap.parse_args()
    out, preset = Path(args.out), get_preset(args.preset)
    overrides = io.read_json(args.config) if args.config else {}
    name = args.name or args.preset + ("+" + args.config.stem if args.config else "")
    teacher, student = out / "teacher", out / "student"
    train_settings = {**preset.train, **({"epochs": args.epochs} if args.epochs else {})}
    distill_settings = {**preset.distill, **({"finetune_epochs": args.finetune_epochs}
                                             if args.finetune_epochs is not None else {})}
    log = print

    def train_teacher() -> str:
        m = train(preset.model, teacher, model_overrides={**preset.config, **overrides},
                  train_cfg=TrainConfig(**train_settings),
                  resume=(teacher / "checkpoint.pt").exists(), log=lambda _: None)
        return f"teacher {m['test_accuracy']:.4f}, {m['seconds'] / m['epochs']:.0f} s/epoch"

    def distill_student() -> str:
        m = distill(teacher, student, DistillConfig(**distill_settings),
                    resume=(student / "run.json").exists(), log=log)
        return f"student {m['test_accuracy']:.4f} ({m['seconds']:.0f} s)"

    t0 = time.time()
    _stage("train teacher", (teacher / "metrics.json").is_file(), train_teacher, log)
    _stage("distill", (student / "metrics.json").is_file(), distill_student, log)
    _hardware(student, "stream", args.pipeline, args.vectors, True, not args.no_ecp5, log,
              export_run, simulate_run, synth_run)
    rows = [_row(teacher, "stream", f"{name} teacher") if args.teacher_rtl else None,
            _row(student, "stream", f"{name} student")]
    if args.teacher_rtl:
        _hardware(teacher, "stream", args.pipeline, args.teacher_vectors, True, False, log,
                  export_run, simulate_run, synth_run)
        rows[0] = _row(teacher, "stream", f"{name} teacher (XNOR)")
    rows = [r for r in rows if r]
    tm = json.loads((teacher / "metrics.json").read_text())
    sm = json.loads((student / "metrics.json").read_text())
    result = {"preset": name, "teacher_config": overrides, "teacher_epochs": tm["epochs"],
              "finetune_epochs": sm.get("finetune_epochs"),
              "teacher_test_accuracy": tm["test_accuracy"],
              "teacher_seconds_per_epoch": round(tm["seconds"] / tm["epochs"], 1),
              "student_test_accuracy": sm["test_accuracy"],
              "student_before_finetune": sm.get("test_accuracy_before_finetune"),
              "distill_seconds": sm.get("seconds"), "peak_memory_mb": sm.get("peak_memory_mb"),
              "rows": rows, "wall_seconds": round(time.time() - t0)}
    path = Path(args.json)
    previous = json.loads(path.read_text()) if path.exists() else []
    io.write_json(path, [p for p in previous if p.get("preset") != name] + [result])
    _plot([r for p in json.loads(path.read_text()) for r in p["rows"]],
          path.with_suffix(".png"))
    print("| network | test | LUTs | FFs | line-buffer bits | clocks/image | Fmax MHz "
          "| images/s | RTL == sim (vectors) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ips = f"{r['images_per_s']:,.0f}" if r["images_per_s"] else "-"
        print(f"| {r['network']} | {100 * r['test_accuracy']:.2f}% | {r['luts']} | {r['ffs']} "
              f"| {r['line_buffer_bits']} | {r['cycles_per_image']} | {r['fmax_mhz']} | {ips} "
              f"| {r['mismatches'] == 0} ({r['rtl_vectors']}) |")


if __name__ == "__main__":
    main()
