"""An XNOR netlist (the spatial form :func:`lutnn.frontend.to_ir` builds) as a QONNX graph,
one :data:`NODES` entry per IR node type.

Every binary activation is a *bipolar* float tensor (bit 1 = +1, bit 0 = -1: lutnn's
convention, FINN's BIPOLAR data type), images NCHW (``[1, C, H, W]``, channel-major: the
flat IR bit ``c*H*W + h*W + w`` is the tensor's element in C order), flat vectors ``[1, F]``.
Each IR node becomes standard ONNX ops plus qonnx's custom ops:

* **encoder** (pixel >= threshold): the input channels copied T times (``Gather``, channel
  ``c*T + t`` = input channel ``c``: the IR's bit order), then ``MultiThreshold`` with one
  threshold per channel (``out_scale`` 2, ``out_bias`` -1: bipolar).  Per-pixel thresholds
  (an image :class:`~lutnn.ir.FeatureEncoder`) are subtracted first (``Sub``) and compared
  with 0.  The input is the raw values as float32: pixels 0..255 for images, which the IR
  compares as integers; a table's float features are compared with, per threshold, the least
  float32 whose fixed-point value (:meth:`FeatureEncoder.to_fixed`) reaches it
  (:func:`float32_boundaries`), so the graph gives the simulator's bits for every float32.
* **XNOR layer / convolution**: ``MatMul`` / ``Conv`` of the bipolar input with the weights
  through ``BipolarQuant`` (``Quant``, 2-bit narrow signed, where an unconnected slot makes a 0),
  then ``MultiThreshold``.  With ``F`` connected slots, ``dot = 2*count - F``, so lutnn's
  ``count >= t`` is ``dot >= 2t - F``; a neuron with ``invert`` (a negative BatchNorm scale)
  has its weight row negated and threshold ``1 - (2t - F)`` (``dot < u`` is ``-dot >= 1 - u``
  for integers): one ``MatMul`` + ``MultiThreshold`` per layer, FINN's streamlined form.
  A convolution's padding reads bit ``pad_value`` (-1 for bit 0): an explicit ``Pad``, since
  ``Conv``'s own padding is 0, which no bipolar bit is.
* **OR pool**: ``MaxPool`` (the max of bipolar values is their OR).  **Image flatten**:
  ``Flatten``.
* **head**: bits ``x >= 0`` (``MultiThreshold``), then ``MatMul`` with the 0/1 group
  matrix: the class popcounts, ``scores`` (the simulator's, equal; argmax with the lowest
  index on ties is lutnn's class).

All values are small integers in float32, so every sum is exact.  LUT nodes have no QONNX
form: a LUT-Net is refused (QONNX of a LUT network is out of scope).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lutnn.errors import LutnnError
from lutnn.ir.dispatch import NodeTable
from lutnn.ir.layers import (
    FeatureEncoder,
    GroupSumHead,
    InputEncoder,
    LutLayer,
    OrLayer,
    ThresholdLayer,
)
from lutnn.ir.spatial import ImageFlatten, LutConv, OrPool, XnorConv
from lutnn.qonnx.graph import Graph


@dataclass(frozen=True)
class Tensor:
    """The activation a node reads: its ONNX name and shape without the batch dimension."""

    name: str
    shape: tuple[int, ...]


#: one converter per IR node type: ``convert(node, graph, x: Tensor) -> Tensor``
NODES = NodeTable("qonnx")

Convert = Callable[[object, Graph, Tensor], Tensor]


def _sign(g: Graph, name: str, x: Tensor, thresholds: np.ndarray) -> Tensor:
    """``MultiThreshold``: +1 where ``x >= thresholds[channel]`` else -1 (``[C, 1]``, or
    ``[1, 1]`` for one threshold for all)."""
    layout = "NCHW" if len(x.shape) == 3 else "NC"
    t = g.constant(f"{name}_thresholds", thresholds.reshape(-1, 1))
    out = g.node("MultiThreshold", (x.name, t), f"{name}_out", qonnx=True, datatype="BIPOLAR",
                 out_dtype="BIPOLAR", out_scale=2.0, out_bias=-1.0, data_layout=layout)
    return Tensor(out, x.shape)


def _copy_channels(g: Graph, name: str, x: Tensor, levels: int) -> Tensor:
    """Each channel (image) or feature (table) ``levels`` times: output channel
    ``c*levels + t`` is input channel ``c`` (``Gather`` on axis 1; nothing when 1)."""
    if levels == 1:
        return x
    index = g.constant(f"{name}_copies", np.repeat(np.arange(x.shape[0]), levels),
                       index=True)
    out = g.node("Gather", (x.name, index), f"{name}_copied", axis=1)
    return Tensor(out, (x.shape[0] * levels, *x.shape[1:]))


@NODES.register(InputEncoder)
def _input_encoder(enc: InputEncoder, g: Graph, x: Tensor) -> Tensor:
    if len(x.shape) != 3 or x.shape[0] != enc.channels:
        raise LutnnError(f"the pixel encoder reads [C, H, W] images of {enc.channels} "
                         f"channel(s); the run's input shape is {list(x.shape)}")
    copied = _copy_channels(g, enc.name, x, enc.levels)
    return _sign(g, enc.name, copied, np.tile(enc.thresholds.astype(np.float64), enc.channels))


@NODES.register(FeatureEncoder)
def _feature_encoder(enc: FeatureEncoder, g: Graph, x: Tensor) -> Tensor:
    """A table ``[F]``: per-feature float32 boundaries (:func:`float32_boundaries`) as
    MultiThreshold's per-channel thresholds; an image: per-pixel integer thresholds
    subtracted, then compared with 0."""
    copied = _copy_channels(g, enc.name, x, enc.levels)
    if len(x.shape) == 1:  # bit f*T + t: channel f*T + t of the copied features
        return _sign(g, enc.name, copied, float32_boundaries(enc).reshape(-1))
    c, t = enc.channels, enc.levels
    hw = enc.features // c
    per_pixel = enc.thresholds.reshape(c, hw, t).transpose(0, 2, 1)  # (C, T, HW)
    limits = g.constant(f"{enc.name}_pixel_thresholds",
                        per_pixel.reshape(c * t, *x.shape[1:]))
    diff = g.node("Sub", (copied.name, limits), f"{enc.name}_minus_thresholds")
    return _sign(g, enc.name, Tensor(diff, copied.shape), np.zeros(1))


def float32_boundaries(enc: FeatureEncoder) -> np.ndarray:
    """float32 ``[P, T]``: for each threshold the least float32 ``x`` whose fixed-point value
    ``enc.to_fixed(x)`` reaches it, so ``x >= boundary`` is the comparator's bit for every
    float32 ``x`` (``to_fixed`` is monotonic: bisection over the float32s in order); -inf for
    a threshold every value reaches (0), +inf for one none does (``2**W``)."""
    thresholds = enc.thresholds.astype(np.int64)  # (P, T)
    top = np.int64(np.float32(np.finfo(np.float32).max).view(np.int32))

    def reaches(key: np.ndarray) -> np.ndarray:  # to_fixed(x(key)) >= threshold, (P, T)
        bits = np.where(key >= 0, key, (-key) | np.int64(0x80000000)).astype(np.uint32)
        x = bits.view(np.float32)  # (P, T)
        return enc.to_fixed(np.ascontiguousarray(x.T)).T >= thresholds  # rows: samples

    lo = np.full(thresholds.shape, -top)  # ordered keys of the least and largest finite float32
    hi = np.full(thresholds.shape, top)
    always, never = reaches(lo), ~reaches(hi)
    for _ in range(34):  # the invariant: lo does not reach, hi does (2 * 2**31 keys)
        mid = (lo + hi) // 2
        ok = reaches(mid)
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid)
    bits = np.where(hi >= 0, hi, (-hi) | np.int64(0x80000000)).astype(np.uint32)
    out = bits.view(np.float32).copy()
    out[always] = -np.inf
    out[never] = np.inf
    return out


def _xnor_rows(weights: np.ndarray, thresholds: np.ndarray, invert: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """lutnn's ``(count >= t) XOR invert`` as bipolar ``dot >= u``: weight rows (an inverted
    neuron's negated) and thresholds ``u`` (see the module docstring)."""
    connected = (weights != 0).sum(axis=1)
    u = 2 * thresholds.astype(np.int64) - connected
    sign = np.where(invert, -1, 1)
    return weights.astype(np.int64) * sign[:, None], np.where(invert, 1 - u, u)


