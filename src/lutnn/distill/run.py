"""Distillation: copy a trained binary teacher into a LUT-Net, one block at a time.

The seed's plan (docs: /work/shared/seed/SUMMARY.md, points 2, 6, 7): train a network that is
easy to train, then copy it into a LUT-Network *little by little, within what fits in memory*.

:func:`distill` walks the teacher's ``nn.Sequential`` from the input.  For every block (a
``BinaryLinear``, or a lowered convolution around one) it builds the student's tree of LUT
stages (:mod:`lutnn.student`) and fits it:

* inputs: the bits the already-distilled *student* prefix produces (so each block learns to
  correct the drift of the blocks before it);
* targets: the *teacher's* own bits (or pre-activation) at that block;
* method ``fit``: closed form, stage after stage (:mod:`lutnn.distill.fit`); ``train``: local
  gradient training of all the block's stages against the teacher; ``fit+train``: the closed
  form, refined by local training.

Between blocks only two packed bit caches per split live on disk (the student's and the
teacher's activations, :mod:`lutnn.distill.cache`); a pass reads them in chunks sized to the
memory budget (:mod:`lutnn.distill.memory`).  After every teacher module the student so far,
the per-layer records and the cache names are checkpointed atomically, so ``resume=True``
continues where a killed run stopped and ends with the same student as an uninterrupted run
with the same seed.  Optional end-to-end fine-tuning on the task loss follows (all tables, or
only the last block's), with model selection on the validation split.

The run folder is a normal run folder (``run.json`` for model ``lut-student``, ``model.pt``,
``metrics.json``), loadable by :func:`lutnn.train.load_run`, plus ``distill.png``.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from lutnn import io
from lutnn.distill.cache import BitCache, BitCacheWriter
from lutnn.distill.fit import (
    LOCAL_LOSSES,
    UNSEEN_RULES,
    count_addresses,
    majority_tables,
    partial_sum_tables,
    stage_addresses,
    stage_bits,
    tree_preactivation,
)
from lutnn.student import (
    FIRST_STAGE_WIRINGS,
    BlockPlan,
    build_student,
    check_tree,
    first_stage_wiring,
    plan_student,
    teacher_linear,
)
from lutnn.distill.memory import current_rss_mb, peak_rss_mb, plan_chunks
from lutnn.errors import LutnnError
from lutnn.models import StudentConfig, config_to_dict, count_lut_nodes
from lutnn.nn.binary import BinaryLinear, GroupSum
from lutnn.nn.conv import LoweredConv2d
from lutnn.nn.lut import LUTLayer

__all__ = ["DistillConfig", "METHODS", "SCOPES", "TARGETS", "distill", "distill_block"]

METHODS = ("fit", "train", "fit+train")
TARGETS = ("teacher", "partial")
SCOPES = ("all", "last")


@dataclass(frozen=True)
class DistillConfig:
    """Settings of one distillation run."""

    k: int = 6  # inputs per first-stage LUT
    tree: tuple[int, ...] = (6,)  # LUTs per teacher neuron in each stage before the last one
    wiring: str = "weight_order_std"  # first stage: "weight_order_std" (|w| * input std),
    # "weight_order" (|w|, the seed's) or "random"
    method: str = "fit"  # "fit" (closed form), "train" (local gradient), "fit+train"
    target: str = "teacher"  # first-stage target of the fit: "teacher" bit or "partial" sum
    unseen: str = "majority"  # table entry of unseen addresses: "majority" or "nearest"
    loss: str = "hinge"  # local loss of "train": "hinge" (teacher bits) or "mse" (pre-act.)
    local_epochs: int = 2  # passes over the rows per block for "train"
    local_lr: float = 1e-2  # Adam learning rate of local training
    batch_size: int = 256  # rows per step of local training
    samples: int = 0  # training samples to distill on (0: the whole training split)
    conv_positions: int = 16  # positions per image a convolution is fitted on (0: all)
    finetune_epochs: int = 5  # end-to-end epochs on the task loss after distillation
    finetune_lr: float = 1e-2  # Adam learning rate of fine-tuning (cosine to 0)
    finetune_scope: str = "all"  # tables fine-tuning trains: "all" or only the "last" block's
    finetune_batch_size: int = 128  # samples per fine-tuning step
    memory_budget_mb: int = 1024  # resident memory the process keeps within (MiB)
    seed: int = 0  # seeds random wiring, position sampling, shuffling

    def validate(self) -> None:
        """Raise :class:`LutnnError` naming the first bad field."""
        check_tree(self.tree, self.k)
        choices = {
            "wiring": FIRST_STAGE_WIRINGS, "method": METHODS, "target": TARGETS,
            "unseen": UNSEEN_RULES, "loss": tuple(LOCAL_LOSSES), "finetune_scope": SCOPES,
        }
        for field, allowed in choices.items():
            if getattr(self, field) not in allowed:
                raise LutnnError(f"distill: {field} must be one of {', '.join(allowed)}, got "
                                 f"{getattr(self, field)!r}")
        for field in ("local_epochs", "samples", "conv_positions", "finetune_epochs"):
            if getattr(self, field) < 0:
                raise LutnnError(f"distill: {field} must be >= 0, got {getattr(self, field)}")
        for field in ("batch_size", "finetune_batch_size", "memory_budget_mb"):
            if getattr(self, field) < 1:
                raise LutnnError(f"distill: {field} must be >= 1, got {getattr(self, field)}")


# ----------------------------------------------------------------------------- data sources


class _Source:
    """The rows of one split at one position: pixels (the input) or a packed bit cache."""

    def __init__(self, shape: tuple[int, ...], pixels: np.ndarray | None = None,
                 cache: BitCache | None = None):
        self.shape = tuple(shape)
        self.pixels, self.cache = pixels, cache
        self.n = len(pixels) if pixels is not None else len(cache)

    def read(self, start: int, stop: int) -> torch.Tensor:
        """float32 ``[r, *shape]`` (pixel values 0..255, or bits)."""
        if self.pixels is not None:
            return torch.from_numpy(np.ascontiguousarray(self.pixels[start:stop])).float()
        return self.cache.read(start, stop).float().reshape(-1, *self.shape)

    @property
    def bytes_per_row(self) -> int:
        return 4 * math.prod(self.shape) * 2  # the float chunk and its source


def _chunks(n: int, rows: int) -> list[tuple[int, int]]:
    return [(a, min(a + rows, n)) for a in range(0, n, rows)]


def _patches(module: LoweredConv2d, x: torch.Tensor) -> torch.Tensor:
    """Images ``[r, C, H, W]`` -> patch rows ``[r, L, F]`` (unfold order, zero padding)."""
    cols = F.unfold(x, module.kernel_size, padding=module.padding, stride=module.stride)
    return cols.transpose(1, 2)


@dataclass
class _BlockData:
    """Where one block's fitting rows come from: the split's student and teacher sources."""

    plan: BlockPlan
    module: nn.Module  # the teacher block
    student_src: _Source
    teacher_src: _Source
    positions: torch.Tensor | None  # int64 [n, P] sampled conv positions per image, or None

    @property
    def rows_per_sample(self) -> int:
        return 1 if self.positions is None else self.positions.shape[1]

    @torch.no_grad()
    def rows(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of samples ``start:stop``: student input bits uint8 ``[R, F_in]`` and the
        teacher's pre-activation float ``[R, N]`` (its bit is ``>= 0``)."""
        linear = teacher_linear(self.module)
        xs = self.student_src.read(start, stop)
        xt = self.teacher_src.read(start, stop)
        if self.positions is None:
            x = xs.reshape(len(xs), -1)
            z = linear.preactivation(xt.reshape(len(xt), -1))
        else:
            pick = self.positions[start:stop]  # (r, P)
            ps, pt = _patches(self.module, xs), _patches(self.module, xt)  # (r, L, F)
            x = torch.gather(ps, 1, pick[..., None].expand(-1, -1, ps.shape[2]))
            t = torch.gather(pt, 1, pick[..., None].expand(-1, -1, pt.shape[2]))
            x, z = x.reshape(-1, ps.shape[2]), linear.preactivation(t.reshape(-1, pt.shape[2]))
        return x.to(torch.uint8), z


