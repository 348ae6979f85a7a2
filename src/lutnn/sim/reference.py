"""The slow, obviously-correct simulator: each layer's docstring definition in plain numpy.

Every layer is evaluated on unpacked bits (bool ``[B, width]``), one formula per layer type,
written to be read against :mod:`lutnn.ir.layers`, not to be fast.  The packed simulator
(:mod:`lutnn.sim.packed`) is tested against this one, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lutnn.ir.dispatch import NodeTable
from lutnn.ir.layers import (
    AddOp,
    BitplaneEncoder,
    CompareOp,
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
from lutnn.ir.spatial import ImageFlatten, LutConv, OrPool, XnorConv
from lutnn.sim import spatial

# One function per node type: the encoder and bit layers map bool [B, in] -> bool [B, out];
# heads map bool [B, in_width] -> (int32 scores [B, C], int64 classes [B]).
BLOCKS = NodeTable("sim.reference")
# One function per logic op of the lowered form: (op, signals) -> the bool [B] bits it writes.
OPS = NodeTable("sim.reference.ops")

# Samples per step in the reference LUT/threshold evaluation: bounds the [B, N] temporaries.
_REF_SAMPLES = 1024


@dataclass(frozen=True, eq=False)
class SimResult:
    """What a simulation produces.

    Attributes:
        layer_bits: bool [B, width] per stage: the encoder's output first (when the netlist has
            an encoder), then each layer's output.  With ``keep_layers=False`` only the last
            stage (the network's output bits) is kept, as a one-element list.
        scores: int32 [B, C] class popcounts, or None without a head.
        classes: int64 [B] argmax of ``scores`` (lowest index on ties), or None without a head.
    """

    layer_bits: list[np.ndarray]
    scores: np.ndarray | None
    classes: np.ndarray | None

    @property
    def output_bits(self) -> np.ndarray:
        """bool [B, output_bits]: the last layer's output (the input bits for an empty net)."""
        return self.layer_bits[-1]


def check_input(netlist: Netlist, x: np.ndarray) -> np.ndarray:
    """Check the simulator input against the netlist; return it as uint8 pixels, int64
    fixed-point features (a :class:`FeatureEncoder`: floats are mapped by its scale and
    offset, see :meth:`FeatureEncoder.to_fixed`) or bool bits.

    Raises:
        ValueError: wrong type, dtype, shape, or (for bits) values other than 0 and 1.
    """
    if not isinstance(x, np.ndarray):
        raise ValueError(f"simulator input must be a numpy array, got {type(x).__name__}")
    if isinstance(netlist.encoder, FeatureEncoder):  # W-bit features, or floats to map
        return netlist.encoder.to_fixed(x)
    if netlist.encoder is not None:
        p = netlist.encoder.pixels
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != p:
            raise ValueError(
                f"netlist has an encoder: input must be uint8 pixels [B, {p}], "
                f"got {x.dtype} {x.shape}"
            )
        return x
    w = netlist.input_bits
    if x.dtype not in (np.bool_, np.uint8) or x.ndim != 2 or x.shape[1] != w:
        raise ValueError(
            f"netlist has no encoder: input must be bool or uint8 bits [B, {w}], "
            f"got {x.dtype} {x.shape}"
        )
    if x.dtype == np.uint8 and x.size and x.max() > 1:
        raise ValueError("input bits must be 0 or 1")
    return x.astype(np.bool_, copy=False)


@BLOCKS.register(GroupSumHead)
def head_scores(head: GroupSumHead, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``score[c] = sum(bits[c*G:(c+1)*G])``; classes = argmax, lowest index on ties."""
    b = bits.shape[0]
    scores = bits.reshape(b, head.num_classes, head.group_size).sum(axis=2, dtype=np.int32)
    classes = np.argmax(scores, axis=1).astype(np.int64)  # first maximum = lowest index
    return scores, classes


@BLOCKS.register(InputEncoder)
def encode_reference(enc: InputEncoder, pixels: np.ndarray) -> np.ndarray:
    """``bit[(c*T + t)*HW + p] = pixel[c*HW + p] >= thresholds[t]``."""
    b = pixels.shape[0]
    hw = enc.pixels // enc.channels
    levels = enc.levels
    out = np.zeros((b, enc.out_width), dtype=np.bool_)
    px = pixels.astype(np.int16)
    for c in range(enc.channels):
        for t in range(levels):
            for p in range(hw):
                out[:, (c * levels + t) * hw + p] = px[:, c * hw + p] >= enc.thresholds[t]
    return out


@BLOCKS.register(BitplaneEncoder)
def encode_bitplanes_reference(enc: BitplaneEncoder, pixels: np.ndarray) -> np.ndarray:
    """``bit[(c*B + j)*HW + p] = (pixel[c*HW + p] >> (7 - j)) & 1``."""
    b = pixels.shape[0]
    hw = enc.pixels // enc.channels
    out = np.zeros((b, enc.out_width), dtype=np.bool_)
    for c in range(enc.channels):
        for j in range(enc.planes):
            for p in range(hw):
                out[:, (c * enc.planes + j) * hw + p] = (pixels[:, c * hw + p] >> (7 - j)) & 1
    return out


@BLOCKS.register(FeatureEncoder)
def encode_features_reference(enc: FeatureEncoder, x_fixed: np.ndarray) -> np.ndarray:
    """``bit[(c*T + t)*HW + p] = x_fixed[c*HW + p] >= thresholds[c*HW + p, t]``."""
    b = x_fixed.shape[0]
    hw = enc.features // enc.channels
    levels = enc.levels
    out = np.zeros((b, enc.out_width), dtype=np.bool_)
    for c in range(enc.channels):
        for t in range(levels):
            for p in range(hw):
                q = c * hw + p
                out[:, (c * levels + t) * hw + p] = x_fixed[:, q] >= enc.thresholds[q, t]
    return out


@BLOCKS.register(LutLayer)
def lut_reference(layer: LutLayer, bits: np.ndarray) -> np.ndarray:
    """``out[n] = tables[n, sum_j in[inputs[n, j]] << j]``."""
    b = bits.shape[0]
    out = np.zeros((b, layer.out_width), dtype=np.bool_)
    rows = np.arange(layer.out_width)
    for s in range(0, b, _REF_SAMPLES):
        chunk = bits[s : s + _REF_SAMPLES]
        address = np.zeros((chunk.shape[0], layer.out_width), dtype=np.int64)  # (b, N)
        for j in range(layer.k):
            address += chunk[:, layer.inputs[:, j]].astype(np.int64) << j
        out[s : s + _REF_SAMPLES] = layer.tables[rows[None, :], address] == 1
    return out


@BLOCKS.register(ThresholdLayer)
def threshold_reference(layer: ThresholdLayer, bits: np.ndarray) -> np.ndarray:
    """``count = #{j: w != 0 and in[inputs[j]] == (w > 0)}``; ``(count >= t) XOR invert``."""
    b = bits.shape[0]
    out = np.zeros((b, layer.out_width), dtype=np.bool_)
    connected = layer.weights != 0  # (N, F)
    positive = layer.weights > 0  # (N, F)
    for s in range(0, b, _REF_SAMPLES):
        chunk = bits[s : s + _REF_SAMPLES]
        count = np.zeros((chunk.shape[0], layer.out_width), dtype=np.int64)  # (b, N)
        for j in range(layer.fan_in):
            match = chunk[:, layer.inputs[:, j]] == positive[None, :, j]
            count += match & connected[None, :, j]
        out[s : s + _REF_SAMPLES] = (count >= layer.thresholds[None, :]) ^ layer.invert[None, :]
    return out


@BLOCKS.register(OrLayer)
def or_reference(layer: OrLayer, bits: np.ndarray) -> np.ndarray:
    """``out[n] = OR_j in[inputs[n, j]]``."""
    return bits[:, layer.inputs].any(axis=2)


def _number(signals: list[np.ndarray], first: int, width: int) -> np.ndarray:
    """int64 [B]: the number in signals first..first+width-1 (least significant first)."""
    return sum(signals[first + c].astype(np.int64) << c for c in range(width))


@OPS.register(LutOp)
def _lut_op(op: LutOp, signals: list[np.ndarray]) -> list[np.ndarray]:
    address = sum((signals[s].astype(np.int64) << j for j, s in enumerate(op.inputs)),
                  np.zeros(len(signals[0]), np.int64))
    return [op.table[address] == 1]


@OPS.register(AddOp)
def _add_op(op: AddOp, signals: list[np.ndarray]) -> list[np.ndarray]:
    total = np.zeros(len(signals[0]), np.int64)
    for row in op.rows:
        for c, term in enumerate(row):
            if term is not None:
                total += (signals[term[0]] != term[1]).astype(np.int64) << c
    return [((total >> c) & 1).astype(np.bool_) for c in range(op.width)]


@OPS.register(CompareOp)
def _compare_op(op: CompareOp, signals: list[np.ndarray]) -> list[np.ndarray]:
    return [(_number(signals, op.value, op.width) >= op.threshold) != op.invert]


def logic_signals(ops: tuple, bits: np.ndarray) -> list[np.ndarray]:
    """Every signal of a lowered layer: the input bits' columns, then each op's outputs."""
    signals = list(bits.T)  # bool [B] per signal
    for op in ops:
        signals += OPS(op, signals)
    return signals


@BLOCKS.register(LogicLayer)
def logic_reference(layer: LogicLayer, bits: np.ndarray) -> np.ndarray:
    """Each op in order on the signal list; output bit n is signal ``outputs[n]``."""
    signals = logic_signals(layer.ops, bits)
    out = np.zeros((bits.shape[0], layer.out_width), dtype=np.bool_)
    for n, s in enumerate(layer.outputs.tolist()):
        out[:, n] = signals[s]
    return out


@BLOCKS.register(LoweredHead)
def lowered_head_reference(head: LoweredHead, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores read from the popcount logic's signals, then argmax (lowest index on ties); a
    parallel argmax (``class_bits``): the class read from its LUTs' signals."""
    signals = logic_signals(head.ops, bits)
    scores = np.stack([_number(signals, s, head.score_width) for s in head.scores.tolist()],
                      axis=1).astype(np.int32)  # (B, C)
    if head.class_bits:
        return scores, sum(signals[s].astype(np.int64) << b
                           for b, s in enumerate(head.class_bits))
    return scores, np.argmax(scores, axis=1).astype(np.int64)


BLOCKS.register(LutConv)(spatial.lut_conv_reference)
BLOCKS.register(XnorConv)(spatial.xnor_conv_reference)
BLOCKS.register(OrPool)(spatial.or_pool_reference)
BLOCKS.register(ImageFlatten)(spatial.flatten_bits)


def simulate_reference(netlist: Netlist, x: np.ndarray) -> SimResult:
    """Simulate ``netlist`` by the layer definitions, one unpacked numpy formula per layer.

    Args:
        netlist: a valid netlist.
        x: uint8 pixels [B, P] when the netlist has an :class:`InputEncoder`; W-bit integers
            or floats [B, P] with a :class:`FeatureEncoder`; else bool/uint8 bits
            [B, input_bits].

    Returns:
        A :class:`SimResult` with every stage's bits.

    Example:
        >>> import numpy as np
        >>> from lutnn.ir import LutLayer, Netlist
        >>> table = np.array([[0, 1, 1, 0]], np.uint8)
        >>> xor = LutLayer("xor", 2, np.array([[0, 1]], np.int32), table)
        >>> x = np.array([[0, 0], [0, 1], [1, 1]], np.uint8)
        >>> r = simulate_reference(Netlist(2, (xor,)), x)
        >>> r.output_bits[:, 0].tolist()
        [False, True, False]
    """
    netlist.validate()
    x = check_input(netlist, x)
    stages = []
    bits = x
    if netlist.encoder is not None:
        bits = BLOCKS(netlist.encoder, x)
        stages.append(bits)
    elif not netlist.layers:
        stages.append(bits)
    for layer in netlist.layers:
        bits = BLOCKS(layer, bits)
        stages.append(bits)
    scores = classes = None
    if netlist.head is not None:
        scores, classes = BLOCKS(netlist.head, bits)
    return SimResult(layer_bits=stages, scores=scores, classes=classes)
