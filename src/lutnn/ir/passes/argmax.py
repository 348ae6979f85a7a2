"""``parallel_argmax``: the lowered head's argmax as LUT ops, every pair compared at once.

The default argmax of a :class:`~lutnn.ir.LoweredHead` is a balanced tree of ``ceil(log2 C)``
comparison + select levels, which the emitter writes itself (and
:func:`lutnn.ir.passes.assign_stages` stages level by level): cheap in LUTs, but cut into
1-LUT-level stages it costs (comparison levels + 1) stages per tree level, 12 for 10 classes
of 7-bit scores.  This pass instead appends the all-pairs argmax of
:func:`lutnn.ir.lowered.parallel_argmax_ops` to the head's ops (C(C-1)/2 comparisons in
parallel, an AND of its C - 1 wins per class, a one-hot -> index OR per class bit) and points
``class_bits`` at the index: 5 LUT levels for 10 classes, staged like any other op, at about
twice the argmax LUTs.  Ties go to the lowest index as with the tree.
"""

from __future__ import annotations

import dataclasses

from lutnn.ir.layers import LoweredHead, Netlist
from lutnn.ir.lowered import _op_width, parallel_argmax_ops
from lutnn.ir.options import ARGMAX_OPTIONS


def parallel_argmax(netlist: Netlist) -> Netlist:
    """The lowered netlist with its head's argmax as LUT ops (no change without a lowered
    head, or when it already has one).

    Example:
        >>> from lutnn.ir import GroupSumHead, Netlist
        >>> from lutnn.ir.passes import lower
        >>> net = parallel_argmax(lower(Netlist(40, (), head=GroupSumHead("head", 40, 4))))
        >>> net.head.argmax, len(net.head.class_bits)
        ('parallel', 2)
    """
    head = netlist.head
    if not isinstance(head, LoweredHead) or head.class_bits:
        return netlist
    free = head.in_width + sum(_op_width(op) for op in head.ops)
    ops, bits = parallel_argmax_ops(head.num_classes, head.score_width, head.scores.tolist(),
                                    free, head.num_classes)
    stage = max((op.stage for op in head.ops), default=0)  # unstaged: 0
    ops = tuple(dataclasses.replace(op, stage=stage) for op in ops)
    new = dataclasses.replace(head, ops=head.ops + ops, class_bits=bits, argmax_stages=())
    out = dataclasses.replace(netlist, head=new)
    out.validate()
    return out


__all__ = ["ARGMAX_OPTIONS", "parallel_argmax"]
