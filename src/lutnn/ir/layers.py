"""The lutnn IR: frozen, typed layers of a binary network, read by the simulator and emitters.

A :class:`Netlist` is a chain: 8-bit pixels -> optional :class:`InputEncoder` (or W-bit
fixed-point features -> :class:`FeatureEncoder`) -> layers
(:class:`LutLayer`, :class:`ThresholdLayer`, :class:`OrLayer`) -> optional
:class:`GroupSumHead` (class popcounts + argmax).  Every layer reads a flat vector of
``in_width`` bits and writes ``out_width`` bits; connectivity is explicit (``inputs`` index
the previous layer's bits), so lowered convolutions, padding and pooling windows are already
resolved into indices and nothing in hardware needs to know about images.

Each node class declares its arrays once (``ARRAYS``, a tuple of :class:`ArraySpec`: name,
dtype, shape in terms of the node's sizes); ``validate()``, save/load and the summary read it.
:class:`LogicLayer` and :class:`LoweredHead` are the *lowered* form the passes in
:mod:`lutnn.ir.passes` make for the emitter (LUTs, adders and comparators over signals).

Conventions (as in :mod:`lutnn`): bit 1 stands for +1; LUT address = sum(bit_j << j);
ties in the argmax go to the lowest class index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

MAX_LUT_K = 8  # widest table the IR (and so the simulators and the emitter) holds


@dataclass(frozen=True)
class ArraySpec:
    """One array field of an IR node: name, dtype, and shape in terms of the node's sizes.

    Each entry of ``shape`` names a size property of the node (``"out_width"``, ``"k"``...);
    sizes are read off the node's arrays, so a declaration like ``("out_width", "table_size")``
    checks that two arrays agree.  :func:`check_arrays`, save/load and the summary read these
    declarations; nothing else lists a node's arrays.
    """

    name: str
    dtype: np.dtype
    shape: tuple[str, ...]


def check_arrays(node: Any) -> None:
    """Check every array ``type(node).ARRAYS`` declares: type, dtype, rank, then shape.

    Raises:
        ValueError: naming the layer, the array and what is wrong.
    """
    specs: tuple[ArraySpec, ...] = type(node).ARRAYS
    for spec in specs:  # type, dtype and rank first: the size properties read the shapes
        arr = getattr(node, spec.name)
        if not isinstance(arr, np.ndarray):
            raise ValueError(f"layer {node.name!r}: {spec.name} must be a numpy array, "
                             f"got {type(arr).__name__}")
        if arr.dtype != spec.dtype:
            raise ValueError(f"layer {node.name!r}: {spec.name} must have dtype {spec.dtype}, "
                             f"got {arr.dtype}")
        if arr.ndim != len(spec.shape):
            raise ValueError(f"layer {node.name!r}: {spec.name} must be {len(spec.shape)}-D, "
                             f"got shape {arr.shape}")
    for spec in specs:
        arr = getattr(node, spec.name)
        want = tuple(int(getattr(node, size)) for size in spec.shape)
        if arr.shape != want:
            raise ValueError(f"layer {node.name!r}: {spec.name} must have shape {want} "
                             f"({', '.join(spec.shape)}), got {arr.shape}")


def _check_indices(layer: str, inputs: np.ndarray, in_width: int) -> None:
    if in_width <= 0:
        raise ValueError(f"layer {layer!r}: in_width must be positive, got {in_width}")
    if inputs.size and (inputs.min() < 0 or inputs.max() >= in_width):
        raise ValueError(
            f"layer {layer!r}: inputs must index 0..{in_width - 1}, "
            f"got range {inputs.min()}..{inputs.max()}"
        )


@dataclass(frozen=True, eq=False)
class InputEncoder:
    """Pixel comparators: ``bit[(c*T + t)*HW + p] = pixel[c*HW + p] >= thresholds[t]``.

    Attributes:
        name: layer name (sanitized for HDL by the emitter).
        channels: C, the image channels.
        pixels: total 8-bit pixel inputs, C*H*W, flattened channel-major (c*H*W + h*W + w).
        thresholds: int16 [T], strictly increasing, each in 0..256 (0: always 1, 256: always 0).
    """

    name: str
    channels: int
    pixels: int
    thresholds: np.ndarray  # int16 [T]

    ARRAYS: ClassVar = (ArraySpec("thresholds", np.dtype(np.int16), ("levels",)),)

    @property
    def levels(self) -> int:
        return int(self.thresholds.shape[0])

    @property
    def in_width(self) -> int:
        """Number of 8-bit pixel inputs (not bits)."""
        return self.pixels

    @property
    def out_width(self) -> int:
        return self.pixels * self.levels

    def validate(self) -> None:
        check_arrays(self)
        t = self.thresholds
        if t.size == 0:
            raise ValueError(f"layer {self.name!r}: thresholds must not be empty")
        if t.min() < 0 or t.max() > 256 or np.any(np.diff(t) <= 0):
            raise ValueError(
                f"layer {self.name!r}: thresholds must be strictly increasing in 0..256, got {t}"
            )
        if self.channels <= 0 or self.pixels <= 0 or self.pixels % self.channels:
            raise ValueError(
                f"layer {self.name!r}: pixels ({self.pixels}) must be a positive multiple of "
                f"channels ({self.channels})"
            )


MAX_FEATURE_WIDTH = 24  # widest fixed-point feature (float64 holds every value exactly)


@dataclass(frozen=True, eq=False)
class FeatureEncoder:
    """Per-feature comparators on W-bit unsigned fixed-point inputs: thermometer codes with
    thresholds of their own for every input (tabular features, or pixels of a distributive
    thermometer).

    The hardware input is ``features`` (P) unsigned integers of ``width`` (W) bits,
    ``x_fixed[q]`` for ``q = c*HW + p`` (channel-major, ``HW = P / channels``).  Output bit

        ``bit[(c*T + t)*HW + p] = x_fixed[c*HW + p] >= thresholds[c*HW + p, t]``

    so for a table (``channels == features``, HW = 1) bit ``f*T + t`` is
    ``x_fixed[f] >= thresholds[f, t]``; for images it is the bit order of
    :class:`InputEncoder`.  A threshold of 0 gives a constant 1, one of ``2**W`` a constant 0.

    The float -> fixed-point mapping happens before the hardware (by :meth:`to_fixed`, i.e.
    ``lutnn sim``, and identically in the PyTorch encoder), in float64, in this order:

        ``x_fixed[q] = clip(floor((x[q] - offset[q]) * scale[q] + 1/2), 0, 2**W - 1)``

    Attributes:
        name: layer name.
        channels: C (the image channels; P for a table).
        features: P, the fixed-point inputs.
        width: W, bits per input (1..24).
        thresholds: int32 [P, T], non-decreasing along T, each in 0..2**W.
        scale: float64 [P], finite and > 0.
        offset: float64 [P], finite.
    """

    name: str
    channels: int
    features: int
    width: int
    thresholds: np.ndarray  # int32 [P, T]
    scale: np.ndarray  # float64 [P]
    offset: np.ndarray  # float64 [P]

    ARRAYS: ClassVar = (
        ArraySpec("thresholds", np.dtype(np.int32), ("features", "levels")),
        ArraySpec("scale", np.dtype(np.float64), ("features",)),
        ArraySpec("offset", np.dtype(np.float64), ("features",)),
    )

    @property
    def levels(self) -> int:
        """T, the comparators per input."""
        return int(self.thresholds.shape[1])

    @property
    def in_width(self) -> int:
        """Number of W-bit inputs (not bits)."""
        return self.features

    @property
    def out_width(self) -> int:
        return self.features * self.levels

    @property
    def max_value(self) -> int:
        """``2**W - 1``, the largest input."""
        return (1 << self.width) - 1

    def validate(self) -> None:
        if isinstance(self.width, bool) or not 1 <= self.width <= MAX_FEATURE_WIDTH:
            raise ValueError(f"layer {self.name!r}: width must be in 1..{MAX_FEATURE_WIDTH}, "
                             f"got {self.width}")
        check_arrays(self)
        if self.channels <= 0 or self.features <= 0 or self.features % self.channels:
            raise ValueError(f"layer {self.name!r}: features ({self.features}) must be a "
                             f"positive multiple of channels ({self.channels})")
        t = self.thresholds
        if t.shape[1] == 0:
            raise ValueError(f"layer {self.name!r}: thresholds must not be empty")
        if t.min() < 0 or t.max() > 1 << self.width or np.any(np.diff(t, axis=1) < 0):
            raise ValueError(f"layer {self.name!r}: thresholds must be non-decreasing per "
                             f"input, in 0..{1 << self.width}")
        if not (np.isfinite(self.scale).all() and (self.scale > 0).all()
                and np.isfinite(self.offset).all()):
            raise ValueError(f"layer {self.name!r}: scale must be finite and > 0, offset finite")

    def to_fixed(self, x: np.ndarray) -> np.ndarray:
        """The hardware input of ``x`` ``[B, P]``: int64 ``[B, P]`` in ``0..2**W - 1``.

        Integers are taken as fixed-point values already (and must lie in range); floats go
        through the mapping of the class docstring.

        Raises:
            ValueError: a wrong shape, an integer out of range, or a NaN / infinite float.

        Example:
            >>> enc = FeatureEncoder("e", 1, 1, 4, np.array([[8]], np.int32),
            ...                      np.array([15.0]), np.array([0.0]))
            >>> enc.to_fixed(np.array([[0.5], [0.53], [2.0]])).ravel().tolist()
            [8, 8, 15]
        """
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != self.features:
            shape = getattr(x, "shape", None)
            raise ValueError(f"layer {self.name!r}: input must be [B, {self.features}] "
                             f"features, got shape {shape}")
        if x.dtype.kind in "iub":
            if x.size and (x.min() < 0 or x.max() > self.max_value):
                raise ValueError(f"layer {self.name!r}: integer inputs must lie in "
                                 f"0..{self.max_value} ({self.width}-bit fixed point)")
            return x.astype(np.int64)
        if x.dtype.kind != "f":
            raise ValueError(f"layer {self.name!r}: input must be numbers, got dtype {x.dtype}")
        v = x.astype(np.float64)
        if not np.isfinite(v).all():
            raise ValueError(f"layer {self.name!r}: input holds NaN or infinite values")
        q = np.floor((v - self.offset) * self.scale + 0.5)  # the order the docstring states
        return np.clip(q, 0, self.max_value).astype(np.int64)


@dataclass(frozen=True, eq=False)
class LutLayer:
    """N k-input lookup tables: ``out[n] = tables[n, sum_j in[inputs[n, j]] << j]``.

    Attributes:
        name: layer name.
        in_width: width of the input bit vector.
        inputs: int32 [N, k], indices into the input bits (input 0 = address bit 0).
        tables: uint8 [N, 2**k], entries 0 or 1.
    """

    name: str
    in_width: int
    inputs: np.ndarray  # int32 [N, k]
    tables: np.ndarray  # uint8 [N, 2**k]

    ARRAYS: ClassVar = (
        ArraySpec("inputs", np.dtype(np.int32), ("out_width", "k")),
        ArraySpec("tables", np.dtype(np.uint8), ("out_width", "table_size")),
    )

    @property
    def k(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def table_size(self) -> int:
        return 2**self.k

    @property
    def out_width(self) -> int:
        return int(self.inputs.shape[0])

    def validate(self) -> None:
        if isinstance(self.inputs, np.ndarray) and self.inputs.ndim == 2:
            k = self.inputs.shape[1]  # before check_arrays, which would build 2**k
            if not 1 <= k <= MAX_LUT_K:
                raise ValueError(f"layer {self.name!r}: k must be in 1..{MAX_LUT_K}, got {k}")
        check_arrays(self)
        inputs, tables = self.inputs, self.tables
        if tables.size and tables.max() > 1:
            raise ValueError(f"layer {self.name!r}: table entries must be 0 or 1")
        _check_indices(self.name, inputs, self.in_width)


@dataclass(frozen=True, eq=False)
class ThresholdLayer:
    """XNOR-popcount-threshold neurons (the XNOR-Net form of Linear + BN + sign).

    ``count[n] = #{j : weights[n, j] != 0 and bit[inputs[n, j]] == (weights[n, j] > 0)}``
    (an XNOR of input and weight bit, summed over connected inputs), then
    ``out[n] = (count[n] >= thresholds[n]) XOR invert[n]``.  ``invert`` is set where the
    folded BatchNorm scale is negative; a threshold of 0 gives a constant 1 (before invert),
    one above the fan-in a constant 0.

    Attributes:
        name: layer name.
        in_width: width of the input bit vector.
        inputs: int32 [N, F], indices into the input bits.
        weights: int8 [N, F] in {-1, 0, +1}; 0 marks an unconnected slot (padding).
        thresholds: int32 [N].
        invert: bool [N].
    """

    name: str
    in_width: int
    inputs: np.ndarray  # int32 [N, F]
    weights: np.ndarray  # int8 [N, F]
    thresholds: np.ndarray  # int32 [N]
    invert: np.ndarray  # bool [N]

    ARRAYS: ClassVar = (
        ArraySpec("inputs", np.dtype(np.int32), ("out_width", "fan_in")),
        ArraySpec("weights", np.dtype(np.int8), ("out_width", "fan_in")),
        ArraySpec("thresholds", np.dtype(np.int32), ("out_width",)),
        ArraySpec("invert", np.dtype(np.bool_), ("out_width",)),
    )

    @property
    def fan_in(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def out_width(self) -> int:
        return int(self.inputs.shape[0])

    def validate(self) -> None:
        check_arrays(self)
        inputs, weights, thresholds = self.inputs, self.weights, self.thresholds
        if not np.isin(weights, (-1, 0, 1)).all():
            raise ValueError(f"layer {self.name!r}: weights must be -1, 0 or +1")
        if thresholds.size and (thresholds.min() < 0 or thresholds.max() > self.fan_in + 1):
            raise ValueError(
                f"layer {self.name!r}: thresholds must be in 0..{self.fan_in + 1}"
            )
        _check_indices(self.name, inputs, self.in_width)


@dataclass(frozen=True, eq=False)
class OrLayer:
    """Logical OR of each row of inputs: binary max pooling (``out[n] = OR_j in[inputs[n, j]]``).

    Attributes:
        name: layer name.
        in_width: width of the input bit vector.
        inputs: int32 [N, m], the window of each output bit.
    """

    name: str
    in_width: int
    inputs: np.ndarray  # int32 [N, m]

    ARRAYS: ClassVar = (ArraySpec("inputs", np.dtype(np.int32), ("out_width", "window")),)

    @property
    def window(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def out_width(self) -> int:
        return int(self.inputs.shape[0])

    def validate(self) -> None:
        check_arrays(self)
        inputs = self.inputs
        if inputs.shape[1] < 1:
            raise ValueError(f"layer {self.name!r}: each OR needs at least one input")
        _check_indices(self.name, inputs, self.in_width)


@dataclass(frozen=True, eq=False)
class GroupSumHead:
    """Class scores as popcounts of consecutive groups, then argmax (lowest index on ties).

    ``score[c] = sum(bits[c*G : (c+1)*G])`` with ``G = in_width // num_classes``.
    """

    name: str
    in_width: int
    num_classes: int

    ARRAYS: ClassVar = ()

    @property
    def group_size(self) -> int:
        return self.in_width // self.num_classes

    def validate(self) -> None:
        if self.num_classes < 2 or self.in_width % self.num_classes:
            raise ValueError(
                f"layer {self.name!r}: in_width ({self.in_width}) must be a multiple of "
                f"num_classes ({self.num_classes}) >= 2"
            )


# ---------------------------------------------------------------------------------------------
# The lowered form (made by lutnn.ir.passes.lower, read by the emitter): logic over signals.


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
    lower-index side wins ties; an odd node out passes to the next level); level l compares in
    stage ``argmax_stages[l][0]`` and selects the larger score and its class in stage
    ``argmax_stages[l][1]``.  Empty (the default): every level in the stage of the last score.
    """

    name: str
    in_width: int
    num_classes: int
    ops: tuple[LogicOp, ...]
    scores: np.ndarray  # int32 [C]
    score_width: int
    argmax_stages: tuple[tuple[int, int], ...] = ()  # per tree level: (compare, select) stage

    ARRAYS: ClassVar = (ArraySpec("scores", np.dtype(np.int32), ("num_classes",)),)

    @property
    def group_size(self) -> int:
        return self.in_width // self.num_classes

    @property
    def argmax_levels(self) -> int:
        """Levels of the argmax tree: ceil(log2 C)."""
        return (self.num_classes - 1).bit_length()

    @property
    def stages(self) -> int:
        """Pipeline stages inside the head (``stages - 1`` register ranks); 1 when uncut."""
        return _stage_count(self.ops, tuple(s for level in self.argmax_stages for s in level))

    def validate(self) -> None:
        if self.num_classes < 2 or self.in_width % self.num_classes:
            raise ValueError(f"layer {self.name!r}: in_width ({self.in_width}) must be a "
                             f"multiple of num_classes ({self.num_classes}) >= 2")
        check_arrays(self)
        _, stage_of = _check_ops(self.name, self.in_width, self.ops)
        free = self.in_width + sum(_op_width(op) for op in self.ops)
        if self.score_width < 1 or (self.scores.size and (
                self.scores.min() < 0 or self.scores.max() + self.score_width > free)):
            raise ValueError(f"layer {self.name!r}: scores must be written signals")
        if self.argmax_stages:
            if len(self.argmax_stages) != self.argmax_levels:
                raise ValueError(f"layer {self.name!r}: argmax_stages must give "
                                 f"{self.argmax_levels} (compare, select) pairs")
            ready = max(stage_of[s + c] for s in self.scores.tolist()
                        for c in range(self.score_width))
            for level, pair in enumerate(self.argmax_stages):
                if (len(pair) != 2 or not all(isinstance(v, int) for v in pair)
                        or pair[0] < ready or pair[1] < pair[0]):
                    raise ValueError(f"layer {self.name!r}: argmax level {level} stages {pair} "
                                     f"must be ints with {ready} <= compare <= select")
                ready = pair[1]