# ------------------------------------------------------------------------- fitting one block


def _stage_luts(student: nn.Sequential, plan: BlockPlan) -> list[LUTLayer]:
    mods = [student[j] for j in plan.student_indices]
    return [m.inner if isinstance(m, LoweredConv2d) else m for m in mods]


def _group_wirings(luts: list[LUTLayer], plan: BlockPlan, o0: int, o1: int) -> list[torch.Tensor]:
    """Wirings of neurons ``o0:o1`` only; later stages re-indexed into the group's outputs."""
    out = []
    for s, lut in enumerate(luts):
        w = plan.widths[s]
        wiring = lut.inputs[o0 * w : o1 * w]
        if s > 0:
            wiring = wiring - o0 * plan.widths[s - 1]
        out.append(wiring)
    return out


def _partial_first_stage(linear: BinaryLinear, plan: BlockPlan, wiring: torch.Tensor,
                         o0: int, o1: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First-stage tables of neurons ``o0:o1`` from the teacher's weights (target "partial")."""
    w_eff = linear.effective_weight().detach()  # (N, F)
    bn = linear.bn
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    offset = bn.bias - bn.running_mean * scale
    if linear.bias is not None:
        offset = offset + scale * linear.bias
    w1 = plan.widths[0]
    neuron = torch.arange(o0, o1).repeat_interleave(w1)  # (M,)
    local = wiring - (neuron // (plan.neurons // plan.groups) * plan.fan_in)[:, None]
    weights = w_eff[neuron[:, None], local]  # (M, k)
    share = weights.abs().sum(1) / w_eff[neuron].abs().sum(1).clamp(min=1e-12)
    return partial_sum_tables(weights.double(), scale[neuron].double(), offset[neuron].double(),
                              share.double())


def _fit_group(data: _BlockData, cfg: DistillConfig, luts: list[LUTLayer], o0: int, o1: int,
               rows: int, desc: str) -> list[torch.Tensor]:
    """Closed-form tables (real values) of neurons ``o0:o1``, stage after stage."""
    plan = data.plan
    wirings = _group_wirings(luts, plan, o0, o1)
    bits_list: list[torch.Tensor] = []
    values_list: list[torch.Tensor] = []
    n = data.student_src.n
    for s, wiring in enumerate(wirings):
        if s == 0 and cfg.target == "partial" and plan.fan_in > plan.ks[0]:
            linear = teacher_linear(data.module)
            bits, values = _partial_first_stage(linear, plan, wiring, o0, o1)
            bits_list.append(bits)
            values_list.append(values)
            continue
        m, size = wiring.shape[0], 2 ** plan.ks[s]
        neuron = torch.arange(m) // plan.widths[s]  # (M,) group-local neuron of each LUT
        counts = torch.zeros(m, size, 2, dtype=torch.int64)
        for a, b in tqdm(_chunks(n, rows), desc=f"{desc} stage {s + 1}", leave=False,
                         mininterval=1.0):
            x, z = data.rows(a, b)
            h = x
            for p in range(s):
                h = stage_bits(h, wirings[p], bits_list[p])
            target = (z[:, o0:o1] >= 0)[:, neuron]  # (R, M)
            count_addresses(counts, stage_addresses(h, wiring), target)
        bits, values = majority_tables(counts, cfg.unseen)
        bits_list.append(bits)
        values_list.append(values)
    return values_list


def _train_group(data: _BlockData, cfg: DistillConfig, luts: list[LUTLayer], o0: int, o1: int,
                 rows: int, tables: list[torch.Tensor], seed: int, desc: str) -> list[torch.Tensor]:
    """Local gradient training of the tables of neurons ``o0:o1`` (all stages at once)."""
    plan = data.plan
    wirings = _group_wirings(luts, plan, o0, o1)
    params = [t.detach().clone().float().requires_grad_(True) for t in tables]
    opt = torch.optim.Adam(params, lr=cfg.local_lr)
    loss_fn = LOCAL_LOSSES[cfg.loss]
    chunks = _chunks(data.student_src.n, rows)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(cfg.local_epochs):
        order = torch.randperm(len(chunks), generator=gen).tolist()
        bar = tqdm(order, desc=f"{desc} train {epoch + 1}/{cfg.local_epochs}", leave=False,
                   mininterval=1.0)
        for c in bar:
            x, z = data.rows(*chunks[c])
            x, z = x.float(), z[:, o0:o1]
            perm = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), cfg.batch_size):
                idx = perm[i : i + cfg.batch_size]
                loss = loss_fn(tree_preactivation(x[idx], wirings, params), z[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return [p.detach() for p in params]


def _input_std(data: _BlockData, rows: int) -> torch.Tensor:
    """Standard deviation of every student input as a +-1 value, over the fitting rows."""
    total, count = torch.zeros(data.plan.fan_in * data.plan.groups, dtype=torch.float64), 0
    for a, b in tqdm(_chunks(data.student_src.n, rows), desc=f"{data.plan.name} input stats",
                     leave=False, mininterval=1.0):
        x, _ = data.rows(a, b)
        total += x.sum(0, dtype=torch.float64)
        count += len(x)
    p = total / max(count, 1)
    return 2 * torch.sqrt(p * (1 - p))


def _chunk_plan(data: _BlockData, cfg: DistillConfig, training: bool) -> tuple[int, int]:
    """Samples per chunk and neurons per group for a fitting pass over ``data``.

    Per row the pass holds the student's and the teacher's input (read as float, unpacked to
    uint8, +-1 copy for the teacher's matmul: ~14 bytes per input bit each), the teacher's
    pre-activation and bits; per LUT and row the int64 addresses and their temporaries
    (~50 bytes), and in training the gathered inputs, their gradients and the lookups.
    """
    plan = data.plan
    rows = data.rows_per_sample
    f_in = plan.fan_in * plan.groups
    per_sample = data.student_src.bytes_per_row + data.teacher_src.bytes_per_row
    if plan.conv:
        positions = math.prod(data.student_src.shape[1:])  # an upper bound on L (no stride)
        per_sample += 2 * 2 * 4 * positions * f_in  # unfolded patches (+ transpose copy), x2
    per_sample += rows * (2 * 14 * f_in + 16 * plan.neurons)
    per_neuron = 0
    for w, k in zip(plan.widths, plan.ks, strict=True):
        per_neuron += w * 50  # int64 addresses, shifted bits, flat index, target
        if training:
            per_neuron += w * (k + 4) * 4 * 4  # gathered bits, grads, lookups, STE masks
    per_neuron *= rows
    fixed = sum(plan.nodes[s] * 2 ** plan.ks[s] * 8 * 4 for s in range(len(plan.ks)))
    samples, group = plan_chunks(cfg.memory_budget_mb, per_sample, per_neuron, plan.neurons,
                                 f"block {plan.name}", fixed_bytes=fixed,
                                 min_rows=max(1, 256 // rows))
    return samples, group


@torch.no_grad()
def bytes_per_sample(model: nn.Module, in_shape: tuple[int, ...], training: bool = False) -> int:
    """Estimated working memory of one sample through ``model`` (bytes), from a probe forward.

    Counts every module output (float32, and its gradient in training), a lowered
    convolution's unfolded patches, and a LUT layer's gathered inputs, int64 addresses and
    lookups per output bit (three times that in training, for what backward keeps).
    """
    total = [8.0 * math.prod(in_shape)]
    factor = 3 if training else 1

    def hook(module, inputs, output):
        total[0] += 4 * output.numel() * (2 if training else 1)
        if isinstance(module, LUTLayer):
            total[0] += output.numel() * (4 * module.k + 24) * factor
        elif isinstance(module, LoweredConv2d):
            positions = output.numel() // module.out_channels
            total[0] += 2 * 4 * positions * module.patch_size * factor
        elif isinstance(module, BinaryLinear):
            total[0] += 8 * inputs[0].numel() + 12 * output.numel()

    hooks = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())
             or isinstance(m, LoweredConv2d)]
    was = model.training
    try:
        model.eval()(torch.zeros(1, *in_shape))
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return int(total[0])


def budget_rows(budget_mb: float, per_sample: float, what: str, max_rows: int = 4096) -> int:
    """Samples per chunk of a plain forward pass that fit the free budget."""
    rows, _ = plan_chunks(budget_mb, per_sample, 0, 1, what, min_rows=1, max_rows=max_rows)
    return rows


def distill_block(data: _BlockData, cfg: DistillConfig, luts: list[LUTLayer], seed: int,
                  log: Callable[[str], None]) -> dict:
    """Fit the tables of one block's student stages in place; returns fitting stats."""
    plan = data.plan
    training = cfg.method != "fit"
    samples, group = _chunk_plan(data, cfg, training)
    if cfg.wiring == "weight_order_std" and plan.fan_in > plan.ks[0]:
        std = _input_std(data, samples)
        wiring = first_stage_wiring(teacher_linear(data.module), plan, cfg.wiring,
                                    input_std=std)
        luts[0].inputs.copy_(wiring)
    if group < plan.neurons:
        log(f"  {plan.name}: memory budget splits {plan.neurons} neurons into groups of {group}")
    for o0 in range(0, plan.neurons, group):
        o1 = min(o0 + group, plan.neurons)
        desc = plan.name if group == plan.neurons else f"{plan.name} [{o0}:{o1}]"
        if cfg.method in ("fit", "fit+train"):
            tables = _fit_group(data, cfg, luts, o0, o1, samples, desc)
        else:
            tables = [lut.tables[o0 * w : o1 * w].detach() for lut, w in zip(luts, plan.widths,
                                                                               strict=True)]
        if training:
            tables = _train_group(data, cfg, luts, o0, o1, samples, tables, seed + o0, desc)
        with torch.no_grad():
            for lut, w, t in zip(luts, plan.widths, tables, strict=True):
                lut.tables[o0 * w : o1 * w] = t.to(lut.tables.dtype)
    return {"chunk_samples": samples, "neuron_group": group}


def fit_block(
    teacher_block: nn.Module,
    student_stages: list[nn.Module],
    plan: BlockPlan,
    x_student: torch.Tensor,
    x_teacher: torch.Tensor | None = None,
    cfg: DistillConfig = DistillConfig(),
    *,
    seed: int = 0,
) -> dict:
    """Fit one block's student stages in memory (the step :func:`distill` runs from caches).

    Args:
        teacher_block: a ``BinaryLinear`` or ``LoweredConv2d`` (eval mode is used).
        student_stages: the block's student modules (``LUTLayer`` or ``LoweredConv2d``
            around one), e.g. from :func:`~lutnn.student.build_student`; fitted in place.
        plan: the block's :class:`~lutnn.student.BlockPlan`.
        x_student: the student's input bits ``[n, *in_shape]``.
        x_teacher: the teacher's input bits (default: ``x_student``).
        cfg: settings (method, target, unseen rule, memory budget ...).

    Example:
        >>> from lutnn.nn.binary import BinaryLinear
        >>> from lutnn.student import build_student, plan_student
        >>> teacher = nn.Sequential(BinaryLinear(4, 3)).eval()
        >>> student, plan = build_student(teacher), plan_student(teacher, 6, (6,))[0]
        >>> x = torch.tensor([[(a >> j) & 1 for j in range(4)] for a in range(16)]).float()
        >>> _ = fit_block(teacher[0], list(student), plan, x)
        >>> bool((student.eval()(x) == teacher(x)).all())  # fan-in 4 <= k: exact
        True
    """
    x_teacher = x_student if x_teacher is None else x_teacher
    shape = tuple(x_student.shape[1:])
    s_src = _Source(shape, pixels=x_student.detach().float().numpy())
    t_src = _Source(shape, pixels=x_teacher.detach().float().numpy())
    positions = None
    if plan.conv:
        length = math.prod(teacher_block.output_shape(*shape[1:]))
        positions = torch.arange(length).expand(len(x_student), -1)
    data = _BlockData(plan, teacher_block.eval(), s_src, t_src, positions)
    luts = [m.inner if isinstance(m, LoweredConv2d) else m for m in student_stages]
    return distill_block(data, cfg, luts, seed, lambda _: None)


# ---------------------------------------------------------------------------- orchestration


def _teacher_record(teacher_dir: Path) -> tuple[nn.Sequential, dict]:
    from lutnn.train import load_run

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
    """State of one distillation run (see :func:`distill`)."""

    def __init__(self, teacher_dir: Path, out: Path, cfg: DistillConfig, data: str | None,
                 log: Callable[[str], None]):
        from lutnn.data import load_dataset

        self.t0 = time.perf_counter()
        self.out, self.cfg, self.log = out, cfg, log
        self.start_rss = current_rss_mb()
        self.teacher, self.teacher_record = _teacher_record(teacher_dir)
        self.plans = plan_student(self.teacher, cfg.k, cfg.tree)
        train_rec = self.teacher_record.get("train", {})
        source = data if data is not None else self.teacher_record.get("data")
        self.data_name = source or "mnist"
        ds = load_dataset(None if source in (None, "mnist") else source,
                          val_size=int(train_rec.get("val_size", 5000)),
                          seed=int(train_rec.get("seed", 0)))
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
            "input_shape": list(self.input_shape),
            "num_classes": int(ds.num_classes),
        }
        self.record["distill"]["tree"] = list(cfg.tree)

    # -- caches

    def cache_path(self, name: str) -> Path:
        return self.out / "cache" / name

    def sources(self, position: int, names: dict | None) -> dict[tuple[str, str], _Source]:
        """Sources of both splits and both nets at ``position`` (pixels at position 0)."""
        shape = self.shapes[position]
        out = {}
        for split, x in (("train", self.x_train), ("val", self.ds.x_val)):
            for net in ("student", "teacher"):
                if position == 0:
                    out[split, net] = _Source(shape, pixels=x)
                else:
                    cache = BitCache(self.cache_path(names[f"{split}_{net}"]), math.prod(shape))
                    out[split, net] = _Source(shape, cache=cache)
        return out

    def _forward_rows(self, student_mod: nn.Module, teacher_mod: nn.Module, i: int) -> int:
        """Samples per chunk for the forward of teacher module ``i`` and its student."""
        shape = self.shapes[i]
        per = (bytes_per_sample(student_mod, shape) + 2 * bytes_per_sample(teacher_mod, shape)
               + 16 * math.prod(shape))
        return budget_rows(self.cfg.memory_budget_mb, per, f"the forward pass of module {i}")

    @torch.no_grad()
    def advance(self, i: int, srcs: dict, student_mod: nn.Module, desc: str) -> tuple[dict, dict]:
        """Write the caches of position ``i + 1``: teacher module ``i`` and its student modules
        applied chunk by chunk; returns (cache names, agreement stats)."""
        teacher_mod = self.teacher[i]
        shape_out = self.shapes[i + 1]
        names, stats = {}, {}
        for split in ("train", "val"):
            s_src, t_src = srcs[split, "student"], srcs[split, "teacher"]
            n = s_src.n
            rows = self._forward_rows(student_mod, teacher_mod, i)
            s_name, t_name = f"{split}_student_{i + 1}.npy", f"{split}_teacher_{i + 1}.npy"
            width = math.prod(shape_out)
            agree = local = 0
            with BitCacheWriter(self.cache_path(s_name), n, width) as ws, \
                    BitCacheWriter(self.cache_path(t_name), n, width) as wt:
                for a, b in tqdm(_chunks(n, rows), desc=f"{desc} {split}", leave=False,
                                 mininterval=1.0):
                    xs = s_src.read(a, b)
                    ys = student_mod(xs).reshape(b - a, -1)
                    yt = teacher_mod(t_src.read(a, b)).reshape(b - a, -1)
                    ws.append(ys)
                    wt.append(yt)
                    agree += int((ys == yt).sum())
                    if split == "val":
                        local += int((ys == teacher_mod(xs).reshape(b - a, -1)).sum())
            names[f"{split}_student"], names[f"{split}_teacher"] = s_name, t_name
            stats[split] = agree / (n * width)
            if split == "val":
                stats["local"] = local / (n * width)
        return names, stats

    def accuracy(self, model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
        """Accuracy of ``model`` on ``x``, in chunks that fit the memory budget."""
        from lutnn.train import accuracy

        per = bytes_per_sample(model, self.input_shape)
        return accuracy(model, x, y, budget_rows(self.cfg.memory_budget_mb, per, "evaluation",
                                                 max_rows=1000))

    def positions(self, plan: BlockPlan, n: int, salt: int) -> torch.Tensor | None:
        if not plan.conv:
            return None
        conv: LoweredConv2d = self.teacher[plan.teacher_index]
        c, h, w = self.shapes[plan.teacher_index]
        length = math.prod(conv.output_shape(h, w))
        p = self.cfg.conv_positions
        if p == 0 or p >= length:
            return torch.arange(length).expand(n, -1)
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + salt)
        return torch.randint(0, length, (n, p), generator=gen)


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
) -> dict:
    """Distill the teacher run ``teacher_dir`` into a LUT student run folder ``out``.

    Args:
        teacher_dir: a run folder of a teacher (``lutnn train --model teacher-...``).
        out: the student's run folder (``run.json``, ``model.pt``, ``metrics.json``,
            ``distill.png``; ``checkpoint.pt`` and ``cache/`` while running).
        cfg: distillation settings.
        data: dataset (default: the teacher's, with the teacher's validation split).
        resume: continue an interrupted run in ``out``.
        log: progress messages.

    Returns:
        The metrics dict written to ``metrics.json``.

    Raises:
        LutnnError: an unsupported teacher block (named), bad settings, a run folder that
            already holds a run without ``resume``, a budget too small for a step.
    """
    cfg.validate()
    out, teacher_dir = Path(out), Path(teacher_dir)
    ckpt_path = out / "checkpoint.pt"
    if (ckpt_path.exists() or (out / "metrics.json").exists()) and not resume:
        raise LutnnError(
            f"{out} already holds a run; pass --resume to continue it or choose another --out"
        )
    run = _Run(teacher_dir, out, cfg, data, log)
    if resume and (out / "run.json").exists():
        previous = io.read_json(out / "run.json", "run record")
        if {k: previous.get(k) for k in run.record} != run.record:
            raise LutnnError(
                f"--resume: {out}/run.json was written for another teacher, config or data; "
                "resume with the same arguments or choose another --out"
            )
    io.write_json(out / "run.json", run.record)

    state = {"position": 0, "caches": None, "layers": [], "seconds": 0.0, "peak_memory_mb": 0.0,
             "finetune_epoch": 0, "finetune_history": [], "before": None, "best_val": -1.0,
             "best_model": None, "optimizer": None, "schedule": None}
    if resume and ckpt_path.exists():
        ckpt = io.load_checkpoint(ckpt_path)
        try:
            run.student.load_state_dict(ckpt["student"])
            state.update({k: ckpt[k] for k in state})
        except (KeyError, RuntimeError, ValueError) as exc:
            raise LutnnError(
                f"checkpoint {ckpt_path} does not match this distillation "
                f"({type(exc).__name__}); delete the run folder or start without --resume"
            ) from None
        log(f"resuming {out} at teacher module {state['position']}")
        if state["caches"] is not None and not all(
            run.cache_path(name).is_file() for name in state["caches"].values()
        ):
            raise LutnnError(f"{out}/cache lacks the cached activations the checkpoint names; "
                             "delete the run folder and start again")
    t_start = time.perf_counter()
    seconds0 = state["seconds"]

    def checkpoint(**extra) -> None:
        state["seconds"] = seconds0 + time.perf_counter() - t_start
        state["peak_memory_mb"] = max(state["peak_memory_mb"], peak_rss_mb())
        state.update(extra)
        io.save_checkpoint(ckpt_path, {"student": run.student.state_dict(), **state})

    plans = {p.teacher_index: p for p in run.plans}
    head_at = len(run.teacher)
    for i, module in enumerate(run.teacher):
        if isinstance(module, GroupSum):
            head_at = i
            break
    for i in range(state["position"], head_at):
        srcs = run.sources(i, state["caches"])
        student_mods = nn.Sequential(*[run.student[j] for j in run.student_of[i]]).eval()
        plan = plans.get(i)
        if isinstance(run.teacher[i], nn.Flatten):  # same bits, new shape: keep the caches
            checkpoint(position=i + 1)
            continue
        t_step = time.perf_counter()
        layer = None
        if plan is not None:
            luts = _stage_luts(run.student, plan)
            data = _BlockData(plan, run.teacher[i], srcs["train", "student"],
                              srcs["train", "teacher"],
                              run.positions(plan, srcs["train", "student"].n, salt=i))
            log(f"distilling {plan.name}: {plan.neurons} neurons of fan-in {plan.fan_in} -> "
                f"stages {list(plan.widths)} LUTs per neuron (k = {list(plan.ks)})")
            fit_stats = distill_block(data, cfg, luts, cfg.seed * 7919 + i, log)
            layer = {
                "name": plan.name, "conv": plan.conv, "neurons": plan.neurons,
                "fan_in": plan.fan_in, "groups": plan.groups, "widths": list(plan.widths),
                "ks": list(plan.ks), **fit_stats,
            }
        desc = plan.name if plan is not None else type(run.teacher[i]).__name__
        names, stats = run.advance(i, srcs, student_mods, desc)
        if layer is not None:
            positions = math.prod(run.shapes[i + 1][1:]) if plan.conv else 1
            layer.update({
                "luts": plan.luts_per_neuron * plan.neurons * positions,
                "agreement": stats["val"], "train_agreement": stats["train"],
                "local_agreement": stats["local"],
                "seconds": round(time.perf_counter() - t_step, 2),
                "peak_memory_mb": round(peak_rss_mb(), 1),
            })
            state["layers"].append(layer)
            log(f"  {plan.name}: {layer['luts']} LUTs, agreement {stats['val']:.4f} (val), "
                f"{stats['train']:.4f} (train), local {stats['local']:.4f}, "
                f"{layer['seconds']:.1f} s")
        checkpoint(position=i + 1, caches=names)
        _remove_stale(out / "cache", set(names.values()))

    metrics = _finish(run, state, checkpoint)
    shutil.rmtree(out / "cache", ignore_errors=True)
    return metrics


