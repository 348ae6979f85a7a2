"""Fitting one block: the tables of a teacher block's student stages, from its rows.

:func:`distill_block` fits the stages of one block in place, reading its rows
(:class:`~lutnn.distill.rows.BlockRows`) in chunks sized to the memory budget, neuron group by
neuron group when even a small chunk of all neurons does not fit:

* ``weight_order_std`` wiring first measures every input's spread on the rows and rewires the
  first stage (:func:`~lutnn.student.first_stage_wiring`) of neurons wider than one LUT;
* method ``fit``: closed form, stage after stage (:mod:`lutnn.distill.fit`): each stage's
  tables are the majority teacher bit per address, on the bits the fitted stages before it
  produce (target ``partial``: the first stage from the teacher's weights instead); a neuron
  of at most ``k`` inputs is one LUT, and the addresses its rows never show take the neuron's
  own output (its truth table, from the weights), so it is copied exactly on any input;
* method ``train``: local gradient training of all the block's stages against the teacher
  (``fit+train``: starting from the closed form).

:func:`fit_block` runs the same step on in-memory tensors (for tests and experiments).

Under torchrun the ranks split the work and all-gather the tables (:func:`_work_units`):
the closed form is independent per neuron (integer address counts per LUT), so each memory
group's neurons are split over the ranks; local training trains a group's neurons together
(one Adam, one shuffle seeded by the group), so whole groups go round-robin to the ranks.
Either way every table is computed exactly as one process computes it, and the student is
the one-process student bit for bit.  The memory budget holds per rank.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from tqdm import tqdm

from lutnn import distributed
from lutnn.distill import memory
from lutnn.distill.config import DistillConfig
from lutnn.distill.fit import (
    LOCAL_LOSSES,
    address_bits,
    count_addresses,
    majority_tables,
    partial_sum_tables,
    signed_tables,
    stage_addresses,
    stage_bits,
    tree_preactivation,
)
from lutnn.distill.rows import BlockRows, RowSource, chunks, sample_positions
from lutnn.nn.binary import BinaryLinear
from lutnn.nn.conv import LoweredConv2d
from lutnn.nn.lut import LUTLayer
from lutnn.student import BlockPlan, first_stage_wiring, teacher_linear

__all__ = ["distill_block", "fit_block", "stage_luts"]


def stage_luts(student: nn.Sequential, plan: BlockPlan) -> list[LUTLayer]:
    """The LUT layers of a block's student stages (inside their convolutions)."""
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


