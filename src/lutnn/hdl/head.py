"""Verilog of the lowered head: the class scores (popcounts) and the argmax over them.

:func:`head_body` writes the body of the ``<top>_head_*`` module that :mod:`lutnn.hdl.emit`
wraps around it, from a :class:`~lutnn.ir.LoweredHead`:

* its popcount logic (the head's ops, through :data:`lutnn.hdl.ops.OPS`), one ``score<c>``
  wire of ``score_width`` bits per class and, with ``scores``, their concatenation
  (class 0 in the low bits);
* the class ``cls`` (``class_width`` bits): a balanced tree of ``>`` comparators in which the
  lower-index side wins ties (level ``l``, pair ``i``: ``m<l>_<i>_take`` / ``_score`` /
  ``_class``), or, after :func:`lutnn.ir.passes.parallel_argmax`, the ``class_bits`` its LUTs
  computed among the ops;
* cut into stages (``head.stages > 1``): every signal read through the stage registers of
  :class:`~lutnn.hdl.ops.Names`, each tree level's comparison as the LUTs of
  :func:`lutnn.ir.lowered.greater_ops` in the stages ``head.argmax_stages`` names (every level
  in the last score's stage when empty), its select after them.
"""

from __future__ import annotations

from lutnn.hdl.ops import OPS, Names, bit_range, concat, lut_line, staged_ops
from lutnn.hdl.templates import render
from lutnn.ir.layers import LoweredHead
from lutnn.ir.lowered import greater_ops
from lutnn.ir.passes.stages import default_argmax_stages

# a tree node of the argmax: (its class, as a Verilog constant or wire; its score wire)
_Node = tuple[str, str]


def class_width(num_classes: int) -> int:
    """Bits of ``out_class``: ceil(log2 C), at least 1."""
    return max(1, (num_classes - 1).bit_length())


def head_body(head: LoweredHead, top: str, scores: bool) -> tuple[list[str], int]:
    """The head module's body lines and the score width (bits per class score)."""
    if head.stages > 1:
        return _staged_head_body(head, top, scores), head.score_width
    return _head_body(head, top, scores), head.score_width


# ---------------------------------------------------------------------------------------------
# combinational


def _head_body(head: LoweredHead, top: str, scores: bool) -> list[str]:
    """Popcounts with each class's score wire after the op completing it, then the argmax."""
    cw, sw = class_width(head.num_classes), head.score_width
    names = Names("g", head.in_width, {})
    score_of = {s: c for c, s in enumerate(head.scores.tolist())}
    lines: list[str] = []
    nodes: list[_Node] = []
    for op in head.ops:
        lines += OPS(op, names, top)
        if op.out in score_of:  # class c's popcount is complete
            c, score = score_of[op.out], f"score{score_of[op.out]}"
            lines.append(render("wire", range=bit_range(sw), name=score))
            lines.append(render("assign", lhs=score, rhs=f"{names.vectors[op.out]}[{sw - 1}:0]"))
            nodes.append((f"{cw}'d{c}", score))
    if scores:
        lines.append(render("assign", lhs="scores", rhs=concat([s for _, s in nodes])))
    if head.class_bits:  # a parallel argmax: its LUTs were among the ops
        lines.append(render("assign", lhs="cls",
                            rhs=concat([names.of(s) for s in head.class_bits])))
        return lines
    return lines + _argmax_tree(nodes, cw, sw)


def _argmax_tree(nodes: list[_Node], cw: int, sw: int) -> list[str]:
    """The balanced comparator tree over ``nodes`` (the left, lower-index side wins ties),
    ending with ``cls``."""
    lines: list[str] = []
    level = 0
    while len(nodes) > 1:
        nxt = []
        for i in range(0, len(nodes) - 1, 2):
            (cls_a, score_a), (cls_b, score_b) = nodes[i], nodes[i + 1]
            tag = f"m{level}_{i // 2}"
            if len(nodes) == 2:  # the root: only its class is needed
                lines.append(render("argmax_root", take=f"{tag}_take", score_a=score_a,
                                    score_b=score_b, class_msb=cw - 1, cls=f"{tag}_class",
                                    cls_a=cls_a, cls_b=cls_b))
            else:
                lines.append(render("argmax_step", take=f"{tag}_take", score_a=score_a,
                                    score_b=score_b, score_msb=sw - 1, score=f"{tag}_score",
                                    class_msb=cw - 1, cls=f"{tag}_class", cls_a=cls_a,
                                    cls_b=cls_b))
            nxt.append((f"{tag}_class", f"{tag}_score"))
        if len(nodes) % 2:
            nxt.append(nodes[-1])
        nodes, level = nxt, level + 1
    lines.append(render("assign", lhs="cls", rhs=nodes[0][0]))
    return lines


