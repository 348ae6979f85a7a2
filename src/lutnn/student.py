"""The LUT student of a teacher: one tree of LUT stages per teacher neuron.

Both the ``lut-student`` model family (:mod:`lutnn.models`, which rebuilds a distilled run from
its run.json) and distillation (:mod:`lutnn.distill`, which fits the tables) build students
here; this module imports only :mod:`lutnn.nn`, so neither depends on the other through it.

Every teacher *block* -- a :class:`~lutnn.nn.binary.BinaryLinear` (dense, or grouped as in a
depthwise layer) or a :class:`~lutnn.nn.conv.LoweredConv2d` around one -- becomes a student that
writes the same number of output bits.  For a teacher neuron of fan-in ``F`` (inputs per neuron;
``in_features // groups``):

* ``F <= k``: one LUT per neuron reading all ``F`` inputs (``k = F``): it can reproduce the
  neuron exactly.
* otherwise a tree: stage 1 has ``w_1`` LUTs per neuron, each of ``k`` inputs, reading the
  neuron's inputs ranked by decreasing ``|w|`` (:func:`~lutnn.nn.wiring.weight_order`; LUT ``l``
  reads ranks ``l*k .. l*k+k-1``), or a random subset of them (``wiring="random"``, the
  comparison); stage ``s`` has ``w_s`` LUTs per neuron reading ``w_{s-1} / w_s`` outputs of the
  neuron's previous stage (``serial`` wiring); the last stage has one LUT per neuron.

A *stage* (here and in :mod:`lutnn.distill`: ``stage_widths``, ``first_stage_wiring``,
``stage_luts``...) is one level of a neuron's LUT tree, counted from its inputs: one LUT
layer of the student (inside a ``LoweredConv2d`` for a convolution), one LUT level deep.  It
is not a pipeline stage of the emitted hardware (a register rank of :mod:`lutnn.hdl`) nor a
conv stage of a stream.

The per-stage widths come from ``tree`` (LUTs per neuron in each stage before the last, e.g.
``(6,)`` -> stages of 6 and 1 LUTs, ``(36, 6)`` -> 36, 6, 1), shrunk for small fan-ins: with
``need = ceil(F / k)`` first-stage LUTs enough to read every input once, the stages wider than
``need`` are dropped; if none is left, or some were dropped and ``need <= k``, the neuron gets
``need`` first-stage LUTs and one last LUT (so a wide tree such as ``(8, 2)``, meant for
pointwise and dense neurons, still reads every input of a small stem neuron).  When
``w_1 * k > F`` the last first-stage LUT wraps around to the top-ranked inputs (ranks
``(l*k + j) mod F``), so every input is read and no LUT reads one input twice.

A dense block of ``N`` neurons becomes ``LUTLayer(F_in, N*w_1, k)`` followed by
``LUTLayer(N*w_1, N*w_2, k=w_1/w_2, wiring=serial)`` ...; a convolution becomes
``LoweredConv2d(kxk, inner=LUTLayer(F_in, N*w_1))`` followed by 1x1 ``LoweredConv2d`` stages.
Encoder, ``Flatten``, pooling and the ``GroupSum`` head are copied.  The student is an
``nn.Sequential`` of existing modules, so training, :func:`lutnn.frontend.to_ir` and the
simulators take it unchanged.  Output bit ``o`` of a block is teacher neuron ``o``'s student.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from lutnn.errors import LutnnError
from lutnn.nn.binary import BinaryLinear, BinaryMaxPool2d, GroupSum
from lutnn.nn.conv import LoweredConv2d
from lutnn.nn.lut import MAX_LUT_INPUTS, LUTLayer
from lutnn.nn.wiring import serial_wiring, weight_order

__all__ = [
    "BlockPlan",
    "FIRST_STAGE_WIRINGS",
    "build_student",
    "check_tree",
    "first_stage_wiring",
    "plan_student",
    "stage_widths",
    "teacher_linear",
]

#: first-stage wirings of a student neuron: its inputs ranked by |w| ("weight_order", the seed's
#: and BinaryBrain's), by |w| times the input's standard deviation ("weight_order_std"), or a
#: random subset of them ("random", the comparison)
FIRST_STAGE_WIRINGS = ("weight_order", "weight_order_std", "random")

_COPIED = (nn.Flatten, BinaryMaxPool2d, GroupSum)
_SUPPORTED = (
    "input encoder, Flatten, BinaryLinear, LoweredConv2d(inner=BinaryLinear), BinaryMaxPool2d, "
    "GroupSum"
)


@dataclass(frozen=True)
class BlockPlan:
    """How one teacher block maps onto student stages.

    Attributes:
        teacher_index: position of the block in the teacher ``nn.Sequential``.
        student_indices: positions of its stages in the student ``nn.Sequential``.
        name: a readable name, e.g. ``"l2_dense"`` or ``"l1_conv3x3"``.
        conv: whether the block is a lowered convolution.
        neurons: teacher neurons N (= output bits per position).
        fan_in: inputs per neuron F (``in_features // groups``).
        groups: the teacher's groups (``groups = channels``: depthwise).
        widths: LUTs per neuron in each stage; the last is 1.
        ks: inputs per LUT in each stage.
        connected: inputs each neuron is connected to (``fan_in`` unless the teacher limits
            it with ``max_fan_in``); the trees are sized for it.
    """

    teacher_index: int
    student_indices: tuple[int, ...]
    name: str
    conv: bool
    neurons: int
    fan_in: int
    groups: int
    widths: tuple[int, ...]
    ks: tuple[int, ...]
    connected: int = 0  # 0: fan_in

    @property
    def luts_per_neuron(self) -> int:
        """LUT nodes per teacher neuron (per output position for a convolution)."""
        return sum(self.widths)

    @property
    def nodes(self) -> tuple[int, ...]:
        """LUT nodes of each stage (per position): ``neurons * widths[s]``."""
        return tuple(self.neurons * w for w in self.widths)


def check_tree(tree: tuple[int, ...] | list[int], k: int) -> tuple[int, ...]:
    """Validate a tree (LUTs per neuron per stage before the last); returns it as a tuple.

    Each entry must be >= 2, strictly decreasing, divisible by the next, and each reduction
    (``tree[s] / tree[s+1]``, and ``tree[-1]`` into the single last LUT) at most ``k``: a
    later-stage LUT reads that many outputs of the stage before it.
    """
    tree = tuple(int(t) for t in tree)
    if not isinstance(k, int) or not 1 <= k <= MAX_LUT_INPUTS:
        raise LutnnError(f"distillation: k must be an int in 1..{MAX_LUT_INPUTS}, got {k!r}")
    for s, t in enumerate(tree):
        nxt = tree[s + 1] if s + 1 < len(tree) else 1
        if t < 2 or t % nxt or t // nxt < 2 or t // nxt > k:
            raise LutnnError(
                f"distillation tree {list(tree)}: stage {s} has {t} LUTs per neuron and the "
                f"next {nxt}; each stage must be 2..{k} times the next (and divisible by it), "
                "e.g. [6] or [36, 6]"
            )
    return tree


def stage_widths(fan_in: int, k: int, tree: tuple[int, ...]) -> tuple[tuple[int, ...], tuple]:
    """``(widths, ks)`` of the LUT stages of one neuron of fan-in ``fan_in``.

    Example:
        >>> stage_widths(784, 6, (6,)), stage_widths(18, 6, (6,)), stage_widths(4, 6, (6,))
        (((6, 1), (6, 6)), ((3, 1), (6, 3)), ((1,), (4,)))
        >>> stage_widths(256, 6, (8, 2)), stage_widths(18, 6, (8, 2))  # 8 of 3 dropped
        (((8, 2, 1), (6, 4, 2)), ((3, 1), (6, 3)))
    """
    if fan_in <= k:
        return (1,), (fan_in,)
    need = math.ceil(fan_in / k)
    widths = [t for t in tree if t <= need]
    if tree and (not widths or (len(widths) < len(tree) and need <= k)):
        widths = [need]  # too wide a tree for this fan-in: one LUT per k inputs, then one
    widths.append(1)
    ks = [k] + [widths[s - 1] // widths[s] for s in range(1, len(widths))]
    return tuple(widths), tuple(ks)


def teacher_linear(module: nn.Module) -> BinaryLinear:
    """The BinaryLinear of a teacher block (the module itself or a convolution's inner)."""
    return module.inner if isinstance(module, LoweredConv2d) else module


def _is_encoder(module: nn.Module) -> bool:
    from lutnn.data.encodings import is_encoder

    return is_encoder(module)


def plan_student(teacher: nn.Sequential, k: int, tree: tuple[int, ...]) -> list[BlockPlan]:
    """Plan the student of ``teacher`` (one :class:`BlockPlan` per teacher block).

    Raises:
        LutnnError: a block distillation does not support, named with its position.
    """
    tree = check_tree(tree, k)
    if not isinstance(teacher, nn.Sequential):
        raise LutnnError(
            f"distillation needs an nn.Sequential teacher, got {type(teacher).__name__}"
        )
    plans: list[BlockPlan] = []
    pos = 0  # position in the student
    for i, module in enumerate(teacher):
        if _is_encoder(module) or isinstance(module, _COPIED):
            pos += 1
            continue
        inner = module.inner if isinstance(module, LoweredConv2d) else module
        if not isinstance(inner, BinaryLinear):
            what = type(module).__name__
            if isinstance(module, LoweredConv2d):
                what = f"LoweredConv2d with inner {type(inner).__name__}"
            raise LutnnError(
                f"teacher block {i} ({what}) cannot be distilled; supported blocks: {_SUPPORTED}"
            )
        fan_in = inner.in_features // inner.groups
        connected = fan_in  # a limited fan-in (max_fan_in): the inputs it is connected to
        if inner.connections is not None:
            connected = int(inner.connections.sum(1).max())
        widths, ks = stage_widths(connected, k, tree)
        if isinstance(module, LoweredConv2d):
            kh, kw = module.kernel_size
            name = f"l{i}_conv{kh}x{kw}" + ("_dw" if inner.groups > 1 else "")
        else:
            name = f"l{i}_dense" + ("_grouped" if inner.groups > 1 else "")
        plans.append(
            BlockPlan(
                teacher_index=i,
                student_indices=tuple(range(pos, pos + len(widths))),
                name=name,
                conv=isinstance(module, LoweredConv2d),
                neurons=inner.out_features,
                fan_in=fan_in,
                groups=inner.groups,
                connected=connected,
                widths=widths,
                ks=ks,
            )
        )
        pos += len(widths)
    return plans


def first_stage_wiring(
    linear: BinaryLinear,
    plan: BlockPlan,
    wiring: str = "weight_order",
    seed: int = 0,
    input_std: torch.Tensor | None = None,
) -> torch.Tensor:
    """int64 ``[N * w_1, k_1]``: the first-stage inputs of every neuron's LUTs.

    ``weight_order`` ranks each neuron's inputs by decreasing ``|w|`` (ties: lower index) with
    :func:`~lutnn.nn.wiring.weight_order`.  ``weight_order_std`` ranks by ``|w_i| * std_i``,
    with ``std_i`` the standard deviation of input ``i`` as a +-1 value on the data
    (``input_std``, ``[in_features]``): an input that never changes is a constant, however
    large its weight, and a LUT input spent on it is wasted (in a thermometer-encoded MNIST
    teacher, 42% of the top-36 |w| inputs of the first layer have std < 0.1).  ``random``
    ranks by a random permutation drawn per neuron from a generator seeded by ``seed``.
    LUT ``l`` of a neuron reads ranks ``(l*k + j) mod F``, with ``F`` the plan's fan-in: the
    inputs it is connected to when the teacher limits it (``max_fan_in``, ranked first).
    Indices address the block's input vector (the patch vector of a convolution); a grouped
    neuron's indices stay inside its group's slots.
    """
    if wiring not in FIRST_STAGE_WIRINGS:
        raise LutnnError(
            f"unknown distillation wiring {wiring!r}; choose one of: "
            + ", ".join(FIRST_STAGE_WIRINGS)
        )
    n, f = plan.neurons, plan.connected or plan.fan_in  # f < F for a limited fan-in
    slots_per_group = plan.fan_in  # F: the neuron's group of input slots
    w1, k1 = plan.widths[0], plan.ks[0]
    group = torch.arange(n) // (n // plan.groups)  # (N,)
    if wiring == "random":
        gen = torch.Generator().manual_seed(int(seed))
        ranks = torch.stack([torch.randperm(slots_per_group, generator=gen)
                             for _ in range(n)])  # (N, F)
    else:
        w = linear.connected_weight().double()  # (N, F): each row over its group's F slots
        if wiring == "weight_order_std":
            if input_std is None:
                raise LutnnError("weight_order_std wiring needs the inputs' standard deviations")
            slots = group[:, None] * slots_per_group + torch.arange(slots_per_group)[None, :]
            w = w * input_std.double()[slots]  # (N, F)
        ranks = weight_order(w, k=1, luts_per_neuron=slots_per_group).reshape(
            n, slots_per_group)  # unconnected inputs (w = 0) rank last
    slots = (torch.arange(w1 * k1) % f).reshape(w1, k1)  # rank read by LUT l, input j
    local = ranks[:, slots]  # (N, w1, k1) indices inside the neuron's group
    return (local + (group * slots_per_group)[:, None, None]).reshape(n * w1, k1).to(
        torch.int64)


def _stage_modules(
    module: nn.Module, plan: BlockPlan, first: torch.Tensor, seed: int
) -> list[nn.Module]:
    """The student modules of one teacher block, first stage wired by ``first``.

    Stage ``s`` initializes its tables from seed ``seed * 16 + s``.
    """
    linear = teacher_linear(module)
    nodes = plan.nodes
    luts = [LUTLayer(linear.in_features, nodes[0], plan.ks[0], wiring=first, seed=seed * 16)]
    for s in range(1, len(nodes)):
        wiring = serial_wiring(nodes[s - 1], nodes[s], plan.ks[s])
        luts.append(
            LUTLayer(nodes[s - 1], nodes[s], plan.ks[s], wiring=wiring, seed=seed * 16 + s)
        )
    if not plan.conv:
        return luts
    conv: LoweredConv2d = module
    stages = [
        LoweredConv2d(conv.in_channels, nodes[0], conv.kernel_size, luts[0], conv.stride,
                      conv.padding)
    ]
    for s in range(1, len(nodes)):
        stages.append(LoweredConv2d(nodes[s - 1], nodes[s], 1, luts[s]))
    return stages


def build_student(
    teacher: nn.Sequential,
    k: int = 6,
    tree: tuple[int, ...] = (6,),
    *,
    wiring: str = "weight_order",
    seed: int = 0,
) -> nn.Sequential:
    """Build the (untrained) LUT student of ``teacher``: the architecture, wired.

    Tables start as :class:`~lutnn.nn.lut.LUTLayer`'s random init; distillation fits them.
    Block ``b`` (counted from 0) draws its random wiring from seed ``seed + b``.
    ``weight_order_std`` needs the data, so it is wired as ``weight_order`` here and rewired
    by :func:`lutnn.distill.distill` when the block's inputs are known.

    Example:
        >>> from lutnn.models import MLPConfig, build_mlp
        >>> teacher = build_mlp(MLPConfig(hidden=(32,), group_size=4), (1, 8, 8), 3)
        >>> student = build_student(teacher, k=6, tree=(6,))
        >>> [type(m).__name__ for m in student]
        ['ThermometerEncoder', 'Flatten', 'LUTLayer', 'LUTLayer', 'LUTLayer', 'LUTLayer', \
'GroupSum']
    """
    plans = {p.teacher_index: p for p in plan_student(teacher, k, tree)}
    modules: list[nn.Module] = []
    for i, module in enumerate(teacher):
        plan = plans.get(i)
        if plan is None:
            modules.append(copy.deepcopy(module))
            continue
        b = list(plans).index(i)
        mode = "weight_order" if wiring == "weight_order_std" else wiring  # std: set later
        first = first_stage_wiring(teacher_linear(module), plan, mode, seed + b)
        modules.extend(_stage_modules(module, plan, first, seed + b))
    return nn.Sequential(*modules)