def _exact_tables(linear: BinaryLinear, plan: BlockPlan, wiring: torch.Tensor,
                  o0: int, o1: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The truth tables of one-LUT neurons ``o0:o1``: the teacher neuron on each address.

    A neuron with an MLP (``neuron_hidden``) is evaluated on all ``2^k`` addresses
    (address bit ``j`` = LUT input ``j``); a plain one is its weighted sum's sign.
    """
    if not linear.neuron_hidden:
        return _partial_first_stage(linear, plan, wiring, o0, o1)
    neuron = torch.arange(o0, o1)  # (M,): one LUT per neuron
    local = wiring - (neuron // (plan.neurons // plan.groups) * plan.fan_in)[:, None]  # (M, k)
    bits = address_bits(wiring.shape[1])  # (A, k)
    z = linear.neuron_preactivation(neuron, local, bits.expand(len(neuron), -1, -1))
    return signed_tables(z.double())


def _fit_group(data: BlockRows, cfg: DistillConfig, luts: list[LUTLayer], o0: int, o1: int,
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
        for a, b in tqdm(chunks(n, rows), desc=f"{desc} stage {s + 1}", leave=False,
                         mininterval=1.0, disable=not distributed.is_main()):
            x, z = data.rows(a, b)
            h = x
            for p in range(s):
                h = stage_bits(h, wirings[p], bits_list[p])
            target = (z[:, o0:o1] >= 0)[:, neuron]  # (R, M)
            count_addresses(counts, stage_addresses(h, wiring), target)
        bits, values = majority_tables(counts, cfg.unseen)
        if plan.widths == (1,):  # one LUT reads every input: unseen addresses copy the neuron
            exact_bits, exact_values = _exact_tables(teacher_linear(data.module), plan,
                                                     wiring, o0, o1)
            unseen = counts.sum(-1) == 0  # (M, 2^k)
            bits = torch.where(unseen, exact_bits, bits)
            values = torch.where(unseen, exact_values, values)
        bits_list.append(bits)
        values_list.append(values)
    return values_list


def _train_group(data: BlockRows, cfg: DistillConfig, luts: list[LUTLayer], o0: int, o1: int,
                 rows: int, tables: list[torch.Tensor], seed: int, desc: str) -> list[torch.Tensor]:
    """Local gradient training of the tables of neurons ``o0:o1`` (all stages at once)."""
    plan = data.plan
    wirings = _group_wirings(luts, plan, o0, o1)
    params = [t.detach().clone().float().requires_grad_(True) for t in tables]
    opt = torch.optim.Adam(params, lr=cfg.local_lr)
    loss_fn = LOCAL_LOSSES[cfg.loss]
    spans = chunks(data.student_src.n, rows)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(cfg.local_epochs):
        order = torch.randperm(len(spans), generator=gen).tolist()
        bar = tqdm(order, desc=f"{desc} train {epoch + 1}/{cfg.local_epochs}", leave=False,
                   mininterval=1.0, disable=not distributed.is_main())
        for c in bar:
            x, z = data.rows(*spans[c])
            x, z = x.float(), z[:, o0:o1]
            perm = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), cfg.batch_size):
                idx = perm[i : i + cfg.batch_size]
                loss = loss_fn(tree_preactivation(x[idx], wirings, params), z[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return [p.detach() for p in params]


def _input_std(data: BlockRows, rows: int) -> torch.Tensor:
    """Standard deviation of every student input as a +-1 value, over the fitting rows."""
    total, count = torch.zeros(data.plan.fan_in * data.plan.groups, dtype=torch.float64), 0
    for a, b in tqdm(chunks(data.student_src.n, rows), desc=f"{data.plan.name} input stats",
                     leave=False, mininterval=1.0, disable=not distributed.is_main()):
        x, _ = data.rows(a, b)
        total += x.sum(0, dtype=torch.float64)
        count += len(x)
    p = total / max(count, 1)
    return 2 * torch.sqrt(p * (1 - p))


def distill_block(data: BlockRows, cfg: DistillConfig, luts: list[LUTLayer], seed: int,
                  log: Callable[[str], None]) -> dict:
    """Fit the tables of one block's student stages in place; returns fitting stats.

    Args:
        data: the block's rows.
        cfg: method, target, unseen rule, local training and memory budget.
        luts: the block's LUT layers, one per stage (:func:`stage_luts`).
        seed: seeds local training's shuffling (neuron group ``o0`` uses ``seed + o0``).
        log: progress messages.

    Returns:
        ``{"chunk_samples", "neuron_group"}``: the memory plan used.
    """
    plan = data.plan
    training = cfg.method != "fit"
    samples, group = memory.block_chunks(data, cfg.memory_budget_mb, training)
    if cfg.wiring == "weight_order_std" and plan.widths != (1,):  # one LUT reads them all
        std = _input_std(data, samples)
        wiring = first_stage_wiring(teacher_linear(data.module), plan, cfg.wiring,
                                    input_std=std)
        luts[0].inputs.copy_(wiring)
    if group < plan.neurons:
        log(f"  {plan.name}: memory budget splits {plan.neurons} neurons into groups of {group}")
    units = _work_units(plan.neurons, group, split=not training)
    world, me = distributed.world_size(), distributed.rank()
    done: dict[tuple[int, int], list[torch.Tensor]] = {}
    for seed_at, o0, o1 in units[me::world]:
        desc = plan.name if (o0, o1) == (0, plan.neurons) else f"{plan.name} [{o0}:{o1}]"
        if cfg.method in ("fit", "fit+train"):
            tables = _fit_group(data, cfg, luts, o0, o1, samples, desc)
        else:
            tables = [lut.tables[o0 * w : o1 * w].detach() for lut, w in zip(luts, plan.widths,
                                                                               strict=True)]
        if training:
            tables = _train_group(data, cfg, luts, o0, o1, samples, tables, seed + seed_at,
                                  desc)
        done[o0, o1] = [t.to(lut.tables.dtype).cpu() for lut, t in zip(luts, tables,
                                                                         strict=True)]
    for part in distributed.all_gather_object(done):  # every rank's tables, on every rank
        with torch.no_grad():
            for (o0, o1), tables in part.items():
                for lut, w, t in zip(luts, plan.widths, tables, strict=True):
                    lut.tables[o0 * w : o1 * w] = t.to(lut.tables.device)
    return {"chunk_samples": samples, "neuron_group": group}


def _work_units(neurons: int, group: int, split: bool) -> list[tuple[int, int, int]]:
    """``(seed_at, o0, o1)``: the neuron ranges fitted at once, rank ``r`` taking units
    ``r, r + N, ...``; ``seed_at`` is the first neuron of the memory group (local training's
    seed).  With ``split`` (closed form: per neuron) each group is cut into N parts, so the
    ranks share every group; otherwise a unit is a whole group."""
    world = distributed.world_size()
    units = []
    for o0 in range(0, neurons, group):
        o1 = min(o0 + group, neurons)
        if not split or world == 1:
            units.append((o0, o0, o1))
            continue
        for r in range(world):
            part = distributed.batch_part(o1 - o0, world, r)
            if part.stop > part.start:
                units.append((o0, o0 + part.start, o0 + part.stop))
    return units


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
    s_src = RowSource(shape, pixels=x_student.detach().float().numpy())
    t_src = RowSource(shape, pixels=x_teacher.detach().float().numpy())
    positions = None
    if plan.conv:
        positions = sample_positions(teacher_block, shape, len(x_student), 0, 0)
    data = BlockRows(plan, teacher_block.eval(), s_src, t_src, positions)
    luts = [m.inner if isinstance(m, LoweredConv2d) else m for m in student_stages]
    return distill_block(data, cfg, luts, seed, lambda _: None)
