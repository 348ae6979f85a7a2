"""The golden bit-packed simulator: 64 samples per uint64 word, vectorized over nodes.

Every signal (one bit of a layer's output) is a row of ``ceil(B / 64)`` uint64 words; sample
``b`` is bit ``b % 64`` of word ``b // 64``.  A layer maps the packed ``[in_width, words]``
matrix of its input signals to the ``[out_width, words]`` matrix of its outputs:

* LUT layers by Shannon expansion: the 2**k table entries become constant words (0 or all
  ones) and are halved k times, ``mux(x_j, lo, hi) = lo ^ ((lo ^ hi) & x_j)`` on the top
  address bit each time, all nodes of a chunk at once;
* OR layers by bitwise OR of the gathered input rows;
* threshold layers by a float32 matmul on unpacked bits (exact: every partial sum is an
  integer below 2**24), chunked over samples and neurons;
* the encoder by comparisons, then packing;
* spatial nodes (:mod:`lutnn.ir.spatial`) on unpacked bits by im2col
  (:mod:`lutnn.sim.spatial`), packed again after.

Padding bits of the last word (samples B..64*words-1) carry garbage after a LUT layer (a
constant-1 table sets them); they are dropped by :func:`unpack_bits` and never reach a score.
"""

from __future__ import annotations

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
from lutnn.sim.reference import SimResult, check_input, head_scores

WORD_BITS = 64
# Largest temporary of the LUT evaluation, in uint64 words per chunk of nodes (~2 MiB: stays
# in L2 cache, where the in-place halving steps run fastest).
LUT_CHUNK_WORDS = 1 << 18
# Samples per step when unpacking for the threshold matmul, and the largest weight-matrix
# chunk (in float32 entries) built at once.
THRESHOLD_SAMPLES = 4096
THRESHOLD_MATRIX_ENTRIES = 1 << 22
_ALL_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)

# One function per node type.  The encoder maps (uint8 pixels [B, P], batch) and bit layers
# (packed uint64 [in_width, words], batch) to packed [out_width, words]; heads map unpacked
# bool [B, in_width] to (int32 scores [B, C], int64 classes [B]).
BLOCKS = NodeTable("sim.packed")
# One function per logic op of the lowered form: (op, signals) -> the uint64 [words] it writes.
OPS = NodeTable("sim.packed.ops")