def _finetune_params(run: _Run, scope: str) -> list[nn.Parameter]:
    luts = [m for m in run.student.modules() if isinstance(m, LUTLayer)]
    if scope == "last":
        luts = _stage_luts(run.student, run.plans[-1])
    return [lut.tables for lut in luts]


def _finish(run: _Run, state: dict, checkpoint: Callable[..., None]) -> dict:
    """Fine-tune (optional), select on validation, write model.pt, metrics.json, the plot."""
    cfg, student, ds = run.cfg, run.student, run.ds
    if state["before"] is None:
        state["before"] = {
            "val": run.accuracy(student, ds.x_val, ds.y_val),
            "test": run.accuracy(student, ds.x_test, ds.y_test),
        }
        state["best_val"] = state["before"]["val"]
        state["best_model"] = {k: v.clone() for k, v in student.state_dict().items()}
        checkpoint()
    run.log(f"distilled student: val {state['before']['val']:.4f}, "
            f"test {state['before']['test']:.4f} (before fine-tuning)")
    if cfg.finetune_epochs:
        _finetune(run, state, checkpoint)
    student.load_state_dict(state["best_model"])
    student.eval()
    io.save_checkpoint(run.out / "model.pt", student.state_dict())
    final = state["before"]
    if state["finetune_history"]:  # selected weights may differ from the distilled ones
        final = {"val": run.accuracy(student, ds.x_val, ds.y_val),
                 "test": run.accuracy(student, ds.x_test, ds.y_test)}
    teacher_val = run.accuracy(run.teacher, ds.x_val, ds.y_val)
    teacher_test = run.accuracy(run.teacher, ds.x_test, ds.y_test)
    checkpoint()
    metrics = {
        "model": "lut-student",
        "teacher": run.record["teacher"],
        "teacher_model": run.student_cfg.teacher,
        "test_accuracy": final["test"],
        "val_accuracy": final["val"],
        "teacher_test_accuracy": teacher_test,
        "teacher_val_accuracy": teacher_val,
        "test_accuracy_before_finetune": state["before"]["test"],
        "val_accuracy_before_finetune": state["before"]["val"],
        "finetune_epochs": state["finetune_epoch"],
        "finetune_history": state["finetune_history"],
        "luts": count_lut_nodes(student, run.input_shape),
        "peak_memory_mb": round(state["peak_memory_mb"], 1),
        "start_memory_mb": round(run.start_rss, 1),
        "memory_budget_mb": cfg.memory_budget_mb,
        "seconds": round(state["seconds"], 2),
        "distill_seconds": round(sum(layer["seconds"] for layer in state["layers"]), 2),
        "samples": len(run.x_train),
        "layers": state["layers"],
        "config": run.record["distill"],
    }
    io.write_json(run.out / "metrics.json", metrics)
    try:
        from lutnn.distill.report import plot_distillation

        plot_distillation(metrics, run.out / "distill.png")
    except ImportError as exc:  # matplotlib is a dependency; keep the run if it is broken
        run.log(f"no plot: {exc}")
    return metrics


