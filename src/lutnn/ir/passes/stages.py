"""Pipeline stages: cut the lowered layers and the head so no stage is deeper than N LUT levels.

:func:`assign_stages` sets the ``stage`` of every op of each :class:`~lutnn.ir.LogicLayer` and
:class:`~lutnn.ir.LoweredHead` (and the head's ``argmax_stages``); the emitter then places a
register wherever an op reads a signal of an earlier stage, and nowhere else.  The function is
unchanged (the simulators ignore stages); only where the registers go.

The depth model counts LUT levels as a 6-input-LUT FPGA maps the ops, with carry chains free
(as :func:`lutnn.hdl.synth.logic_levels` counts them on the synthesized netlist):

* a :class:`~lutnn.ir.LutOp` of 2..6 inputs is 1 level, of 7..8 inputs 2, a constant or a
  one-input wire/inverter 0;
* an :class:`~lutnn.ir.AddOp` of two rows is 1 (a propagate LUT per bit into the carry chain),
  a one-row copy 0;
* a :class:`~lutnn.ir.CompareOp` (sum >= constant) is 1 up to 6 bits, else 2;
* an argmax made LUT ops by :func:`lutnn.ir.passes.parallel_argmax` (``class_bits``) is
  staged as the ops it is; otherwise each argmax tree level is ``score_b > score_a`` cut into
  LUTs of at most 6 inputs (:func:`lutnn.ir.lowered.greater_ops`: 1 level when both scores
  fit one LUT6, ``2 * score_width <= 6``, 2 up to 9-bit scores), 1 level per LUT level, then
  1 for the select muxes.  The staged
  head is emitted as exactly those LUTs (no carry chain: on ECP5 a ``>`` on the carry chain,
  alone in its stage, set the clock at 212 MHz), so every argmax stage holds 1 LUT level.

A single op deeper than N (a 2-level threshold comparison with N = 1) gets a stage of its
own, deeper than N: :func:`stage_depths` says where.

Ops are placed as soon as possible (in the order the lowering wrote them): an op goes into the
latest stage among its inputs, one stage later when its depth there would exceed N.  Every
node's inputs arrive registered (depth 0): the emitter registers every block's output with
``pipeline="balanced"``.
"""

from __future__ import annotations

import dataclasses

from lutnn.ir.layers import (
    ENCODERS,
    AddOp,
    CompareOp,
    LogicLayer,
    LoweredHead,
    LutOp,
    Netlist,
    OrLayer,
)

ARGMAX_SELECT_LEVELS = 1  # take ? b : a, one LUT per bit


def compare_levels(bits: int) -> int:
    """LUT levels of a comparison reading ``bits`` bits (1 LUT6 up to 6, else 2)."""
    return 1 if bits <= 6 else 2


def op_levels(op) -> int:
    """LUT levels of one logic op in the depth model (see the module docstring)."""
    if isinstance(op, LutOp):
        k = len(op.inputs)
        return 0 if k <= 1 else 1 if k <= 6 else 2
    if isinstance(op, AddOp):
        return 1 if len(op.rows) == 2 else 0
    assert isinstance(op, CompareOp)
    return compare_levels(op.width)


def _reads(op) -> list[int]:
    if isinstance(op, LutOp):
        return list(op.inputs)
    if isinstance(op, AddOp):
        return [t[0] for row in op.rows for t in row if t is not None]
    return list(range(op.value, op.value + op.width))


class _Placer:
    """ASAP placement: each signal's (stage, LUT levels since the last register)."""

    def __init__(self, levels_per_stage: int) -> None:
        self.n = levels_per_stage

    def place(self, inputs: list[tuple[int, int]], levels: int) -> tuple[int, int]:
        stage = max((s for s, _ in inputs), default=0)
        depth = max((d for s, d in inputs if s == stage), default=0) + levels
        if levels and depth > self.n:  # registering the inputs first is the only cut left
            return stage + 1, levels
        return stage, depth


def _stage_ops(ops: tuple, in_width: int, placer: _Placer) -> tuple[tuple, list[tuple]]:
    """The ops with stages, and every signal's (stage, depth)."""
    at: list[tuple[int, int]] = [(0, 0)] * in_width
    out = []
    for op in ops:
        stage, depth = placer.place([at[s] for s in _reads(op)], op_levels(op))
        out.append(dataclasses.replace(op, stage=stage))
        at += [(stage, depth)] * (op.width if isinstance(op, AddOp) else 1)
    return tuple(out), at