def num_words(batch: int) -> int:
    """Words per packed signal for ``batch`` samples: ``ceil(batch / 64)``."""
    return -(-batch // WORD_BITS)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack bool ``[B, W]`` into uint64 ``[W, ceil(B/64)]``; sample b -> bit b%64 of word b//64.

    Example:
        >>> import numpy as np
        >>> pack_bits(np.array([[1], [0], [1]], dtype=bool))[0, 0]
        np.uint64(5)
    """
    if bits.ndim != 2:
        raise ValueError(f"pack_bits expects a 2-D [B, W] array, got shape {bits.shape}")
    b, w = bits.shape
    rows = np.zeros((w, num_words(b) * WORD_BITS), dtype=np.bool_)  # (W, B padded to 64)
    rows[:, :b] = bits.T
    return _pack_rows(rows)


def _pack_rows(rows: np.ndarray) -> np.ndarray:
    """bool ``[..., 64*words]`` (samples last) -> uint64 ``[..., words]``."""
    by = np.packbits(rows, axis=-1, bitorder="little")  # byte i holds samples 8i..8i+7
    # Little-endian words put byte 0 lowest, so sample b lands on bit b % 64 of word b // 64.
    return by.view(np.dtype("<u8")).astype(np.uint64, copy=False)


def unpack_bits(words: np.ndarray, batch: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: uint64 ``[W, ceil(batch/64)]`` -> bool ``[batch, W]``."""
    w, nw = words.shape
    if nw != num_words(batch):
        raise ValueError(f"{nw} words per signal cannot hold {batch} samples")
    by = np.ascontiguousarray(words, dtype=np.dtype("<u8")).view(np.uint8)  # (W, nw*8)
    bits = np.unpackbits(by.T, axis=0, count=batch, bitorder="little")  # (batch, W)
    return bits.view(np.bool_)


@BLOCKS.register(InputEncoder)
def _encoder_stage(enc: InputEncoder, pixels: np.ndarray, batch: int) -> np.ndarray:
    return encode_packed(enc, pixels)


def _pixels_samples_last(enc, pixels: np.ndarray) -> tuple[np.ndarray, int, int]:
    """uint8 pixels ``[B, P]`` -> ``(px [C, HW, B'], HW, words)``: samples last, zero-padded to
    whole 64-bit words (``B' = 64 * words``)."""
    b = pixels.shape[0]
    nw = num_words(b)
    hw = enc.pixels // enc.channels
    px = np.zeros((enc.pixels, nw * WORD_BITS), dtype=np.uint8)  # (P, B'): samples last
    px[:, :b] = pixels.T
    return px.reshape(enc.channels, hw, -1), hw, nw


def encode_packed(enc: InputEncoder, pixels: np.ndarray) -> np.ndarray:
    """Packed encoder output ``[P*T, words]`` from uint8 pixels ``[B, P]``."""
    px, hw, nw = _pixels_samples_last(enc, pixels)
    out = np.zeros((enc.channels, enc.levels, hw, nw), dtype=np.uint64)  # row (c*T + t)*HW + p
    for t, thr in enumerate(enc.thresholds.tolist()):
        if thr <= 255:  # 256: never reached by a uint8 pixel, the row stays 0
            out[:, t] = _pack_rows(px >= np.uint8(thr))
    return out.reshape(enc.out_width, nw)


@BLOCKS.register(BitplaneEncoder)
def _bitplane_stage(enc: BitplaneEncoder, pixels: np.ndarray, batch: int) -> np.ndarray:
    return encode_bitplanes_packed(enc, pixels)


def encode_bitplanes_packed(enc: BitplaneEncoder, pixels: np.ndarray) -> np.ndarray:
    """Packed encoder output ``[P*B, words]`` from uint8 pixels ``[B, P]``: row
    ``(c*B + j)*HW + p`` is bit ``7 - j`` of pixel ``c*HW + p``."""
    px, hw, nw = _pixels_samples_last(enc, pixels)
    out = np.zeros((enc.channels, enc.planes, hw, nw), dtype=np.uint64)
    for j in range(enc.planes):
        out[:, j] = _pack_rows(((px >> (7 - j)) & 1).astype(np.bool_))
    return out.reshape(enc.out_width, nw)


@BLOCKS.register(FeatureEncoder)
def _feature_stage(enc: FeatureEncoder, x_fixed: np.ndarray, batch: int) -> np.ndarray:
    return encode_features_packed(enc, x_fixed)


def encode_features_packed(enc: FeatureEncoder, x_fixed: np.ndarray) -> np.ndarray:
    """Packed encoder output ``[P*T, words]`` from int fixed-point features ``[B, P]``, in
    chunks of :data:`THRESHOLD_SAMPLES` samples (a multiple of 64)."""
    b = x_fixed.shape[0]
    hw = enc.features // enc.channels
    out = np.zeros((enc.out_width, num_words(b)), dtype=np.uint64)
    thr = enc.thresholds.astype(np.int64)[None]  # (1, P, T)
    for s in range(0, b, THRESHOLD_SAMPLES):
        chunk = x_fixed[s : s + THRESHOLD_SAMPLES]
        bits = chunk[:, :, None] >= thr  # (b, P, T)
        bits = bits.reshape(len(chunk), enc.channels, hw, enc.levels).transpose(0, 1, 3, 2)
        w0 = s // WORD_BITS
        out[:, w0 : w0 + num_words(len(chunk))] = pack_bits(bits.reshape(len(chunk), -1))
    return out


@BLOCKS.register(LutLayer)
def _lut_stage(layer: LutLayer, x: np.ndarray, batch: int) -> np.ndarray:
    return lut_packed(layer, x)


def lut_packed(layer: LutLayer, x: np.ndarray) -> np.ndarray:
    """Evaluate a LUT layer on packed signals ``x`` ``[in_width, words]`` by Shannon expansion."""
    n, k = layer.inputs.shape
    nw = x.shape[1]
    out = np.empty((n, nw), dtype=np.uint64)
    if n == 0 or nw == 0:
        return out
    half = 1 << (k - 1)
    chunk = max(1, LUT_CHUNK_WORDS // (half * nw))
    for s in range(0, n, chunk):
        idx = layer.inputs[s : s + chunk]  # (c, k)
        table = layer.tables[s : s + chunk].astype(np.uint64)  # (c, 2**k), 0 or 1
        const = np.negative(table)  # 0 or all ones: the table entry as a packed constant
        lo, hi = const[:, :half], const[:, half:]
        # First halving on the top input x_{k-1}: mux of two constants.
        val = (lo ^ hi)[:, :, None] & x[idx[:, k - 1]][:, None, :]  # (c, half, nw)
        val ^= lo[:, :, None]
        for j in range(k - 2, -1, -1):
            h = val.shape[1] // 2
            lo_v, hi_v = val[:, :h], val[:, h:]  # address bit j = 0 / 1
            hi_v ^= lo_v
            hi_v &= x[idx[:, j]][:, None, :]
            lo_v ^= hi_v  # lo ^ ((lo ^ hi) & x_j)
            val = lo_v
        out[s : s + chunk] = val[:, 0]
    return out


@BLOCKS.register(OrLayer)
def _or_stage(layer: OrLayer, x: np.ndarray, batch: int) -> np.ndarray:
    return or_packed(layer, x)


def or_packed(layer: OrLayer, x: np.ndarray) -> np.ndarray:
    """Bitwise OR of each node's gathered input rows."""
    out = x[layer.inputs[:, 0]]  # (N, nw), a copy
    for j in range(1, layer.inputs.shape[1]):
        out |= x[layer.inputs[:, j]]
    return out


@BLOCKS.register(ThresholdLayer)
def _threshold_stage(layer: ThresholdLayer, x: np.ndarray, batch: int) -> np.ndarray:
    return pack_bits(threshold_unpacked(layer, unpack_bits(x, batch)))


def threshold_unpacked(layer: ThresholdLayer, bits: np.ndarray) -> np.ndarray:
    """XNOR-popcount-threshold on unpacked bits ``[B, in_width]`` -> bool ``[B, N]``.

    With ``w`` in {-1, 0, +1}, ``count = sum_j w_j * bit_j + #{j: w_j < 0}``; the first term is
    a matmul with the dense ``[in_width, N]`` matrix that accumulates each neuron's weights at
    its input indices (repeated indices add up, as in the definition).
    """
    n, f = layer.inputs.shape
    assert f < 2**24, "float32 popcount is exact only below 2**24"
    b = bits.shape[0]
    out = np.empty((b, n), dtype=np.bool_)
    negatives = (layer.weights < 0).sum(axis=1, dtype=np.int64)  # (N,)
    per_chunk = max(1, THRESHOLD_MATRIX_ENTRIES // max(1, layer.in_width))
    for ns in range(0, n, per_chunk):
        ne = min(n, ns + per_chunk)
        dense = np.zeros((layer.in_width, ne - ns), dtype=np.float32)  # (in_width, n)
        cols = np.broadcast_to(np.arange(ne - ns)[:, None], (ne - ns, f))
        np.add.at(dense, (layer.inputs[ns:ne], cols), layer.weights[ns:ne].astype(np.float32))
        for s in range(0, b, THRESHOLD_SAMPLES):
            chunk = bits[s : s + THRESHOLD_SAMPLES].astype(np.float32)  # (b, in_width)
            count = (chunk @ dense).astype(np.int64) + negatives[None, ns:ne]  # exact integers
            out[s : s + THRESHOLD_SAMPLES, ns:ne] = (
                count >= layer.thresholds[None, ns:ne]
            ) ^ layer.invert[None, ns:ne]
    return out


@OPS.register(LutOp)
def _lut_op(op: LutOp, signals: list[np.ndarray]) -> list[np.ndarray]:
    """Shannon expansion of one table, halving on the top address bit k times."""
    nw = signals[0].shape[0]
    val = np.broadcast_to(np.negative(op.table.astype(np.uint64))[:, None], (op.table.size, nw))
    for j in range(len(op.inputs) - 1, -1, -1):
        h = val.shape[0] // 2
        lo, hi = val[:h], val[h:]  # address bit j = 0 / 1
        val = lo ^ ((lo ^ hi) & signals[op.inputs[j]][None, :])
    return [np.array(val[0])]


def _term(signals: list[np.ndarray], term, nw: int) -> np.ndarray:
    if term is None:
        return np.zeros(nw, np.uint64)
    signal, inverted = term
    return signals[signal] ^ _ALL_ONES if inverted else signals[signal]


@OPS.register(AddOp)
def _add_op(op: AddOp, signals: list[np.ndarray]) -> list[np.ndarray]:
    """Ripple-carry addition of the rows, bit by bit on packed words (a full adder per bit)."""
    nw = signals[0].shape[0]
    rows = [[_term(signals, term, nw) for term in row] for row in op.rows]
    if len(rows) == 1:
        return [r.copy() for r in rows[0]]
    out, carry = [], np.zeros(nw, np.uint64)
    for a, b in zip(*rows, strict=True):
        half = a ^ b
        out.append(half ^ carry)
        carry = (a & b) | (carry & half)
    return out


@OPS.register(CompareOp)
def _compare_op(op: CompareOp, signals: list[np.ndarray]) -> list[np.ndarray]:
    """``v >= threshold`` by a most-significant-first scan: greater so far, or equal so far."""
    nw = signals[0].shape[0]
    if op.threshold >= 1 << op.width:
        ge = np.zeros(nw, np.uint64)
    else:
        greater, equal = np.zeros(nw, np.uint64), np.full(nw, _ALL_ONES)
        for c in range(op.width - 1, -1, -1):
            bit = signals[op.value + c]
            if (op.threshold >> c) & 1:
                equal = equal & bit
            else:
                greater = greater | (equal & bit)
                equal = equal & ~bit
        ge = greater | equal
    return [ge ^ _ALL_ONES if op.invert else ge]


def logic_signals_packed(ops: tuple, x: np.ndarray) -> list[np.ndarray]:
    """Every signal of a lowered layer as packed words: the input rows, then each op's outputs."""
    signals = list(x)  # uint64 [words] per signal
    for op in ops:
        signals += OPS(op, signals)
    return signals


@BLOCKS.register(LogicLayer)
def logic_packed(layer: LogicLayer, x: np.ndarray, batch: int) -> np.ndarray:
    """Each op in order on packed signals; output bit n is signal ``outputs[n]``."""
    signals = logic_signals_packed(layer.ops, x)
    out = np.empty((layer.out_width, x.shape[1]), dtype=np.uint64)
    for n, s in enumerate(layer.outputs.tolist()):
        out[n] = signals[s]
    return out


@BLOCKS.register(LoweredHead)
def _lowered_head(head: LoweredHead, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    signals = logic_signals_packed(head.ops, pack_bits(bits))
    weights = 1 << np.arange(head.score_width, dtype=np.int32)  # (score_width,)
    scores = np.stack([
        unpack_bits(np.stack(signals[first:first + head.score_width]), bits.shape[0]) @ weights
        for first in head.scores.tolist()
    ], axis=1).astype(np.int32)  # (B, C)
    if head.class_bits:  # a parallel argmax: the class from its LUTs' signals
        bits_of = unpack_bits(np.stack([signals[s] for s in head.class_bits]), bits.shape[0])
        return scores, (bits_of.astype(np.int64)
                        @ (1 << np.arange(len(head.class_bits), dtype=np.int64)))
    return scores, np.argmax(scores, axis=1).astype(np.int64)


BLOCKS.register(GroupSumHead)(head_scores)

_SPATIAL = {LutConv: spatial.lut_conv_bits, XnorConv: spatial.xnor_conv_bits,
            OrPool: spatial.or_pool_bits}


@BLOCKS.register(*_SPATIAL)
def _spatial_stage(node, x: np.ndarray, batch: int) -> np.ndarray:
    """A spatial node (:mod:`lutnn.sim.spatial`): vectorised im2col on unpacked bits."""
    return pack_bits(_SPATIAL[type(node)](node, unpack_bits(x, batch)))


@BLOCKS.register(ImageFlatten)
def _flatten_stage(node: ImageFlatten, x: np.ndarray, batch: int) -> np.ndarray:
    return x  # the identity on bits


def simulate(netlist: Netlist, x: np.ndarray, *, keep_layers: bool = True) -> SimResult:
    """Simulate ``netlist`` bit-exactly on packed words (the golden model).

    Args:
        netlist: a valid netlist (validated here).
        x: uint8 pixels [B, P] when the netlist has an :class:`InputEncoder`; W-bit integers
            or floats [B, P] with a :class:`FeatureEncoder` (floats mapped by its scale and
            offset); else bool/uint8 bits [B, input_bits].
        keep_layers: keep every stage's bits (encoder output first, then each layer); if
            False, ``layer_bits`` holds only the last layer, which saves the unpacking.

    Returns:
        A :class:`SimResult`; bit for bit equal to :func:`simulate_reference`.

    Example:
        >>> import numpy as np
        >>> from lutnn.ir import GroupSumHead, InputEncoder, Netlist
        >>> enc = InputEncoder("enc", 1, 2, np.array([128], np.int16))
        >>> net = Netlist(2, (), encoder=enc, head=GroupSumHead("head", 2, 2))
        >>> simulate(net, np.array([[0, 200], [200, 0], [0, 0]], np.uint8)).classes.tolist()
        [1, 0, 0]
    """
    netlist.validate()
    x = check_input(netlist, x)
    batch = x.shape[0]
    layer_bits: list[np.ndarray] = []
    if netlist.encoder is not None:
        packed = BLOCKS(netlist.encoder, x, batch)
        if keep_layers or not netlist.layers:
            layer_bits.append(unpack_bits(packed, batch))
    else:
        packed = pack_bits(x)
        if not netlist.layers:
            layer_bits.append(x)
    for i, layer in enumerate(netlist.layers):
        packed = BLOCKS(layer, packed, batch)
        if keep_layers or i == len(netlist.layers) - 1:
            layer_bits.append(unpack_bits(packed, batch))
    if not keep_layers:
        layer_bits = layer_bits[-1:]
    scores = classes = None
    if netlist.head is not None:
        scores, classes = BLOCKS(netlist.head, layer_bits[-1])
    return SimResult(layer_bits=layer_bits, scores=scores, classes=classes)
