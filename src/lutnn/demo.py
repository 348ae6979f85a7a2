"""``lutnn demo``: the main job end to end on MNIST.

train teacher -> distill into a LUT-Net -> train a LUT-Net end to end with the best recipe
(a preset: learned wiring, EFD gradients) -> export all three (the teacher as an XNOR-Net) ->
RTL simulation of each against the IR simulator -> Yosys synthesis of each -> report.

Every stage skips work whose output already exists (and resumes a half-trained run from its
checkpoint), so an interrupted demo picks up where it stopped.  Layout of ``--out DIR``::

    DIR/teacher/   run folder of the teacher (XNOR-Net)     metrics, hdl/, sim.json, synth.json
    DIR/lutnet/    run folder of the distilled LUT-Net      same
    DIR/lutnet-e2e/  run folder of the LUT-Net trained end to end (``lutnn train --preset``)
    DIR/summary.json, DIR/report.md, DIR/*.png
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lutnn import io


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of one demo run (the default takes ~25 minutes on 2 quiet cores, ~11 of them
    training the large preset; quick in ~3)."""

    teacher: dict = field(default_factory=lambda: {  # teacher-mlp config fields
        "encoder": "threshold", "hidden": [64], "group_size": 10, "tau": 1.0})
    teacher_epochs: int = 5  # teacher training epochs
    distill: dict = field(default_factory=lambda: {"finetune_epochs": 2})  # distill options
    e2e_preset: str = "large"  # preset of the LUT-Net trained end to end (lutnn.presets)
    e2e_epochs: int | None = None  # its epochs (None: the preset's)
    rtl_vectors: int = 10000  # test images run through the RTL simulation of each net
    synth: bool = True  # run Yosys synthesis
    scaling_sizes: tuple[int, ...] = (32, 64, 128, 256)  # widths of the XNOR vs LUT6 sweep


QUICK = DemoConfig(
    teacher={"encoder": "threshold", "hidden": [16], "group_size": 5, "tau": 1.0},
    teacher_epochs=1,
    distill={"finetune_epochs": 0, "samples": 10000},
    e2e_preset="small",
    e2e_epochs=1,
    rtl_vectors=1000,
    scaling_sizes=(16, 32),
)


def _stage(name: str, done: bool, work: Callable[[], str], log: Callable[[str], None]) -> None:
    if done:
        log(f"[{name}] already done, skipped")
        return
    t0 = time.perf_counter()
    summary = work()
    log(f"[{name}] {summary} ({time.perf_counter() - t0:.0f} s)")


def run_demo(out: str | Path, *, quick: bool = False, data: str | None = None,
             log: Callable[[str], None] = print) -> dict:
    """Run the demo into ``out``; returns the report summary."""
    from lutnn.distill import DistillConfig, distill
    from lutnn.pipeline import export_run, simulate_run, synth_run
    from lutnn.presets import get_preset
    from lutnn.report import write_report
    from lutnn.train import TrainConfig, train

    cfg = QUICK if quick else DemoConfig()
    out = Path(out)
    teacher, student, e2e = out / "teacher", out / "lutnet", out / "lutnet-e2e"

    def train_teacher() -> str:
        m = train("teacher-mlp", teacher, model_overrides=cfg.teacher,
                  train_cfg=TrainConfig(epochs=cfg.teacher_epochs), data=data,
                  resume=(teacher / "checkpoint.pt").exists(), log=lambda _: None)
        return f"teacher-mlp test accuracy {m['test_accuracy']:.4f}"

    def distill_student() -> str:
        m = distill(teacher, student, DistillConfig(**cfg.distill), data=data,
                    resume=(student / "run.json").exists(), log=lambda _: None)
        return (f"LUT-Net test accuracy {m['test_accuracy']:.4f} with {m['luts']} LUT nodes "
                f"(teacher {m['teacher_test_accuracy']:.4f})")

    def train_e2e() -> str:
        preset = get_preset(cfg.e2e_preset)
        settings = dict(preset.train, **({"epochs": cfg.e2e_epochs} if cfg.e2e_epochs else {}))
        m = train(preset.model, e2e, model_overrides=preset.config,
                  train_cfg=TrainConfig(**settings), data=data,
                  resume=(e2e / "checkpoint.pt").exists(), log=lambda _: None)
        return (f"LUT-Net (preset {cfg.e2e_preset}) test accuracy {m['test_accuracy']:.4f} "
                f"with {m['luts']} LUT nodes, {m['seconds']:.0f} s of training")

    _stage("train teacher", (teacher / "metrics.json").is_file(), train_teacher, log)
    _stage("distill", (student / "metrics.json").is_file(), distill_student, log)
    _stage(f"train LUT-Net ({cfg.e2e_preset})", (e2e / "metrics.json").is_file(), train_e2e, log)
    for run in (teacher, student, e2e):
        name = run.name

        def export(run=run) -> str:
            info = export_run(run)
            return f"{info['verilog']} (latency {info['latency']} cycles)"

        def simulate(run=run) -> str:
            r = simulate_run(run, rtl=True, vectors=cfg.rtl_vectors)
            return (f"{r['vectors']} vectors: RTL accuracy {r['rtl_accuracy']:.4f}, "
                    f"{r['mismatches']} mismatches")

        def synthesize(run=run) -> str:
            r = synth_run(run)
            return f"{r['luts']} LUTs, {r['ffs']} FFs, {r['levels']} levels"

        _stage(f"export {name}", (run / "hdl" / "export.json").is_file(), export, log)
        _stage(f"RTL sim {name}", (run / "sim.json").is_file(), simulate, log)
        if cfg.synth:
            _stage(f"synth {name}", (run / "synth.json").is_file(), synthesize, log)
    def scaling() -> str:
        from lutnn.hdl.scaling import run_series

        series = {kind: run_series(kind, list(cfg.scaling_sizes), out / "scaling",
                                   log=lambda _: None) for kind in ("xnor", "lut6")}
        io.write_json(out / "scaling.json", {"series": series})
        fits = ", ".join(f"{k} ~ N^{s['fit']['exponent']:.2f}" for k, s in series.items()
                         if s["fit"])
        return f"LUTs vs width: {fits}"

    if cfg.synth:
        _stage("scaling", (out / "scaling.json").is_file(), scaling, log)
    summary = write_report(out)
    log(f"[report] {out / 'report.md'}")
    io.write_json(out / "demo.json", {"quick": quick})
    return summary
