"""Distillation: copy a trained binary teacher into a LUT-Net, one block at a time.

The seed's plan (docs: /work/shared/seed/SUMMARY.md, points 2, 6, 7): train a network that is
easy to train, then copy it into a LUT-Network *little by little, within what fits in memory*.

:func:`distill` walks the teacher's ``nn.Sequential`` from the input.  For every block (a
``BinaryLinear``, or a lowered convolution around one) it builds the student's tree of LUT
stages (:mod:`lutnn.student`) and fits it (:mod:`lutnn.distill.blocks`):

* inputs: the bits the already-distilled *student* prefix produces (so each block learns to
  correct the drift of the blocks before it);
* targets: the *teacher's* own bits (or pre-activation) at that block.

Between blocks only two packed bit caches per split live on disk (the student's and the
teacher's activations, :mod:`lutnn.distill.rows`, :mod:`lutnn.distill.cache`); a pass reads
them in chunks sized to the memory budget (:mod:`lutnn.distill.memory`).  After every teacher
module the student so far and the run's progress (:class:`DistillState`, with the teacher's
fingerprint) are checkpointed atomically in ``checkpoint.pt``, so ``resume=True`` continues
where a killed run stopped and ends with the same student as an uninterrupted run with the
same seed.  Optional end-to-end fine-tuning on the task loss follows (all tables, or only the
last block's): :func:`lutnn.train.fit`, the loop of ``lutnn train``, with model selection on
the validation split and its own checkpoint ``finetune.pt``.

Under torchrun (``lutnn distill --nproc N``) every rank walks the same blocks: the ranks split
each block's fit and gather the tables (:mod:`lutnn.distill.blocks`; the student equals the
one-process student bit for bit), rank 0 writes the caches, checkpoints and results and
tells the others the cache names, and the fine-tuning is :func:`lutnn.train.fit`'s
data-parallel loop.

The run folder is a normal run folder (``run.json`` for model ``lut-student``, ``model.pt``,
``metrics.json``), loadable by :func:`lutnn.train.load_run`, plus ``distill.png``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lutnn import distributed, io
from lutnn.data.datasets import data_source, record_data_name, recorded_test_data
from lutnn.distill.blocks import distill_block, stage_luts
from lutnn.distill.config import DistillConfig
from lutnn.distill.memory import (
    budget_rows,
    bytes_per_sample,
    current_rss_mb,
    forward_rows,
    peak_rss_mb,
)
from lutnn.distill.rows import BlockRows, sample_positions, sources_at, write_caches
from lutnn.errors import LutnnError
from lutnn.models import StudentConfig, config_to_dict, count_lut_nodes
from lutnn.nn.binary import GroupSum
from lutnn.nn.lut import LUTLayer
from lutnn.runfolder import guarded, model_fingerprint, same_weights
from lutnn.student import BlockPlan, build_student, plan_student
from lutnn.train import (
    RUN_FILES,
    FitConfig,
    FitResult,
    accuracy,
    check_new_run,
    check_resume,
    cross_entropy,
    fit,
    load_run,
    teacher_loss,
)
from lutnn.training.record import check_identity, run_identity

__all__ = ["DistillState", "distill"]

#: the fine-tuning checkpoint in the student's run folder (written by :func:`lutnn.train.fit`)
FINETUNE_CHECKPOINT = "finetune.pt"


@dataclass(frozen=True)
class DistillState:
    """Progress of a distillation run, saved with the student in ``checkpoint.pt``."""

    teacher_sha256: str  # content sha256 of the teacher's weights when the run started
    position: int = 0  # teacher modules done; the caches hold what enters module `position`
    caches: dict[str, str] | None = None  # cache file of each "{split}_{net}" (None: pixels)
    layers: tuple[dict, ...] = ()  # one record per distilled block (metrics.json "layers")
    seconds: float = 0.0  # wall time of the run so far, over all sessions
    peak_memory_mb: float = 0.0  # peak resident memory so far, over all sessions (MiB)
    before: dict[str, float] | None = None  # "val"/"test" accuracy once all blocks are done
    # the run's identity (lutnn.training.record.run_identity; None: an older checkpoint)
    identity: dict | None = None

    def save(self, path: Path, student: nn.Module) -> None:
        """Write the student and this state to ``path`` atomically."""
        io.save_checkpoint(path, {"student": student.state_dict(),
                                  "state": dataclasses.asdict(self)})

    @classmethod
    def load(cls, path: Path, student: nn.Module) -> DistillState:
        """Load ``path`` into ``student``; returns the saved state.

        Raises:
            LutnnError: a corrupt checkpoint, or one of another student or lutnn version.
        """
        ckpt = io.load_checkpoint(path)
        try:
            student.load_state_dict(ckpt["student"])
            state = cls(**ckpt["state"])
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise LutnnError(
                f"checkpoint {path} does not match this distillation ({type(exc).__name__}); "
                "delete the run folder or start without --resume"
            ) from None
        return dataclasses.replace(state, layers=tuple(state.layers))


def _teacher_record(teacher_dir: Path) -> tuple[nn.Sequential, dict]:
    teacher, record = load_run(teacher_dir)
    if not isinstance(teacher, nn.Sequential):
        raise LutnnError(f"teacher {teacher_dir} is not an nn.Sequential model")
    return teacher.eval(), record


def _io_shapes(model: nn.Sequential, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Input shape (without batch) of every module, and the final output shape."""
    shapes = [tuple(input_shape)]
    x = torch.zeros(1, *input_shape)
    with torch.no_grad():
        for module in model:
            x = module(x)
            shapes.append(tuple(x.shape[1:]))
    return shapes