BitLayer = LutLayer | ThresholdLayer | OrLayer | LogicLayer
Head = GroupSumHead | LoweredHead
BIT_LAYERS = (LutLayer, ThresholdLayer, OrLayer, LogicLayer)
HEADS = (GroupSumHead, LoweredHead)
Encoder = InputEncoder | FeatureEncoder
ENCODERS = (InputEncoder, FeatureEncoder)
NODE_TYPES = (*ENCODERS, *BIT_LAYERS, *HEADS)  # every IR node type


@dataclass(frozen=True, eq=False)
class Netlist:
    """A whole binary network: [encoder] -> layers -> [head].

    Attributes:
        input_bits: width of the bit vector the first layer reads (the encoder's output width
            when there is an encoder).
        layers: the bit layers in order.
        encoder: optional input encoder (inputs are then 8-bit pixels, or W-bit fixed-point
            features for a :class:`FeatureEncoder`).
        head: optional class head (output is then a class index; else the last layer's bits).
        meta: free-form provenance (model name, accuracy...), JSON-serializable.
    """

    input_bits: int
    layers: tuple[BitLayer, ...]
    encoder: Encoder | None = None
    head: Head | None = None
    meta: dict = field(default_factory=dict)

    VERSION = 1

    @property
    def output_bits(self) -> int:
        return self.layers[-1].out_width if self.layers else self.input_bits

    def validate(self) -> None:
        """Check every layer and that widths chain; raise ValueError naming the layer."""
        if self.encoder is not None:
            if not isinstance(self.encoder, ENCODERS):
                raise ValueError(f"unsupported IR encoder type {type(self.encoder).__name__}")
            self.encoder.validate()
            if self.encoder.out_width != self.input_bits:
                raise ValueError(
                    f"layer {self.encoder.name!r}: encoder writes {self.encoder.out_width} bits "
                    f"but the netlist's input_bits is {self.input_bits}"
                )
        width = self.input_bits
        names = set()
        for layer in self.layers:
            if not isinstance(layer, BIT_LAYERS):
                raise ValueError(f"unsupported IR layer type {type(layer).__name__}")
            if layer.name in names:
                raise ValueError(f"layer {layer.name!r}: duplicate layer name")
            names.add(layer.name)
            if layer.in_width != width:
                raise ValueError(
                    f"layer {layer.name!r}: in_width {layer.in_width} != previous width {width}"
                )
            layer.validate()
            width = layer.out_width
        if self.head is not None:
            if not isinstance(self.head, HEADS):
                raise ValueError(f"unsupported IR head type {type(self.head).__name__}")
            if self.head.in_width != width:
                raise ValueError(
                    f"layer {self.head.name!r}: in_width {self.head.in_width} != previous width "
                    f"{width}"
                )
            self.head.validate()