def _finetune(run: _Run, state: dict, checkpoint: Callable[..., None]) -> None:
    cfg, student, ds = run.cfg, run.student, run.ds
    params = _finetune_params(run, cfg.finetune_scope)
    for p in student.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=cfg.finetune_lr)
    n = len(run.x_train)
    steps = math.ceil(n / cfg.finetune_batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.finetune_epochs * steps)
    if state["optimizer"] is not None:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["schedule"])
    for epoch in range(state["finetune_epoch"], cfg.finetune_epochs):
        t0 = time.perf_counter()
        loss = _finetune_epoch(run, opt, sched, epoch)
        student.eval()
        val = run.accuracy(student, ds.x_val, ds.y_val)
        entry = {"epoch": epoch + 1, "loss": loss, "val_accuracy": val,
                 "seconds": round(time.perf_counter() - t0, 2)}
        state["finetune_history"].append(entry)
        if val > state["best_val"]:
            state["best_val"] = val
            state["best_model"] = {k: v.clone() for k, v in student.state_dict().items()}
        run.log(f"fine-tune epoch {epoch + 1}/{cfg.finetune_epochs}: loss {entry['loss']:.4f}, "
                f"val {val:.4f}")
        checkpoint(finetune_epoch=epoch + 1, optimizer=opt.state_dict(),
                   schedule=sched.state_dict())


