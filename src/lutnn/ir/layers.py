"""The lutnn IR: frozen, typed layers of a binary network, read by the simulator and emitters.

A :class:`Netlist` is a chain: 8-bit pixels -> optional :class:`InputEncoder` (or
:class:`BitplaneEncoder`, or W-bit fixed-point features -> :class:`FeatureEncoder`) -> layers
(:class:`LutLayer`, :class:`ThresholdLayer`, :class:`OrLayer`) -> optional
:class:`GroupSumHead` (class popcounts + argmax).  Every layer reads a flat vector of
``in_width`` bits and writes ``out_width`` bits; connectivity is explicit (``inputs`` index
the previous layer's bits), so lowered convolutions, padding and pooling windows are already
resolved into indices and nothing in hardware needs to know about images.

Each node class declares its arrays once (``ARRAYS``, a tuple of :class:`ArraySpec`: name,
dtype, shape in terms of the node's sizes); ``validate()``, save/load and the summary read it.
:class:`LogicLayer` and :class:`LoweredHead` (:mod:`lutnn.ir.lowered`, re-exported here) are
the *lowered* form the passes in :mod:`lutnn.ir.passes` make for the emitters.

Conventions (as in :mod:`lutnn`): bit 1 stands for +1; LUT address = sum(bit_j << j);
ties in the argmax go to the lowest class index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from lutnn.ir.lowered import (  # noqa: F401  (re-exported: the lowered node types)
    AddOp,
    CompareOp,
    LogicLayer,
    LogicOp,
    LoweredHead,
    LutOp,
    Term,
)
from lutnn.ir.schema import MAX_LUT_K, ArraySpec, check_arrays, check_indices  # noqa: F401
from lutnn.ir.spatial import SPATIAL_LAYERS, check_image_chain


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


@dataclass(frozen=True, eq=False)
class BitplaneEncoder:
    """The top bits of every pixel, as they are: no comparator, only wires.

    ``bit[(c*B + j)*HW + p] = (pixel[c*HW + p] >> (7 - j)) & 1`` for ``j = 0 .. B-1``: plane 0
    is the most significant bit (``pixel >= 128``), plane 1 the next one, and so on; the bit
    order is :class:`InputEncoder`'s with ``T = B`` (channel-major).  Two planes hold exactly
    what a thermometer at 64 / 128 / 192 holds, for no logic at all.

    Attributes:
        name: layer name.
        channels: C, the image channels.
        pixels: total 8-bit pixel inputs, C*H*W, flattened channel-major.
        planes: B, the top bits taken from every pixel (1..8).
    """

    name: str
    channels: int
    pixels: int
    planes: int

    ARRAYS: ClassVar = ()

    @property
    def levels(self) -> int:
        """B: bits per pixel (the ``T`` of the other encoders' bit order)."""
        return int(self.planes)

    @property
    def in_width(self) -> int:
        """Number of 8-bit pixel inputs (not bits)."""
        return self.pixels

    @property
    def out_width(self) -> int:
        return self.pixels * self.planes

    def validate(self) -> None:
        if isinstance(self.planes, bool) or not isinstance(self.planes, int) \
                or not 1 <= self.planes <= 8:
            raise ValueError(f"layer {self.name!r}: planes must be an int in 1..8, "
                             f"got {self.planes!r}")
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
        check_indices(self.name, inputs, self.in_width)


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
        check_indices(self.name, inputs, self.in_width)


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
        check_indices(self.name, inputs, self.in_width)


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


BitLayer = LutLayer | ThresholdLayer | OrLayer | LogicLayer
Head = GroupSumHead | LoweredHead
BIT_LAYERS = (LutLayer, ThresholdLayer, OrLayer, LogicLayer)
HEADS = (GroupSumHead, LoweredHead)
Encoder = InputEncoder | FeatureEncoder | BitplaneEncoder
ENCODERS = (InputEncoder, FeatureEncoder, BitplaneEncoder)
NODE_TYPES = (*ENCODERS, *BIT_LAYERS, *HEADS)  # every flat IR node type
# The spatial nodes (lutnn.ir.spatial: shared-table convolutions, pooling, flatten) chain like
# bit layers; lutnn.ir.passes.lower_spatial unrolls them into flat ones for the flat backends.
ALL_NODE_TYPES = (*NODE_TYPES, *SPATIAL_LAYERS)


@dataclass(frozen=True, eq=False)
class Netlist:
    """A whole binary network: [encoder] -> layers -> [head].

    Attributes:
        input_bits: width of the bit vector the first layer reads (the encoder's output width
            when there is an encoder).
        layers: the bit layers in order (flat, or spatial: :mod:`lutnn.ir.spatial`).
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
            if not isinstance(layer, (*BIT_LAYERS, *SPATIAL_LAYERS)):
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
        check_image_chain(self.encoder, self.layers, self.head)