def _quantized_weights(g: Graph, name: str, w: np.ndarray) -> str:
    """``w`` (integers) through ``BipolarQuant`` when every entry is +-1, else through a
    narrow signed ``Quant`` wide enough (2 bits for -1, 0, +1), scale 1: the graph states
    that the weights are binary (or ternary)."""
    raw = g.constant(f"{name}_weights", w)
    one, zero = g.constant(f"{name}_scale", np.ones(())), g.constant(f"{name}_zero", np.zeros(()))
    if np.isin(w, (-1, 1)).all():
        return g.node("BipolarQuant", (raw, one), f"{name}_weights_q", qonnx=True,
                      datatype="BIPOLAR")
    bits = max(2, int(np.abs(w).max()).bit_length() + 1)  # qonnx reads 1-bit signed as +-1
    width = g.constant(f"{name}_bits", np.array(float(bits)))
    return g.node("Quant", (raw, one, zero, width), f"{name}_weights_q", qonnx=True,
                  datatype=f"INT{bits}", signed=1, narrow=1, rounding_mode="ROUND")


def _flat(g: Graph, name: str, x: Tensor) -> Tensor:
    """``x`` as a flat ``[1, F]`` vector (``Flatten``: C order, the IR's bit order)."""
    if len(x.shape) == 1:
        return x
    out = g.node("Flatten", (x.name,), f"{name}_flat", axis=1)
    return Tensor(out, (int(np.prod(x.shape)),))