def _finetune_epoch(run: _Run, opt: torch.optim.Optimizer,
                    sched: torch.optim.lr_scheduler.LRScheduler, epoch: int) -> float:
    """One end-to-end epoch on the task loss (batches shuffled by ``(seed, epoch)``)."""
    cfg, student = run.cfg, run.student
    n = len(run.x_train)
    y_train = torch.from_numpy(run.y_train)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    order = torch.randperm(n, generator=gen)
    total, steps = 0.0, 0
    bar = tqdm(range(0, n, cfg.finetune_batch_size),
               desc=f"fine-tune {epoch + 1}/{cfg.finetune_epochs}", leave=False, mininterval=1.0)
    # micro-batches within the memory budget, gradients accumulated: the same step as one batch
    micro = min(cfg.finetune_batch_size, budget_rows(
        cfg.memory_budget_mb, bytes_per_sample(student, run.input_shape, training=True),
        "fine-tuning", max_rows=cfg.finetune_batch_size))
    student.train()
    for start in bar:
        idx = order[start : start + cfg.finetune_batch_size].numpy()
        opt.zero_grad(set_to_none=True)
        batch_loss = 0.0
        for m in range(0, len(idx), micro):
            part = idx[m : m + micro]
            x = torch.from_numpy(run.x_train[part]).float()  # pixels; the encoder makes bits
            loss = loss_fn(student(x), y_train[part]) * (len(part) / len(idx))
            loss.backward()
            batch_loss += loss.item()
        opt.step()
        sched.step()
        total += batch_loss
        steps += 1
        bar.set_postfix(loss=f"{total / steps:.4f}", refresh=False)
    student.eval()
    return total / max(steps, 1)
