"""``lutnn demo``: the main job end to end on MNIST, the seed's story.

train a MobileNet-like binarized teacher (a preset) -> distill it into a LUT-Net (the
preset's distillation defaults) -> train an MLP LUT-Net end to end (the reference row) ->
export the teacher (as an XNOR-Net) and the student as one-pixel-per-clock streams -> stream
test images through the RTL of each, with stalls, against the IR simulator and PyTorch ->
Yosys synthesis of each (and ECP5 place and route for Fmax) -> report.

Every stage skips work whose output already exists (and resumes a half-trained run from its
checkpoint), so an interrupted demo picks up where it stopped.  Layout of ``--out DIR``::

    DIR/teacher/     run folder of the teacher (XNOR-Net)        metrics, hdl/, sim/synth JSON
    DIR/lutnet/      run folder of the distilled LUT-Net          same
    DIR/lutnet-e2e/  run folder of the MLP LUT-Net trained end to end (``lutnn train --preset``)
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
    """Sizes of one demo run (the default takes ~20-30 minutes on 2 quiet cores; quick a few)."""

    teacher_preset: str = "mobilenet-small"  # the MobileNet-like teacher's preset
    teacher_epochs: int | None = None  # its epochs (None: the preset's)
    teacher_config: dict = field(default_factory=dict)  # config fields over the preset's
    distill: dict = field(default_factory=dict)  # DistillConfig fields over the preset's
    e2e_preset: str = "medium"  # preset of the MLP LUT-Net trained end to end
    e2e_epochs: int | None = None  # its epochs (None: the preset's)
    student_vectors: int = 1000  # test images streamed through the student's RTL
    teacher_vectors: int = 200  # ... and through the teacher's (a larger design)
    e2e_vectors: int = 1000  # test images through the MLP LUT-Net's RTL
    synth: bool = True  # Yosys synth_xilinx of every design
    ecp5: bool = True  # ECP5 place and route of the student's stream (Fmax, images/s)
    scaling_sizes: tuple[int, ...] = ()  # widths of the XNOR vs LUT6 sweep (): skipped


QUICK = DemoConfig(
    # every neuron reads 36 inputs: the XNOR teacher's dense head is 100 x 36 connections
    # (not 100 x 784), so its stream builds and synthesizes in seconds
    teacher_config={"stem_channels": 8, "channels": [16], "depth_multiplier": 1,
                    "max_fan_in": 36},
    teacher_epochs=1,
    distill={"finetune_epochs": 0, "samples": 5000},
    e2e_preset="small",
    e2e_epochs=1,
    student_vectors=200,
    teacher_vectors=100,
    e2e_vectors=200,
    ecp5=False,
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
    from lutnn.presets import distill_defaults, get_preset
    from lutnn.report import write_report
    from lutnn.train import TrainConfig, train

    cfg = QUICK if quick else DemoConfig()
    out = Path(out)
    teacher, student, e2e = out / "teacher", out / "lutnet", out / "lutnet-e2e"

    def train_preset(name: str, run: Path, epochs: int | None, config: dict) -> dict:
        preset = get_preset(name)
        settings = dict(preset.train, **({"epochs": epochs} if epochs else {}))
        return train(preset.model, run, model_overrides={**preset.config, **config},
                     train_cfg=TrainConfig(**settings), data=data,
                     resume=(run / "checkpoint.pt").exists(), log=lambda _: None)

    def train_teacher() -> str:
        m = train_preset(cfg.teacher_preset, teacher, cfg.teacher_epochs, cfg.teacher_config)
        return (f"{cfg.teacher_preset} teacher test accuracy {m['test_accuracy']:.4f}, "
                f"{m['seconds'] / m['epochs']:.0f} s per epoch")

    def distill_student() -> str:
        record = io.read_json(teacher / "run.json", "run record")
        settings = {**get_preset(cfg.teacher_preset).distill, **distill_defaults(record),
                    **cfg.distill}
        m = distill(teacher, student, DistillConfig(**settings), data=data,
                    resume=(student / "run.json").exists(), log=lambda _: None)
        return (f"LUT-Net test accuracy {m['test_accuracy']:.4f} with {m['luts']} LUT nodes "
                f"(teacher {m['teacher_test_accuracy']:.4f})")

    def train_e2e() -> str:
        m = train_preset(cfg.e2e_preset, e2e, cfg.e2e_epochs, {})
        return (f"LUT-Net (preset {cfg.e2e_preset}) test accuracy {m['test_accuracy']:.4f} "
                f"with {m['luts']} LUT nodes, {m['seconds']:.0f} s of training")

    _stage("train teacher", (teacher / "metrics.json").is_file(), train_teacher, log)
    _stage("distill", (student / "metrics.json").is_file(), distill_student, log)
    _stage(f"train LUT-Net ({cfg.e2e_preset})", (e2e / "metrics.json").is_file(), train_e2e, log)
    # the CNNs as streams (their tables shared across pixels), the MLP unrolled; the streams'
    # dense tails pipelined "balanced" (the head's popcounts and argmax cut into stages: ECP5
    # Fmax 76 -> 129 MHz on the demo's student, docs/results_distill.md)
    for run, conv, vectors, ecp5 in ((student, "stream", cfg.student_vectors, cfg.ecp5),
                                     (teacher, "stream", cfg.teacher_vectors, False),
                                     (e2e, "unrolled", cfg.e2e_vectors, False)):
        pipeline = "balanced" if conv == "stream" else "layer"
        _hardware(run, conv, pipeline, vectors, cfg.synth, ecp5, log,
                  export_run, simulate_run, synth_run)
    if cfg.synth and cfg.scaling_sizes:
        _stage("scaling", (out / "scaling.json").is_file(),
               lambda: _scaling(out, cfg.scaling_sizes), log)
    summary = write_report(out)
    log(f"[report] {out / 'report.md'}")
    io.write_json(out / "demo.json", {"quick": quick})
    return summary


def _hardware(run: Path, conv: str, pipeline: str, vectors: int, synth: bool, ecp5: bool,
              log: Callable[[str], None], export_run, simulate_run, synth_run) -> None:
    """Export ``run`` as ``conv`` Verilog pipelined by ``pipeline``, stream/run ``vectors``
    test images through its RTL (random stalls on both sides for a stream), synthesize it;
    each step skipped when done."""
    from lutnn.runfolder import result_file

    name, suffix = run.name, f" ({conv})"

    def export() -> str:
        info = export_run(run, conv=conv, pipeline=pipeline)
        return f"{info['verilog']} (latency {info['latency']} cycles)"

    def simulate() -> str:
        r = simulate_run(run, rtl=True, vectors=vectors)
        return (f"{r['vectors']} test images: RTL accuracy {r['rtl_accuracy']:.4f}, "
                f"{r['mismatches']} mismatches (RTL, simulator, PyTorch)")

    def synthesize(target: str = "xilinx") -> str:
        r = synth_run(run, target=target)
        if target == "ecp5":
            return f"ECP5 {r['luts']} LUT4s, Fmax {r.get('fmax_mhz', 0):.0f} MHz"
        return f"{r['luts']} LUTs, {r['ffs']} FFs, {r['levels']} levels"

    def done(path: Path) -> bool:
        """A result file of this export's pipeline (one of an earlier export is redone)."""
        return path.is_file() and io.read_json(path, "result").get("pipeline") == pipeline

    exported = io.read_json(run / "hdl" / "export.json", "export record") if (
        run / "hdl" / "export.json").is_file() else {}
    same_form = (exported.get("conv", "unrolled"), exported.get("pipeline")) == (conv, pipeline)
    _stage(f"export {name}{suffix}", same_form, export, log)
    _stage(f"RTL sim {name}{suffix}", done(run / result_file("sim", conv)), simulate, log)
    if synth:
        _stage(f"synth {name}{suffix}", done(run / result_file("synth", conv)), synthesize, log)
    if ecp5:
        _stage(f"ECP5 {name}{suffix}", done(run / result_file("synth", conv, "ecp5")),
               lambda: synthesize("ecp5"), log)


def _scaling(out: Path, sizes: tuple[int, ...]) -> str:
    from lutnn.hdl.scaling import run_series

    series = {kind: run_series(kind, list(sizes), out / "scaling", log=lambda _: None)
              for kind in ("xnor", "lut6")}
    io.write_json(out / "scaling.json", {"series": series})
    fits = ", ".join(f"{k} ~ N^{s['fit']['exponent']:.2f}" for k, s in series.items()
                     if s["fit"])
    return f"LUTs vs width: {fits}"