def _student_positions(teacher: nn.Sequential, plans: list[BlockPlan]) -> list[list[int]]:
    """Student module indices of every teacher module."""
    by_teacher = {p.teacher_index: list(p.student_indices) for p in plans}
    out, pos = [], 0
    for i in range(len(teacher)):
        out.append(by_teacher.get(i, [pos]))
        pos = out[-1][-1] + 1
    return out


class _Run:
    """What one distillation run works on: teacher, data, student, shapes, run record."""

    def __init__(self, teacher_dir: Path, out: Path, cfg: DistillConfig, data: str | None,
                 log: Callable[[str], None]):
        from lutnn.data import load_dataset

        self.t_start = time.perf_counter()
        self.out, self.cfg, self.log = out, cfg, log
        self.start_rss = current_rss_mb()
        self.teacher, self.teacher_record = _teacher_record(teacher_dir)
        self.teacher_sha256 = model_fingerprint(teacher_dir)  # of the weights, not the file
        self.plans = plan_student(self.teacher, cfg.k, cfg.tree)
        train_rec = self.teacher_record.get("train", {})
        source = data if data is not None else record_data_name(
            self.teacher_record, f"teacher {teacher_dir}/run.json")
        self.data_name = source or "mnist"
        # the teacher's own test file (--test-data) when distilling on the teacher's data
        self.test_data = recorded_test_data(self.teacher_record) if data is None else None
        ds = load_dataset(None if source in (None, "mnist") else source,
                          val_size=int(train_rec.get("val_size", 5000)),
                          seed=int(train_rec.get("seed", 0)),
                          label=self.teacher_record.get("label"), test_data=self.test_data)
        num_classes = self._check_data(ds, teacher_dir)
        self.ds = ds
        n = cfg.samples or len(ds.x_train)
        self.x_train, self.y_train = ds.x_train[:n], ds.y_train[:n]
        self.input_shape = ds.input_shape
        self.student_cfg = StudentConfig(
            teacher=self.teacher_record["model"],
            teacher_config=dict(self.teacher_record["config"]),
            k=cfg.k, tree=tuple(cfg.tree),
        )
        self.student = build_student(self.teacher, cfg.k, cfg.tree, wiring=cfg.wiring,
                                     seed=cfg.seed).eval()
        self.student_of = _student_positions(self.teacher, self.plans)
        self.shapes = _io_shapes(self.teacher, self.input_shape)
        self.record = {
            "model": "lut-student",
            "config": config_to_dict(self.student_cfg),
            "distill": dataclasses.asdict(cfg),
            "teacher": str(teacher_dir),
            "data": self.data_name,
            "data_source": data_source(source),  # absolute path + sha256, for sim
            "input_shape": list(self.input_shape),
            "num_classes": num_classes,
        }
        keys = ("label", "class_names", *(("test_data", "test_data_source")
                                          if self.test_data is not None else ()))
        for key in keys:  # a table's, as the teacher recorded them
            if key in self.teacher_record:
                self.record[key] = self.teacher_record[key]
        self.record["distill"]["tree"] = list(cfg.tree)

    def _check_data(self, ds, teacher_dir: Path) -> int:
        """The teacher's number of classes, after checking ``ds`` fits the teacher.

        Raises:
            LutnnError: images of another shape, or labels the teacher has no class for.
        """
        shape = tuple(self.teacher_record["input_shape"])
        classes = int(self.teacher_record["num_classes"])
        if tuple(ds.input_shape) != shape:
            raise LutnnError(
                f"distill: the images of {self.data_name} are {list(ds.input_shape)}, but the "
                f"teacher {teacher_dir} was trained on {list(shape)}; distill on data of the "
                "teacher's shape"
            )
        if ds.num_classes > classes:
            raise LutnnError(
                f"distill: {self.data_name} has labels up to {ds.num_classes - 1}, but the "
                f"teacher {teacher_dir} has {classes} classes (0..{classes - 1}); distill on "
                "data with the teacher's classes"
            )
        return classes

    def cache_dir(self) -> Path:
        return self.out / "cache"

    def elapsed(self, state: DistillState, since: float) -> float:
        """The run's wall time: ``state.seconds`` plus this session's time since ``since``."""
        return state.seconds + time.perf_counter() - since

    def accuracy(self, model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
        """Accuracy of ``model`` on ``x``, in chunks that fit the memory budget."""
        return accuracy(model, x, y, self.eval_rows(model))

    def eval_rows(self, model: nn.Module) -> int:
        per = bytes_per_sample(model, self.input_shape)
        return budget_rows(self.cfg.memory_budget_mb, per, "evaluation", max_rows=1000)

    def positions(self, plan: BlockPlan, n: int, salt: int) -> torch.Tensor | None:
        """The sampled conv positions of block ``plan`` (None for a dense block)."""
        if not plan.conv:
            return None
        return sample_positions(self.teacher[plan.teacher_index],
                                self.shapes[plan.teacher_index], n, self.cfg.conv_positions,
                                self.cfg.seed * 1_000_003 + salt)


def _remove_stale(folder: Path, keep: set[str]) -> None:
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name not in keep and path.suffix == ".npy":
                path.unlink()


def distill(
    teacher_dir: str | Path,
    out: str | Path,
    cfg: DistillConfig = DistillConfig(),
    *,
    data: str | None = None,
    resume: bool = False,
    log: Callable[[str], None] = print,
    device: str = "cpu",
) -> dict:
    """Distill the teacher run ``teacher_dir`` into a LUT student run folder ``out``.

    Args:
        teacher_dir: a run folder of a teacher (``lutnn train --model teacher-...``).
        out: the student's run folder (``run.json``, ``model.pt``, ``metrics.json``,
            ``distill.png``; ``checkpoint.pt``, ``finetune.pt`` and ``cache/`` while running).
        cfg: distillation settings.
        data: dataset (default: the teacher's, with the teacher's validation split).
        resume: continue an interrupted run in ``out``.
        log: progress messages (rank 0's).
        device: ``cpu``, ``cuda`` or ``auto`` for the fine-tuning (the block fit runs on
            the CPU: its tables come from integer counts over cached bits).

    Returns:
        The metrics dict written to ``metrics.json``.

    Raises:
        LutnnError: an unsupported teacher block (named), bad settings, data that does not
            fit the teacher, a run folder that already holds a run without ``resume``, a
            teacher that changed since the run started, a budget too small for a step.
    """
    with distributed.session(device) as dev:
        if not distributed.is_main():
            log = distributed.quiet
        return _distill(teacher_dir, out, cfg, data=data, resume=resume, log=log, device=dev)


def _start_state(run: _Run, teacher_dir: Path, ckpt_path: Path, resume: bool,
                 main: bool) -> DistillState:
    """The state to start from: the checkpoint's (resume; its teacher and caches checked), or
    a new one (an earlier fine-tuning checkpoint, not this student's, removed)."""
    out = run.out
    identity = run_identity(run.record)
    if not (resume and ckpt_path.exists()):
        if main:
            (out / FINETUNE_CHECKPOINT).unlink(missing_ok=True)
        return DistillState(teacher_sha256=run.teacher_sha256, identity=identity)
    state = DistillState.load(ckpt_path, run.student)
    check_identity(ckpt_path, state.identity, identity)
    if not same_weights(state.teacher_sha256, teacher_dir / "model.pt", run.teacher_sha256):
        raise LutnnError(
            f"--resume: the teacher {teacher_dir}/model.pt changed since this distillation "
            f"started (sha256 {state.teacher_sha256[:12]} then, {run.teacher_sha256[:12]} "
            f"now); distill into a new --out, or delete {out}"
        )
    run.log(f"resuming {out} at teacher module {state.position}")
    if state.before is None and state.caches is not None and not all(  # blocks still to do
        (run.cache_dir() / name).is_file() for name in state.caches.values()
    ):
        raise LutnnError(f"{out}/cache lacks the cached activations the checkpoint names; "
                         "delete the run folder and start again")
    return state


def _fit_block(run: _Run, plan: BlockPlan, i: int, srcs) -> dict:
    """Fit the student of teacher block ``i`` on its rows; its layer record (fit stats so far)."""
    rows = BlockRows(plan, run.teacher[i], srcs["train", "student"], srcs["train", "teacher"],
                     run.positions(plan, srcs["train", "student"].n, salt=i))
    reads = f" ({plan.connected} connected)" if plan.connected and plan.connected < plan.fan_in \
        else ""
    run.log(f"distilling {plan.name}: {plan.neurons} neurons of fan-in {plan.fan_in}{reads} "
            f"-> tree stages {list(plan.widths)} LUTs per neuron (k = {list(plan.ks)})")
    fit_stats = distill_block(rows, run.cfg, stage_luts(run.student, plan),
                              run.cfg.seed * 7919 + i, run.log)
    return {"name": plan.name, "conv": plan.conv, "neurons": plan.neurons,
            "fan_in": plan.fan_in, "groups": plan.groups, "widths": list(plan.widths),
            "ks": list(plan.ks), **fit_stats}


@guarded("out")  # --out is locked (by rank 0) while it runs; a failed new run leaves nothing
def _distill(teacher_dir: str | Path, out: str | Path, cfg: DistillConfig, *,
             data: str | None, resume: bool, log: Callable[[str], None],
             device: torch.device) -> dict:
    cfg.validate()
    main = distributed.is_main()
    out, teacher_dir = Path(out), Path(teacher_dir)
    ckpt_path = out / "checkpoint.pt"
    check_new_run(out, resume, (*RUN_FILES, FINETUNE_CHECKPOINT))
    run = _Run(teacher_dir, out, cfg, data, log)
    check_resume(out, run.record, resume, "teacher",
                 defaults={"distill": dataclasses.asdict(DistillConfig())})
    finished = _finished_metrics(out, run.record) if resume else None
    if finished is not None:  # a no-op resume: nothing on disk changes
        log(f"{out} is finished (distilled, {finished.get('finetune_epochs')} fine-tuning "
            "epochs done); nothing to do, its files are left as they are (more "
            "--finetune-epochs would fine-tune it further)")
        return finished
    state = _start_state(run, teacher_dir, ckpt_path, resume, main)  # checked before writing
    if main:
        io.write_json(out / "run.json", run.record)
    distributed.barrier()  # every rank has read what it resumes from before rank 0 writes
    session = time.perf_counter()

    def save(**changes) -> DistillState:
        """The state with ``changes``, the time and memory so far, saved with the student."""
        new = dataclasses.replace(state, **changes, seconds=run.elapsed(state, session),
                                  peak_memory_mb=max(state.peak_memory_mb, peak_rss_mb()))
        if main:
            new.save(ckpt_path, run.student)
        return new

    plans = {p.teacher_index: p for p in run.plans}
    head_at = next((i for i, m in enumerate(run.teacher) if isinstance(m, GroupSum)),
                   len(run.teacher))
    for i in range(state.position, head_at):
        if isinstance(run.teacher[i], nn.Flatten):  # same bits, new shape: keep the caches
            state, session = save(position=i + 1), time.perf_counter()
            continue
        srcs = sources_at(run.shapes[i], {"train": run.x_train, "val": run.ds.x_val},
                          run.cache_dir(), state.caches)
        student_mods = nn.Sequential(*[run.student[j] for j in run.student_of[i]]).eval()
        plan = plans.get(i)
        t_step = time.perf_counter()
        layer = None if plan is None else _fit_block(run, plan, i, srcs)
        desc = plan.name if plan is not None else type(run.teacher[i]).__name__
        chunk = forward_rows(cfg.memory_budget_mb, student_mods, run.teacher[i], run.shapes[i],
                             f"the forward pass of module {i}")
        written = None
        if main:  # one writer; the others wait for the names (then the files are whole)
            written = write_caches(run.teacher[i], student_mods, srcs, run.shapes[i + 1],
                                   run.cache_dir(), i + 1, chunk, desc)
        names, stats = distributed.broadcast_object(written)
        layers = state.layers
        if layer is not None:
            positions = math.prod(run.shapes[i + 1][1:]) if plan.conv else 1
            layer.update({
                "luts": plan.luts_per_neuron * plan.neurons * positions,
                "agreement": stats["val"], "train_agreement": stats["train"],
                "local_agreement": stats["local"],
                "seconds": round(time.perf_counter() - t_step, 2),
                "peak_memory_mb": round(peak_rss_mb(), 1),
            })
            layers = (*layers, layer)
            log(f"  {plan.name}: {layer['luts']} LUTs, agreement {stats['val']:.4f} (val), "
                f"{stats['train']:.4f} (train), local {stats['local']:.4f}, "
                f"{layer['seconds']:.1f} s")
        state, session = save(position=i + 1, caches=names, layers=layers), time.perf_counter()
        if main:
            _remove_stale(run.cache_dir(), set(names.values()))

    if state.before is None:
        before = {"val": run.accuracy(run.student, run.ds.x_val, run.ds.y_val),
                  "test": run.accuracy(run.student, run.ds.x_test, run.ds.y_test)}
        state, session = save(before=before), time.perf_counter()
    metrics = _finish(run, state, session, resume, device)
    if main:
        shutil.rmtree(run.cache_dir(), ignore_errors=True)
    return metrics


def _finished_metrics(out: Path, record: dict) -> dict | None:
    """The metrics of the finished distillation in ``out`` (``model.pt`` and a
    ``metrics.json`` of ``record``'s settings, fine-tuning epochs included), else None."""
    path = out / "metrics.json"
    if not (out / "model.pt").is_file() or not path.is_file():
        return None
    metrics = io.read_json(path, "metrics file")
    settings = json.loads(json.dumps(record["distill"]))  # as metrics.json holds them
    if not isinstance(metrics, dict) or not isinstance(metrics.get("config"), dict):
        return None
    defaults = json.loads(json.dumps(dataclasses.asdict(DistillConfig())))
    written = {**defaults, **metrics["config"]}  # fields added since: their defaults
    return metrics if written == settings else None


def _finetune(run: _Run, state: DistillState, resume: bool, device: torch.device) -> FitResult:
    """End-to-end fine-tuning of the distilled student with :func:`lutnn.train.fit`: Adam on
    the tables in scope, cosine schedule to 0, micro-batches within the memory budget, the
    distilled student as the candidate to beat on validation."""
    cfg, student = run.cfg, run.student
    luts = [m for m in student.modules() if isinstance(m, LUTLayer)]
    if cfg.finetune_scope == "last":
        luts = stage_luts(student, run.plans[-1])
    params = [lut.tables for lut in luts]
    for p in student.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    # micro-batches within the memory budget, gradients accumulated: the same step as one batch
    micro = min(cfg.finetune_batch_size, budget_rows(
        cfg.memory_budget_mb, bytes_per_sample(student, run.input_shape, training=True),
        "fine-tuning", max_rows=cfg.finetune_batch_size))
    fit_cfg = FitConfig(epochs=cfg.finetune_epochs, batch_size=cfg.finetune_batch_size,
                        lr=cfg.finetune_lr, seed=cfg.seed, schedule="cosine",
                        micro_batch_size=micro, eval_batch_size=run.eval_rows(student),
                        shift=cfg.finetune_shift)
    # labels alone, or mixed with the teacher's class scores (its eval-mode hardware function)
    loss_fn = cross_entropy
    if cfg.finetune_kd_alpha > 0:
        teacher = run.teacher.to(device)
        loss_fn = teacher_loss(teacher, cfg.finetune_kd_alpha, cfg.finetune_kd_temperature)
    data = dataclasses.replace(run.ds, x_train=run.x_train, y_train=run.y_train)
    student.to(device)
    distilled = {k: v.clone() for k, v in student.state_dict().items()}
    with torch.no_grad():  # same bits, inside the STE's live range (a resume loads its own)
        for table in params:
            table.mul_(cfg.finetune_table_scale)
    result = fit(student, params, data, fit_cfg, run.out / FINETUNE_CHECKPOINT, resume=resume,
                 initial_best=(state.before["val"], distilled), label="fine-tune epoch",
                 loss_fn=loss_fn, log=run.log, identity=run_identity(run.record))
    student.eval()
    return result


def _finish(run: _Run, state: DistillState, session: float, resume: bool,
            device: torch.device) -> dict:
    """Fine-tune (optional), select on validation, write model.pt, metrics.json, the plot."""
    cfg, student, ds = run.cfg, run.student, run.ds
    run.log(f"distilled student: val {state.before['val']:.4f}, "
            f"test {state.before['test']:.4f} (before fine-tuning)")
    result = FitResult(epochs=0, history=[], seconds=0.0, best_val=state.before["val"])
    if cfg.finetune_epochs:
        result = _finetune(run, state, resume, device)
    student.eval().cpu()
    main = distributed.is_main()
    if main:
        io.save_checkpoint(run.out / "model.pt", student.state_dict())
    final = state.before
    if result.history:  # selected weights may differ from the distilled ones
        final = {"val": run.accuracy(student, ds.x_val, ds.y_val),
                 "test": run.accuracy(student, ds.x_test, ds.y_test)}
    teacher_val = run.accuracy(run.teacher, ds.x_val, ds.y_val)
    teacher_test = run.accuracy(run.teacher, ds.x_test, ds.y_test)
    metrics = {
        "model": "lut-student",
        "teacher": run.record["teacher"],
        "teacher_model": run.student_cfg.teacher,
        "test_accuracy": final["test"],
        "val_accuracy": final["val"],
        "teacher_test_accuracy": teacher_test,
        "teacher_val_accuracy": teacher_val,
        "test_accuracy_before_finetune": state.before["test"],
        "val_accuracy_before_finetune": state.before["val"],
        "finetune_epochs": result.epochs,
        "finetune_history": result.history,
        "luts": count_lut_nodes(student, run.input_shape),
        "peak_memory_mb": round(max(state.peak_memory_mb, peak_rss_mb()), 1),
        "start_memory_mb": round(run.start_rss, 1),
        "memory_budget_mb": cfg.memory_budget_mb,
        "seconds": round(run.elapsed(state, session), 2),
        "distill_seconds": round(sum(layer["seconds"] for layer in state.layers), 2),
        "samples": len(run.x_train),
        "layers": list(state.layers),
        "config": run.record["distill"],
    }
    if not main:
        return metrics
    io.write_json(run.out / "metrics.json", metrics)
    try:
        from lutnn.distill.report import plot_distillation

        plot_distillation(metrics, run.out / "distill.png")
    except ImportError as exc:  # matplotlib is a dependency; keep the run if it is broken
        run.log(f"no plot: {exc}")
    return metrics