def stage_depths(node: LogicLayer | LoweredHead) -> list[int]:
    """The estimated LUT levels of each stage of a lowered node, as its stages stand."""
    depth: list[int] = [0] * node.stages
    at: list[tuple[int, int]] = [(0, 0)] * node.in_width

    def arrive(inputs: list[tuple[int, int]], stage: int, levels: int) -> tuple[int, int]:
        d = max((d for s, d in inputs if s == stage), default=0) + levels
        depth[stage] = max(depth[stage], d)
        return stage, d

    for op in node.ops:
        at += [arrive([at[s] for s in _reads(op)], op.stage, op_levels(op))] * (
            op.width if isinstance(op, AddOp) else 1)
    if isinstance(node, LoweredHead) and node.num_classes > 1 and not node.class_bits:
        nodes = [max(at[s + c] for c in range(node.score_width)) for s in node.scores.tolist()]
        for stages in node.argmax_stages or default_argmax_stages(node):
            *compare, select = stages
            cmp = nodes
            for stage in compare:  # one LUT level each (the comparison's LUT tree)
                cmp = [arrive(cmp, stage, 1)]
            sel = arrive([*cmp, *nodes], select, ARGMAX_SELECT_LEVELS)
            nodes = [sel] * (len(nodes) // 2) + nodes[len(nodes) - len(nodes) % 2:]
    return depth


def default_argmax_stages(head: LoweredHead) -> tuple[tuple[int, ...], ...]:
    """The argmax stages of a head whose ``argmax_stages`` is empty: all in its last stage."""
    return ((head.stages - 1,) * (head.compare_depth + 1),) * head.argmax_levels


def stage_layer(layer: LogicLayer, levels_per_stage: int) -> LogicLayer:
    """``layer`` with its ops in stages of at most ``levels_per_stage`` LUT levels."""
    ops, _ = _stage_ops(layer.ops, layer.in_width, _Placer(levels_per_stage))
    return dataclasses.replace(layer, ops=ops)


def stage_head(head: LoweredHead, levels_per_stage: int) -> LoweredHead:
    """The head with its popcounts and argmax levels in stages of at most N LUT levels."""
    placer = _Placer(levels_per_stage)
    ops, at = _stage_ops(head.ops, head.in_width, placer)
    if head.class_bits:  # a parallel argmax: LUT ops, staged above like the popcounts
        return dataclasses.replace(head, ops=ops, argmax_stages=())
    nodes = [max(at[s + c] for c in range(head.score_width)) for s in head.scores.tolist()]
    argmax = []
    while len(nodes) > 1:  # the same pairing as the emitter's tree; an odd node passes on
        cmp, stages = nodes, []
        for _ in range(head.compare_depth):  # the comparison's LUT levels
            cmp = [placer.place(cmp, 1)]
            stages.append(cmp[0][0])
        select = placer.place([*cmp, *nodes], ARGMAX_SELECT_LEVELS)
        argmax.append((*stages, select[0]))
        nodes = [select] * (len(nodes) // 2) + nodes[len(nodes) - len(nodes) % 2:]
    return dataclasses.replace(head, ops=ops, argmax_stages=tuple(argmax))


def balanced_levels(netlist: Netlist) -> int:
    """The default bound of ``pipeline="balanced"``: the deepest block that cannot be cut.

    LUT layers (their deepest table), OR layers and the encoder are one stage each however deep
    they are, so cutting the rest finer than the deepest of them buys no clock; at least 1.
    """
    deepest = 1
    for layer in netlist.layers:
        if isinstance(layer, LogicLayer) and layer.source == "lut":
            deepest = max(deepest, max((op_levels(op) for op in layer.ops), default=0))
        elif isinstance(layer, OrLayer):
            deepest = max(deepest, 1 if layer.window <= 6 else 2)
    if isinstance(netlist.encoder, ENCODERS):
        deepest = max(deepest, 1)
    return deepest


def assign_stages(netlist: Netlist, levels_per_stage: int | None = None) -> Netlist:
    """Cut every lowered threshold layer and the lowered head into pipeline stages.

    Args:
        netlist: a lowered netlist (``lower`` first; ``minimize`` first too, so that LUT levels
            count true supports).
        levels_per_stage: the most LUT levels a stage may hold; None: :func:`balanced_levels`.

    Returns:
        The netlist with stages set; LUT layers (one level) are left in one stage.

    Example:
        >>> from lutnn.ir import GroupSumHead, Netlist
        >>> from lutnn.ir.passes import lower
        >>> net = lower(Netlist(40, (), head=GroupSumHead("head", 40, 2)))
        >>> staged = assign_stages(net, 1)
        >>> staged.head.stages, staged.head.argmax_stages
        (7, ((4, 5, 6),))
    """
    n = balanced_levels(netlist) if levels_per_stage is None else levels_per_stage
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"levels_per_stage must be a positive int, got {levels_per_stage!r}")
    layers = tuple(stage_layer(layer, n) if isinstance(layer, LogicLayer) else layer
                   for layer in netlist.layers)
    head = netlist.head
    if isinstance(head, LoweredHead):
        head = stage_head(head, n)
    staged = dataclasses.replace(netlist, layers=layers, head=head)
    staged.validate()
    return staged