@NODES.register(ThresholdLayer)
def _threshold_layer(layer: ThresholdLayer, g: Graph, x: Tensor) -> Tensor:
    """Dense XNOR neurons: the matrix ``[in_width, N]`` of each slot's weight at its input
    (slots reading the same input add up, as their counts do)."""
    x = _flat(g, layer.name, x)
    rows, u = _xnor_rows(layer.weights, layer.thresholds, layer.invert)
    matrix = np.zeros((layer.in_width, layer.out_width), np.int64)
    np.add.at(matrix, (layer.inputs, np.arange(layer.out_width)[:, None]), rows)
    w = _quantized_weights(g, layer.name, matrix)
    dot = g.node("MatMul", (x.name, w), f"{layer.name}_dot")
    return _sign(g, layer.name, Tensor(dot, (layer.out_width,)), u)


@NODES.register(XnorConv)
def _xnor_conv(conv: XnorConv, g: Graph, x: Tensor) -> Tensor:
    """Pad with the bipolar ``pad_value``, then ``Conv`` (weights ``[N, C/groups, KR, KC]``:
    the IR's slot order ``c*KR*KC + i*KC + j``)."""
    assert x.shape == conv.in_shape, (conv.name, conv.in_shape, x.shape)
    rows, u = _xnor_rows(conv.weights, conv.thresholds, conv.invert)
    kernel = rows.reshape(conv.out_channels, conv.channels // conv.groups, conv.kernel_rows,
                          conv.kernel_cols)
    source = x.name
    if conv.pad_rows or conv.pad_cols:
        pads = g.constant(f"{conv.name}_pads", np.array(
            [0, 0, conv.pad_rows, conv.pad_cols, 0, 0, conv.pad_rows, conv.pad_cols]), index=True)
        value = g.constant(f"{conv.name}_pad_value", np.array(2.0 * conv.pad_value - 1))
        source = g.node("Pad", (source, pads, value), f"{conv.name}_padded", mode="constant")
    w = _quantized_weights(g, conv.name, kernel)
    dot = g.node("Conv", (source, w), f"{conv.name}_dot", group=conv.groups,
                 kernel_shape=[conv.kernel_rows, conv.kernel_cols],
                 strides=[conv.stride_rows, conv.stride_cols])
    return _sign(g, conv.name, Tensor(dot, conv.out_shape), u)


@NODES.register(OrPool)
def _or_pool(pool: OrPool, g: Graph, x: Tensor) -> Tensor:
    out = g.node("MaxPool", (x.name,), f"{pool.name}_out", datatype="BIPOLAR",
                 kernel_shape=[pool.kernel_rows, pool.kernel_cols],
                 strides=[pool.stride_rows, pool.stride_cols])
    return Tensor(out, pool.out_shape)


@NODES.register(ImageFlatten)
def _image_flatten(node: ImageFlatten, g: Graph, x: Tensor) -> Tensor:
    out = g.node("Flatten", (x.name,), f"{node.name}_out", axis=1, datatype="BIPOLAR")
    return Tensor(out, (node.out_width,))


@NODES.register(GroupSumHead)
def _group_sum(head: GroupSumHead, g: Graph, x: Tensor) -> Tensor:
    """``scores = bits @ groups``: the popcount of each class's ``G`` consecutive bits (the
    bits: ``MultiThreshold`` of the bipolar values at 0, BINARY)."""
    x = _flat(g, head.name, x)
    zero = g.constant("head_zero", np.zeros((1, 1)))
    bits = g.node("MultiThreshold", (x.name, zero), "head_bits", qonnx=True, datatype="BINARY",
                  out_dtype="BINARY", data_layout="NC")
    groups = g.constant("head_groups", np.repeat(np.eye(head.num_classes), head.group_size, 0))
    g.datatypes[groups] = "BINARY"  # (in_width, C): bit i counts for class i // G
    scores = g.node("MatMul", (bits, groups), "scores")
    return Tensor(scores, (head.num_classes,))


@NODES.register(LutLayer, LutConv)
def _lut(node, g: Graph, x: Tensor) -> Tensor:
    raise LutnnError(f"layer {node.name!r} is a LUT layer: QONNX export is of XNOR teachers "
                     "(binary weights); QONNX has no LUT operator, so a LUT-Net has no QONNX "
                     "form (QONNX of a LUT network is out of scope); export it as Verilog")


@NODES.register(OrLayer)
def _or_layer(node: OrLayer, g: Graph, x: Tensor) -> Tensor:
    raise LutnnError(f"layer {node.name!r}: a flat OR layer; QONNX export reads the spatial "
                     "netlist (pools as OrPool), as `lutnn export --format qonnx` builds it")
