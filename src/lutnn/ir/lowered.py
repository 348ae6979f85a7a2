"""The lowered form of the IR: logic over numbered signals (LUT, adder and comparator ops).

Made by :mod:`lutnn.ir.passes.lower` (and staged by :mod:`lutnn.ir.passes.stages`), read by
the emitters: a :class:`LogicLayer` replaces a bit layer, a :class:`LoweredHead` the class
head.  Signals ``0 .. in_width-1`` are the layer's inputs; each op writes the next ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from lutnn.ir.schema import MAX_LUT_K, ArraySpec, check_arrays

Term = tuple[int, bool] | None  # (signal, inverted) in an adder row; None is a constant 0


@dataclass(frozen=True, eq=False)
class LutOp:
    """``signal[out] = table[sum_j signal[inputs[j]] << j]``: one k-input table, k = 0..8.

    A table over no inputs is a constant; over one input with table ``[0, 1]`` a wire.
    ``stage`` (on every op) is the pipeline stage inside its node that computes it: 0 unless
    :func:`lutnn.ir.passes.assign_stages` cut the node; a signal read by an op of a later stage
    passes through a register per stage boundary (the emitter places them, nothing else).
    """

    out: int  # the signal it writes
    group: int  # the output bit (or class) whose logic it is part of
    inputs: tuple[int, ...]  # signals read (input j = address bit j)
    table: np.ndarray  # uint8 [2**k]
    stage: int = 0  # pipeline stage inside the node (see above)

    @property
    def width(self) -> int:
        return 1


@dataclass(frozen=True, eq=False)
class AddOp:
    """``signal[out : out + width] = (row_0 + row_1) mod 2**width``, least significant first.

    With one row it is a plain copy of that row.  A row holds ``width`` terms; a term is
    ``(signal, inverted)`` (the signal, or its complement) or None (a constant 0).
    """

    out: int  # the first of the ``width`` signals it writes (bit c at out + c)
    group: int
    width: int
    rows: tuple[tuple[Term, ...], ...]  # 1 or 2 rows of ``width`` terms
    stage: int = 0  # pipeline stage inside the node


@dataclass(frozen=True, eq=False)
class CompareOp:
    """``signal[out] = (v >= threshold) XOR invert``, v the number in signals value..value+width-1.
    """

    out: int
    group: int
    value: int  # first (least significant) signal of the compared number
    width: int  # its bits
    threshold: int
    invert: bool
    stage: int = 0  # pipeline stage inside the node


LogicOp = LutOp | AddOp | CompareOp


def _op_width(op: LogicOp) -> int:
    return op.width if isinstance(op, AddOp) else 1


def _check_ops(name: str, in_width: int, ops: tuple) -> tuple[set[int], list[int]]:
    """Check that ``ops`` write consecutive new signals from ``in_width`` on and read only
    earlier ones, of no later stage; return the signals written by single-bit ops (LutOp,
    CompareOp) and the stage of every signal (inputs: 0)."""
    if in_width <= 0:
        raise ValueError(f"layer {name!r}: in_width must be positive, got {in_width}")
    free, single = in_width, set()
    stage_of = [0] * in_width

    def read(signal: int, i: int) -> None:
        if not 0 <= signal < free:
            raise ValueError(f"layer {name!r}: op {i} reads signal {signal}, not yet written")
        if stage_of[signal] > ops[i].stage:
            raise ValueError(f"layer {name!r}: op {i} (stage {ops[i].stage}) reads signal "
                             f"{signal} of the later stage {stage_of[signal]}")

    for i, op in enumerate(ops):
        if not isinstance(op, (LutOp, AddOp, CompareOp)):
            raise ValueError(f"layer {name!r}: op {i} is a {type(op).__name__}, not a logic op")
        if op.out != free:
            raise ValueError(f"layer {name!r}: op {i} writes signal {op.out}, expected {free}")
        if isinstance(op.stage, bool) or not isinstance(op.stage, int) or op.stage < 0:
            raise ValueError(f"layer {name!r}: op {i} has stage {op.stage!r}, not an int >= 0")
        if isinstance(op, LutOp):
            k = len(op.inputs)
            if k > MAX_LUT_K:
                raise ValueError(f"layer {name!r}: op {i} has {k} inputs, at most {MAX_LUT_K}")
            if (not isinstance(op.table, np.ndarray) or op.table.dtype != np.uint8
                    or op.table.shape != (2**k,) or (op.table > 1).any()):
                raise ValueError(f"layer {name!r}: op {i} needs a uint8 [{2**k}] 0/1 table")
            for s in op.inputs:
                read(s, i)
            single.add(op.out)
        elif isinstance(op, AddOp):
            if op.width < 1 or len(op.rows) not in (1, 2):
                raise ValueError(f"layer {name!r}: op {i} must add 1 or 2 rows into >= 1 bit")
            for row in op.rows:
                if len(row) != op.width:
                    raise ValueError(f"layer {name!r}: op {i} rows must have {op.width} terms")
                for term in row:
                    if term is not None:
                        read(term[0], i)
        else:
            if op.width < 1:
                raise ValueError(f"layer {name!r}: op {i} compares a number of no bits")
            read(op.value, i)
            read(op.value + op.width - 1, i)
            single.add(op.out)
        free += _op_width(op)
        stage_of += [op.stage] * _op_width(op)
    return single, stage_of


COMPARE_LUT_INPUTS = 6  # the widest LUT of a chunked argmax comparison (one LUT6)
_CHUNK_BITS = COMPARE_LUT_INPUTS // 2  # bits of each score a first-level LUT reads


def _split(n: int, parts: int) -> list[int]:
    """``n`` items in ``parts`` runs as equal as possible (the larger ones first)."""
    return [n // parts + (i < n % parts) for i in range(parts)]


def _table(k: int, rule) -> np.ndarray:
    """The uint8 [2**k] table of ``rule(bit)``, ``bit(j)`` the address bit j as an array."""
    a = np.arange(2**k)
    return np.asarray(rule(lambda j: (a >> j) & 1), dtype=bool).astype(np.uint8).reshape(2**k)


def greater_ops(width: int) -> tuple[LutOp, ...]:
    """``b > a`` for two unsigned ``width``-bit numbers as a tree of LUTs of <= 6 inputs.

    Signals ``0..width-1`` are a's bits and ``width..2*width-1`` b's (least significant
    first); the ops write from ``2*width`` on and the last one's output is ``b > a``.  An op's
    ``stage`` is its LUT level (0: it reads the numbers; level l reads only level l-1).  Up to
    3 bits per number it is one LUT; wider, the numbers are cut into chunks of at most 3 bits
    whose LUTs give ``gt`` (b's chunk > a's) and ``eq`` (no ``eq`` for the lowest chunk), then
    groups of 2..3 (gt, eq) pairs merge into one (``gt = gt_hi | eq_hi & gt_lo``, ``eq`` the
    AND) per level until one ``gt`` is left: 2 levels up to 9 bits, 3 up to 27.  What the
    argmax of a pipelined head compares with (:class:`LoweredHead`).

    Example:
        >>> [(len(op.inputs), op.stage) for op in greater_ops(6)]
        [(6, 0), (6, 0), (6, 0), (3, 1)]
    """
    if width < 1:
        raise ValueError(f"a comparison needs >= 1 bit, got {width}")
    ops: list[LutOp] = []

    def lut(inputs: list[int], table: np.ndarray, level: int) -> int:
        ops.append(LutOp(2 * width + len(ops), 0, tuple(inputs), table, stage=level))
        return ops[-1].out

    def value(bit, lo: int, n: int):  # the n-bit number at address bits lo.. (LSB first)
        return sum(bit(lo + j) << j for j in range(n))

    chunks = _split(width, -(-width // _CHUNK_BITS))[::-1]  # sizes from the LSB up
    pairs: list[tuple[int, int | None]] = []  # per chunk, LSB first: (gt, eq or None)
    lo = 0
    for i, n in enumerate(chunks):
        inputs = [*range(lo, lo + n), *range(width + lo, width + lo + n)]
        gt = lut(inputs, _table(2 * n, lambda bit, n=n: value(bit, n, n) > value(bit, 0, n)),
                 0)
        eq = (None if i == 0 else
              lut(inputs, _table(2 * n, lambda bit, n=n: value(bit, n, n) == value(bit, 0, n)),
                  0))
        pairs.append((gt, eq))
        lo += n
    level = 0
    while len(pairs) > 1:
        level += 1
        merged, at = [], 0
        for size in _split(len(pairs), -(-len(pairs) // 3))[::-1]:
            group, at = pairs[at:at + size], at + size
            # gt of the group: the highest pair whose eq fails decides (inputs gt0, gt1, eq1, ...)
            inputs = [group[0][0]] + [s for gt, eq in group[1:] for s in (gt, eq)]

            def rule(bit, size=size):
                result = bit(0)
                for j in range(1, size):
                    result = bit(2 * j - 1) | (bit(2 * j) & result)
                return result

            gt = lut(inputs, _table(len(inputs), rule), level)
            eq = None
            if group[0][1] is not None:  # not the lowest group: its eq is needed above
                eqs = [e for _, e in group]
                m = len(eqs)
                eq = lut(eqs, _table(m, lambda bit, m=m: np.all([bit(j) for j in range(m)],
                                                                 axis=0)), level)
            merged.append((gt, eq))
        pairs = merged
    return tuple(ops)


def _and_or_tree(ops: list[LutOp], free: int, group: int, terms: list[tuple[int, bool]],
                 is_and: bool) -> int:
    """The AND (or OR) of ``terms`` ((signal, inverted) literals) as LUTs of <= 6 inputs
    appended to ``ops`` (writing from ``free`` on): groups of <= 6 per level, as few levels as
    possible; the returned signal is the result (one LUT even for a single literal: a wire or
    an inverter, 0 levels)."""
    while True:
        sizes = _split(len(terms), -(-len(terms) // COMPARE_LUT_INPUTS))
        level, at = [], 0
        for size in sizes:
            group_terms, at = terms[at:at + size], at + size
            inv = [neg for _, neg in group_terms]

            def rule(bit, inv=inv):
                lits = [bit(j) ^ int(neg) for j, neg in enumerate(inv)]
                out = lits[0]
                for lit in lits[1:]:
                    out = (out & lit) if is_and else (out | lit)
                return out

            ops.append(LutOp(free + len(ops), group, tuple(s for s, _ in group_terms),
                             _table(len(inv), rule)))
            level.append((ops[-1].out, False))
        if len(level) == 1:
            return level[0][0]
        terms = level


def parallel_argmax_ops(num_classes: int, score_width: int, scores: list[int], free: int,
                        group: int) -> tuple[tuple[LutOp, ...], tuple[int, ...]]:
    """The argmax of ``num_classes`` scores as LUTs of <= 6 inputs, all pairs at once.

    For every pair ``i < j`` one comparison ``score_j > score_i`` (:func:`greater_ops`), so
    class c beats j < c when its score is greater and j > c when it is greater or equal (ties:
    the lowest index wins); class c's one-hot bit is the AND of its C - 1 wins (LUTs of <= 6
    literals, the comparison outcomes read inverted where needed), and out_class bit b the OR
    of the one-hot bits of the classes with bit b set.  Exactly one class wins every pair, so
    the one-hot is one-hot and the OR is the index.  Depth: the comparison's LUT levels +
    ceil(log6(C - 1)) + ceil(log6(C / 2)) (10 classes, 7-bit scores: 2 + 2 + 1), against the
    tree's ceil(log2 C) x (comparison + select); area: C(C-1)/2 comparisons instead of C - 1
    plus the selects.

    ``scores[c]`` is the first signal of class c's score (LSB first); the ops write signals
    from ``free`` on, with stage 0 (stage them with :func:`lutnn.ir.passes.assign_stages`),
    the comparisons and the encoding in ``group``, class c's AND in group c.  Returns the ops
    and the signals of out_class's bits, least significant first.

    Example:
        >>> ops, bits = parallel_argmax_ops(2, 1, [0, 1], 2, 2)
        >>> len(ops), bits == (ops[-1].out,)
        (4, True)
    """
    if num_classes < 2 or score_width < 1:
        raise ValueError("an argmax needs >= 2 classes of >= 1-bit scores, got "
                         f"{num_classes} x {score_width}")
    compare = greater_ops(score_width)
    ops: list[LutOp] = []
    gt: dict[tuple[int, int], int] = {}  # (i, j), i < j: signal of score_j > score_i
    for i in range(num_classes):
        for j in range(i + 1, num_classes):
            base = free + len(ops)

            def remap(s: int, i=i, j=j, base=base) -> int:
                if s < score_width:
                    return scores[i] + s
                if s < 2 * score_width:
                    return scores[j] + s - score_width
                return base + s - 2 * score_width

            ops += [LutOp(remap(op.out), group, tuple(remap(s) for s in op.inputs), op.table)
                    for op in compare]
            gt[(i, j)] = ops[-1].out
    onehot = []
    for c in range(num_classes):
        wins = [(gt[(j, c)], False) for j in range(c)]  # score_c > score_j
        wins += [(gt[(c, j)], True) for j in range(c + 1, num_classes)]  # not score_j > c's
        onehot.append(_and_or_tree(ops, free, c, wins, is_and=True))
    bits = []
    for b in range(max(1, (num_classes - 1).bit_length())):
        members = [(onehot[c], False) for c in range(num_classes) if c >> b & 1]
        bits.append(_and_or_tree(ops, free, group, members, is_and=False))
    return tuple(ops), tuple(bits)


def _stage_count(ops: tuple, more: tuple[int, ...] = ()) -> int:
    """Pipeline stages of a lowered node: one more than the last stage of its ops (and
    ``more``); 1 for an uncut node."""
    return 1 + max([op.stage for op in ops] + list(more), default=0)


@dataclass(frozen=True, eq=False)
class LogicLayer:
    """A bit layer lowered to logic: ``ops`` evaluated in order over numbered signals.

    Signals ``0..in_width-1`` are the layer's input bits; each op writes the next free signals
    (one, or ``width`` for an :class:`AddOp`).  Output bit n is signal ``outputs[n]``, written
    by a :class:`LutOp` or a :class:`CompareOp`.  Made by :mod:`lutnn.ir.passes.lower`; it is
    the emitter's input form and is not saved (save the netlist before lowering).

    Attributes:
        name: the source layer's name.
        in_width: width of the input bit vector.
        ops: the logic, in evaluation order.
        outputs: int32 [N], the signal of each output bit.
        source: the kind of layer it was lowered from ("lut", "threshold"), for comments.
        note: one line about the source layer ("k=6"), for comments.
    """

    name: str
    in_width: int
    ops: tuple[LogicOp, ...]
    outputs: np.ndarray  # int32 [N]
    source: str
    note: str

    ARRAYS: ClassVar = (ArraySpec("outputs", np.dtype(np.int32), ("out_width",)),)

    @property
    def out_width(self) -> int:
        return int(self.outputs.shape[0])

    @property
    def stages(self) -> int:
        """Pipeline stages inside the layer (``stages - 1`` register ranks); 1 when uncut."""
        return _stage_count(self.ops)

    def validate(self) -> None:
        check_arrays(self)
        single, _ = _check_ops(self.name, self.in_width, self.ops)
        outs = self.outputs.tolist()
        if len(set(outs)) != len(outs) or not set(outs) <= single:
            raise ValueError(f"layer {self.name!r}: outputs must be distinct signals written "
                             "by LUT or compare ops")


@dataclass(frozen=True, eq=False)
class LoweredHead:
    """A :class:`GroupSumHead` lowered: popcount logic per class, then the argmax.

    ``score[c]`` is the ``score_width``-bit number in signals ``scores[c] ..
    scores[c] + score_width - 1`` (an :class:`AddOp`'s output); the class is the argmax,
    lowest index on ties.  Signals are numbered as in :class:`LogicLayer`.

    The argmax is a balanced tree of ``ceil(log2 C)`` levels of pairwise comparisons (the
    lower-index side wins ties; an odd node out passes to the next level), each a
    ``score_b > score_a`` and a select of the larger score and its class.  ``argmax_stages``
    (set by :func:`lutnn.ir.passes.assign_stages`) gives per tree level one stage per LUT level
    of the comparison as :func:`greater_ops` cuts it (``compare_depth`` of them), then the
    select's; the emitter then writes the comparison as those LUTs.  Empty (the default):
    every level in the stage of the last score, the comparison a plain ``>``.

    ``class_bits`` non-empty: the argmax is no tree but LUT ops among ``ops``
    (:func:`parallel_argmax_ops`, added by :func:`lutnn.ir.passes.parallel_argmax`), staged
    like any other op, and out_class bit b is signal ``class_bits[b]``; ``argmax_stages`` is
    then empty.
    """

    name: str
    in_width: int
    num_classes: int
    ops: tuple[LogicOp, ...]
    scores: np.ndarray  # int32 [C]
    score_width: int
    argmax_stages: tuple[tuple[int, int], ...] = ()  # per tree level: (compare, select) stage
    class_bits: tuple[int, ...] = ()  # out_class's signals (LSB first) of an argmax in ops

    ARRAYS: ClassVar = (ArraySpec("scores", np.dtype(np.int32), ("num_classes",)),)

    @property
    def group_size(self) -> int:
        return self.in_width // self.num_classes

    @property
    def argmax(self) -> str:
        """"parallel" when the argmax is LUT ops (``class_bits``), else "tree"."""
        return "parallel" if self.class_bits else "tree"

    @property
    def argmax_levels(self) -> int:
        """Levels of the argmax tree: ceil(log2 C)."""
        return (self.num_classes - 1).bit_length()

    @property
    def compare_depth(self) -> int:
        """LUT levels of one argmax comparison cut into LUTs (:func:`greater_ops`)."""
        return 1 + greater_ops(self.score_width)[-1].stage

    @property
    def stages(self) -> int:
        """Pipeline stages inside the head (``stages - 1`` register ranks); 1 when uncut."""
        return _stage_count(self.ops, tuple(s for level in self.argmax_stages for s in level))

    def validate(self) -> None:
        if self.num_classes < 2 or self.in_width % self.num_classes:
            raise ValueError(f"layer {self.name!r}: in_width ({self.in_width}) must be a "
                             f"multiple of num_classes ({self.num_classes}) >= 2")
        check_arrays(self)
        single, stage_of = _check_ops(self.name, self.in_width, self.ops)
        if self.class_bits:
            if (len(self.class_bits) != max(1, (self.num_classes - 1).bit_length())
                    or not set(self.class_bits) <= single or self.argmax_stages):
                raise ValueError(f"layer {self.name!r}: class_bits must be ceil(log2 C) "
                                 "signals written by LUT ops, and argmax_stages empty")
        free = self.in_width + sum(_op_width(op) for op in self.ops)
        if self.score_width < 1 or (self.scores.size and (
                self.scores.min() < 0 or self.scores.max() + self.score_width > free)):
            raise ValueError(f"layer {self.name!r}: scores must be written signals")
        if self.argmax_stages:
            n = self.compare_depth + 1
            if len(self.argmax_stages) != self.argmax_levels:
                raise ValueError(f"layer {self.name!r}: argmax_stages must give "
                                 f"{self.argmax_levels} tuples of stages (one per tree level)")
            ready = max(stage_of[s + c] for s in self.scores.tolist()
                        for c in range(self.score_width))
            for level, stages in enumerate(self.argmax_stages):
                if (len(stages) != n or not all(isinstance(v, int) for v in stages)
                        or stages[0] < ready
                        or any(b < a for a, b in zip(stages, stages[1:], strict=False))):
                    raise ValueError(f"layer {self.name!r}: argmax level {level} stages "
                                     f"{stages} must be {n} ints (the comparison's "
                                     f"{n - 1} LUT levels, then the select), nondecreasing "
                                     f"from {ready}")
                ready = stages[-1]
