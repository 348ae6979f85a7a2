"""LUT minimisation: every table of the lowered form reduced to its true support."""

from __future__ import annotations

import dataclasses

import numpy as np

from lutnn.ir.layers import LogicLayer, LoweredHead, LutOp, Netlist


def minimize_lut(inputs: list, table: np.ndarray) -> tuple[list, np.ndarray]:
    """The same function on its true support: repeated inputs merged, ignored inputs dropped.

    Args:
        inputs: the k input signals (input j = address bit j); equal values are one signal.
        table: uint8 [2**k] entries.

    Returns:
        (distinct inputs the function depends on, their table), order kept.

    Example:
        >>> minimize_lut(["a", "b", "c"], np.array([0, 0, 1, 1, 0, 0, 1, 1], np.uint8))
        (['b'], array([0, 1], dtype=uint8))
        >>> minimize_lut(["a", "a"], np.array([0, 1, 1, 0], np.uint8))  # a XOR a
        ([], array([0], dtype=uint8))
    """
    distinct = list(dict.fromkeys(inputs))
    pos = [distinct.index(s) for s in inputs]
    b = np.arange(2 ** len(distinct))
    t = table[sum(((b >> p) & 1) << j for j, p in enumerate(pos))] if inputs else table
    keep = [i for i in range(len(distinct)) if np.any(t != t[b ^ (1 << i)])]
    c = np.arange(2 ** len(keep))
    t = t[sum(((c >> n) & 1) << i for n, i in enumerate(keep))] if keep else t[:1]
    return [distinct[i] for i in keep], t.astype(np.uint8)


def _minimize_ops(ops: tuple) -> tuple:
    out = []
    for op in ops:
        if isinstance(op, LutOp):
            inputs, table = minimize_lut(list(op.inputs), op.table)
            op = dataclasses.replace(op, inputs=tuple(inputs), table=table)
        out.append(op)
    return tuple(out)


def minimize(netlist: Netlist) -> Netlist:
    """Every :class:`LutOp` of every lowered layer and head on its true support.

    Other layers are kept as they are (run :func:`~lutnn.ir.passes.lower` first to reach
    them).  Signal numbering does not change.
    """
    layers = tuple(
        dataclasses.replace(layer, ops=_minimize_ops(layer.ops))
        if isinstance(layer, LogicLayer) else layer
        for layer in netlist.layers
    )
    head = netlist.head
    if isinstance(head, LoweredHead):
        head = dataclasses.replace(head, ops=_minimize_ops(head.ops))
    return dataclasses.replace(netlist, layers=layers, head=head)