# ---------------------------------------------------------------------------------------------
# cut into stages


def _staged_head_body(head: LoweredHead, top: str, scores: bool) -> list[str]:
    """The head cut into stages: popcounts, the score wires, then the class in the last
    stage (the parallel argmax's bits, or the staged comparator tree)."""
    names = Names("g", head.in_width, {}, staged=True)
    lines = staged_ops(head.ops, names, top)
    score_lines, nodes = _staged_scores(head, names)
    lines += score_lines
    last = head.stages - 1
    if scores:
        names.stage = last
        rhs = concat([names.at(score) for _, score in nodes])
        lines += names.take_registers() + [render("assign", lhs="scores", rhs=rhs)]
    if head.class_bits:  # a parallel argmax: its LUTs were among the ops
        names.stage = last
        rhs = concat([names.of(s) for s in head.class_bits])
        return lines + names.take_registers() + [render("assign", lhs="cls", rhs=rhs)]
    return lines + _staged_argmax_tree(head, nodes, names, top)


def _staged_scores(head: LoweredHead, names: Names) -> tuple[list[str], list[_Node]]:
    """One ``score<c>`` wire per class, in the stage its popcount ends."""
    cw, sw = class_width(head.num_classes), head.score_width
    lines: list[str] = []
    nodes: list[_Node] = []
    for c, first in enumerate(head.scores.tolist()):
        names.stage = max(op.stage for op in head.ops if op.out == first)
        score = f"score{c}"
        rhs = f"{names.vector(first)}[{sw - 1}:0]"
        lines += names.take_registers() + [render("wire", range=bit_range(sw), name=score),
                                           render("assign", lhs=score, rhs=rhs)]
        names.written(score, sw)
        nodes.append((f"{cw}'d{c}", score))
    return lines, nodes


def _staged_argmax_tree(head: LoweredHead, nodes: list[_Node], names: Names,
                        top: str) -> list[str]:
    """Each tree level's compare (LUTs) and select in the stages ``head.argmax_stages`` names,
    ending with ``cls`` in the last stage."""
    cw, sw = class_width(head.num_classes), head.score_width
    levels = head.argmax_stages or default_argmax_stages(head)
    compare = greater_ops(sw)
    lines: list[str] = []
    for level, (*compare_stages, select) in enumerate(levels):
        nxt = []
        for i in range(0, len(nodes) - 1, 2):
            (cls_a, score_a), (cls_b, score_b) = nodes[i], nodes[i + 1]
            tag = f"m{level}_{i // 2}"
            lines += _compare_luts(compare, compare_stages, score_a, score_b, f"{tag}_take",
                                   names, top)
            names.stage = select
            step = render("argmax_select", take=names.at(f"{tag}_take"),
                          score_a=names.at(score_a), score_b=names.at(score_b),
                          score_msb=sw - 1, score=f"{tag}_score", class_msb=cw - 1,
                          cls=f"{tag}_class", cls_a=names.at(cls_a), cls_b=names.at(cls_b))
            lines += names.take_registers() + [step]
            names.written(f"{tag}_score", sw)
            names.written(f"{tag}_class", cw)
            nxt.append((f"{tag}_class", f"{tag}_score"))
        if len(nodes) % 2:
            nxt.append(nodes[-1])
        nodes = nxt
    names.stage = head.stages - 1
    rhs = names.at(nodes[0][0])
    return lines + names.take_registers() + [render("assign", lhs="cls", rhs=rhs)]


def _bit(name: str, i: int, width: int) -> str:
    """Bit ``i`` of a ``width``-bit signal (a 1-bit one is a scalar: no part-select)."""
    return name if width == 1 else f"{name}[{i}]"


def _compare_luts(ops: tuple, stages: list[int], score_a: str, score_b: str, take: str,
                  names: Names, top: str) -> list[str]:
    """``take = score_b > score_a`` as the LUTs of :func:`lutnn.ir.lowered.greater_ops`, LUT
    level l in stage ``stages[l]`` (reading the scores through registers as needed)."""
    width = ops[0].out // 2  # signals 0..width-1: score_a's bits, then score_b's
    lines: list[str] = []
    signal: dict[int, str] = {}  # an op's output -> its wire
    for j, op in enumerate(ops):
        names.stage = stages[op.stage]
        inputs = [names.at(signal[s]) if s in signal else
                  _bit(names.at(score_a if s < width else score_b), s % width, width)
                  for s in op.inputs]
        out = take if j == len(ops) - 1 else f"{take}{j}"
        signal[op.out] = out
        body = [render("wire", range="", name=out),
                lut_line(top, f"u_{out}", inputs, op.table, out)]
        lines += names.take_registers() + body
        names.written(out)
    return lines


__all__ = ["class_width", "head_body"]
