"""What an encoder's bits compute, which of them are equal, and which the network reads.

An encoder bit is a comparison of one input with a constant (:class:`~lutnn.ir.InputEncoder`,
:class:`~lutnn.ir.FeatureEncoder`) or one bit of a pixel (:class:`~lutnn.ir.BitplaneEncoder`,
a wire).  Hardware needs a comparator only for a bit that something reads, and only one for
bits that compare the same input with the same constant (a distributive thermometer's
thresholds coincide where a pixel is nearly always 0).  Three functions say so, for the
passes (:mod:`~lutnn.ir.passes.prune` reads the copies through one bit) and the emitter (it
builds the read comparators, one per distinct comparison):

* :func:`encoder_keys`: per bit, ``(input, kind, constant)``: equal keys, equal bits;
* :func:`encoder_copies`: per bit, the first bit with its key;
* :func:`encoder_bits_read`: which encoder bits the first block depends on (unlowered or
  lowered netlists).
"""

from __future__ import annotations

import numpy as np

from lutnn.ir.layers import (
    BitplaneEncoder,
    FeatureEncoder,
    GroupSumHead,
    InputEncoder,
    LogicLayer,
    LoweredHead,
    LutLayer,
    LutOp,
    Netlist,
    OrLayer,
    ThresholdLayer,
)
from lutnn.ir.lowered import AddOp, CompareOp
from lutnn.ir.passes.minimize import minimize_lut

KIND_COMPARE, KIND_PLANE = 0, 1  # a bit compares its input (>=) or is one of its bits


def encoder_keys(encoder: InputEncoder | FeatureEncoder | BitplaneEncoder) -> np.ndarray:
    """int64 ``[out_width, 3]``: bit b is ``(input q, kind, constant)``, where kind
    :data:`KIND_COMPARE` means ``x[q] >= constant`` and :data:`KIND_PLANE` means bit
    ``constant`` of ``x[q]``.  Bit b is ``(c*T + t)*HW + p`` of input ``q = c*HW + p`` for
    every encoder."""
    levels = encoder.levels
    hw = encoder.in_width // encoder.channels
    bit = np.arange(encoder.out_width)
    q = (bit // (levels * hw)) * hw + bit % hw
    t = (bit // hw) % levels
    if isinstance(encoder, BitplaneEncoder):
        return np.stack([q, np.full_like(q, KIND_PLANE), 7 - t], axis=1)
    if isinstance(encoder, FeatureEncoder):
        thr = encoder.thresholds[q, t].astype(np.int64)
    else:
        thr = encoder.thresholds[t].astype(np.int64)
    return np.stack([q, np.full_like(q, KIND_COMPARE), thr], axis=1)


def encoder_copies(encoder: InputEncoder | FeatureEncoder | BitplaneEncoder) -> np.ndarray:
    """int64 ``[out_width]``: for each bit, the first bit computing the same thing (itself
    when it is the first).

    Example:
        >>> from lutnn.ir import FeatureEncoder
        >>> enc = FeatureEncoder("e", 1, 2, 8, np.array([[1, 1, 9], [5, 6, 7]], np.int32),
        ...                      np.ones(2), np.zeros(2))
        >>> encoder_copies(enc).tolist()  # bit (t*2 + q): x[0] >= 1 is bits 0 and 2
        [0, 1, 0, 3, 4, 5]
    """
    keys = encoder_keys(encoder)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return first[inverse.reshape(-1)].astype(np.int64)


def _op_reads(op) -> list[int]:
    if isinstance(op, LutOp):
        return list(op.inputs)
    if isinstance(op, AddOp):
        return [term[0] for row in op.rows for term in row if term is not None]
    assert isinstance(op, CompareOp)
    return list(range(op.value, op.value + op.width))


def _live_reads(ops: tuple, outputs: list[int], in_width: int) -> np.ndarray:
    """The input signals that ops writing (transitively) ``outputs`` read."""
    live = set(outputs)
    read = np.zeros(in_width, bool)
    for op in reversed(ops):
        width = op.width if isinstance(op, AddOp) else 1
        if not live.intersection(range(op.out, op.out + width)):
            continue
        for s in _op_reads(op):
            if s < in_width:
                read[s] = True
            else:
                live.add(s)
    return read


def _lut_reads(layer: LutLayer) -> np.ndarray:
    read = np.zeros(layer.in_width, bool)
    for row, table in zip(layer.inputs, layer.tables, strict=True):
        support, _ = minimize_lut([int(i) for i in row], table)
        read[support] = True
    return read


def encoder_bits_read(netlist: Netlist) -> np.ndarray:
    """bool ``[input_bits]``: the bits of the netlist's input vector (its encoder's output)
    that its output depends on through the first block (a LUT's true support, a threshold
    neuron's nonzero weights, an OR's inputs, a lowered layer's live ops); with no layer and
    no head, or a head first, every bit."""
    width = netlist.input_bits
    first = netlist.layers[0] if netlist.layers else netlist.head
    if isinstance(first, LutLayer):
        return _lut_reads(first)
    if isinstance(first, ThresholdLayer):
        read = np.zeros(width, bool)
        read[first.inputs[first.weights != 0]] = True
        return read
    if isinstance(first, OrLayer):
        read = np.zeros(width, bool)
        read[first.inputs] = True
        return read
    if isinstance(first, LogicLayer):
        return _live_reads(first.ops, first.outputs.tolist(), width)
    if isinstance(first, LoweredHead):  # every popcount op counts toward a score
        read = np.zeros(width, bool)
        for op in first.ops:
            read[[s for s in _op_reads(op) if s < width]] = True
        return read
    assert first is None or isinstance(first, GroupSumHead) or hasattr(first, "in_width")
    return np.ones(width, bool)  # no layer, a popcount head, or a spatial node: all of them
