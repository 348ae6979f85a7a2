"""The lutnn IR: frozen, typed layers of a binary network, read by the simulator and emitters.

A :class:`Netlist` is a chain: 8-bit pixels -> optional :class:`InputEncoder` -> layers
(:class:`LutLayer`, :class:`ThresholdLayer`, :class:`OrLayer`) -> optional
:class:`GroupSumHead` (class popcounts + argmax).  Every layer reads a flat vector of
``in_width`` bits and writes ``out_width`` bits; connectivity is explicit (``inputs`` index
the previous layer's bits), so lowered convolutions, padding and pooling windows are already
resolved into indices and nothing in hardware needs to know about images.

Conventions (as in :mod:`lutnn`): bit 1 stands for +1; LUT address = sum(bit_j << j);
ties in the argmax go to the lowest class index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _check_array(layer: str, name: str, arr: object, dtype: type, ndim: int) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"layer {layer!r}: {name} must be a numpy array, got {type(arr).__name__}")
    if arr.dtype != np.dtype(dtype):
        raise ValueError(
            f"layer {layer!r}: {name} must have dtype {np.dtype(dtype)}, got {arr.dtype}"
        )
    if arr.ndim != ndim:
        raise ValueError(f"layer {layer!r}: {name} must be {ndim}-D, got shape {arr.shape}")
    return arr


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
        t = _check_array(self.name, "thresholds", self.thresholds, np.int16, 1)
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

    @property
    def k(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def out_width(self) -> int:
        return int(self.inputs.shape[0])

    def validate(self) -> None:
        inputs = _check_array(self.name, "inputs", self.inputs, np.int32, 2)
        tables = _check_array(self.name, "tables", self.tables, np.uint8, 2)
        n, k = inputs.shape
        if not 1 <= k <= 8:
            raise ValueError(f"layer {self.name!r}: k must be in 1..8, got {k}")
        if tables.shape != (n, 2**k):
            raise ValueError(
                f"layer {self.name!r}: tables must have shape ({n}, {2**k}), got {tables.shape}"
            )
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

    @property
    def fan_in(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def out_width(self) -> int:
        return int(self.inputs.shape[0])

    def validate(self) -> None:
        inputs = _check_array(self.name, "inputs", self.inputs, np.int32, 2)
        weights = _check_array(self.name, "weights", self.weights, np.int8, 2)
        thresholds = _check_array(self.name, "thresholds", self.thresholds, np.int32, 1)
        invert = _check_array(self.name, "invert", self.invert, np.bool_, 1)
        n = inputs.shape[0]
        if weights.shape != inputs.shape:
            raise ValueError(
                f"layer {self.name!r}: weights shape {weights.shape} != inputs shape {inputs.shape}"
            )
        if thresholds.shape != (n,) or invert.shape != (n,):
            raise ValueError(f"layer {self.name!r}: thresholds and invert must have shape ({n},)")
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

    @property
    def out_width(self) -> int:
        return int(self.inputs.shape[0])

    def validate(self) -> None:
        inputs = _check_array(self.name, "inputs", self.inputs, np.int32, 2)
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

    @property
    def group_size(self) -> int:
        return self.in_width // self.num_classes

    def validate(self) -> None:
        if self.num_classes < 2 or self.in_width % self.num_classes:
            raise ValueError(
                f"layer {self.name!r}: in_width ({self.in_width}) must be a multiple of "
                f"num_classes ({self.num_classes}) >= 2"
            )


BitLayer = LutLayer | ThresholdLayer | OrLayer


@dataclass(frozen=True, eq=False)
class Netlist:
    """A whole binary network: [encoder] -> layers -> [head].

    Attributes:
        input_bits: width of the bit vector the first layer reads (the encoder's output width
            when there is an encoder).
        layers: the bit layers in order.
        encoder: optional pixel encoder (inputs are then 8-bit pixels).
        head: optional class head (output is then a class index; else the last layer's bits).
        meta: free-form provenance (model name, accuracy...), JSON-serializable.
    """

    input_bits: int
    layers: tuple[BitLayer, ...]
    encoder: InputEncoder | None = None
    head: GroupSumHead | None = None
    meta: dict = field(default_factory=dict)

    VERSION = 1

    @property
    def output_bits(self) -> int:
        return self.layers[-1].out_width if self.layers else self.input_bits

    def summary(self) -> str:
        """Per-layer text table and totals (see :func:`lutnn.ir.summary.format_summary`)."""
        from lutnn.ir.summary import format_summary  # deferred: summary imports this module

        return format_summary(self)

    def validate(self) -> None:
        """Check every layer and that widths chain; raise ValueError naming the layer."""
        if self.encoder is not None:
            self.encoder.validate()
            if self.encoder.out_width != self.input_bits:
                raise ValueError(
                    f"layer {self.encoder.name!r}: encoder writes {self.encoder.out_width} bits "
                    f"but the netlist's input_bits is {self.input_bits}"
                )
        width = self.input_bits
        names = set()
        for layer in self.layers:
            if not isinstance(layer, (LutLayer, ThresholdLayer, OrLayer)):
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
            if self.head.in_width != width:
                raise ValueError(
                    f"layer {self.head.name!r}: in_width {self.head.in_width} != previous width "
                    f"{width}"
                )
            self.head.validate()
