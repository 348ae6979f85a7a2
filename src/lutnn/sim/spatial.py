"""The spatial nodes (:mod:`lutnn.ir.spatial`) on unpacked bits: bool ``[B, in_width]`` ->
bool ``[B, out_width]``, in two forms.

* ``*_bits``: vectorised over the batch and positions, by im2col with numpy stride tricks
  (``sliding_window_view`` over the padded image, then one gather / matmul), in chunks of
  samples; what :mod:`lutnn.sim.packed` runs (unpacking and packing around it).
* ``*_reference``: each node's docstring definition, one loop over output positions and
  window slots with the padding test written out; what :mod:`lutnn.sim.reference` runs.

Both are tested equal to each other and to the unrolled flat form
(:func:`lutnn.ir.passes.lower_spatial`), bit for bit.
"""

from __future__ import annotations

import numpy as np

from lutnn.ir.spatial import ImageFlatten, LutConv, OrPool, XnorConv

# Bytes of im2col temporaries per chunk of samples (~4 MiB, at least one sample).
PATCH_ENTRIES = 1 << 22


def _chunk(per_sample: int) -> int:
    """Samples per chunk when one sample's temporaries take ``per_sample`` bytes."""
    return max(1, PATCH_ENTRIES // max(1, per_sample))


def windows(node: LutConv | XnorConv | OrPool, bits: np.ndarray) -> np.ndarray:
    """A read-only view bool ``[B, OR, OQ, C, KR, KC]``: every position's window, padded with
    ``pad_value`` (pools have no padding)."""
    b = bits.shape[0]
    c, r, q = node.in_shape
    x = bits.reshape(b, c, r, q)
    pr, pc = node.pad_rows, node.pad_cols
    if pr or pc:
        x = np.pad(x, ((0, 0), (0, 0), (pr, pr), (pc, pc)), constant_values=bool(node.pad_value))
    v = np.lib.stride_tricks.sliding_window_view(x, (node.kernel_rows, node.kernel_cols),
                                                 axis=(2, 3))  # (B, C, R', Q', KR, KC)
    v = v[:, :, ::node.stride_rows, ::node.stride_cols][:, :, :node.out_rows, :node.out_cols]
    return v.transpose(0, 2, 3, 1, 4, 5)


def patches(node: LutConv | XnorConv, bits: np.ndarray) -> np.ndarray:
    """im2col: bool ``[B, L, C*KR*KC]``, slot ``c*KR*KC + i*KC + j`` at position ``r*OQ + q``."""
    return windows(node, bits).reshape(bits.shape[0], node.positions, -1)


def _to_channel_major(y: np.ndarray) -> np.ndarray:
    """``[B, L, N]`` -> ``[B, N*L]`` (bit ``n*L + l``)."""
    return np.ascontiguousarray(y.transpose(0, 2, 1)).reshape(y.shape[0], -1)


def lut_conv_bits(node: LutConv, bits: np.ndarray) -> np.ndarray:
    """Vectorised :class:`~lutnn.ir.spatial.LutConv`."""
    b, n, k = bits.shape[0], node.out_channels, node.k
    out = np.empty((b, node.out_width), dtype=np.bool_)
    step = _chunk(node.positions * (node.channels * node.kernel_size + 5 * n))
    rows = np.arange(n)[None, None, :]
    for s in range(0, b, step):
        p = patches(node, bits[s : s + step])  # (b, L, F)
        address = np.zeros((*p.shape[:2], n), dtype=np.uint16)  # (b, L, N); k <= 8
        for j in range(k):
            address |= p[:, :, node.inputs[:, j]].astype(np.uint16) << j
        out[s : s + step] = _to_channel_major(node.tables[rows, address] == 1)
    return out


def xnor_conv_bits(node: XnorConv, bits: np.ndarray) -> np.ndarray:
    """Vectorised :class:`~lutnn.ir.spatial.XnorConv`: per group, a float32 matmul of the
    patches with the weights (exact: every sum is an integer far below 2**24)."""
    b, g, n = bits.shape[0], node.groups, node.out_channels
    f, ng = node.fan_in, n // g
    w = node.weights.reshape(g, ng, f)
    signed = ((w > 0).astype(np.float32) - (w < 0)).transpose(0, 2, 1)  # (G, F_g, N_g)
    negatives = (w < 0).sum(axis=2)  # (G, N_g): count = sum(w * bit) + #{w < 0}
    out = np.empty((b, node.out_width), dtype=np.bool_)
    step = _chunk(node.positions * (5 * node.channels * node.kernel_size + 8 * n))
    for s in range(0, b, step):
        p = patches(node, bits[s : s + step])  # (b, L, C*KK)
        bb = p.shape[0]
        p = p.reshape(bb * node.positions, g, f).astype(np.float32)
        count = np.empty((bb * node.positions, g, ng), dtype=np.int64)
        for grp in range(g):
            count[:, grp] = (p[:, grp] @ signed[grp]).astype(np.int64) + negatives[grp]
        y = count.reshape(bb, node.positions, n) >= node.thresholds
        out[s : s + step] = _to_channel_major(y ^ node.invert)
    return out


def or_pool_bits(node: OrPool, bits: np.ndarray) -> np.ndarray:
    """Vectorised :class:`~lutnn.ir.spatial.OrPool`."""
    v = windows(node, bits).any(axis=(4, 5))  # (B, OR, OQ, C)
    return np.ascontiguousarray(v.transpose(0, 3, 1, 2)).reshape(bits.shape[0], -1)


def flatten_bits(node: ImageFlatten, bits: np.ndarray) -> np.ndarray:
    """:class:`~lutnn.ir.spatial.ImageFlatten`: the identity."""
    return bits.copy()


def _pixel(node, img: np.ndarray, ch: np.ndarray, row: np.ndarray, col: np.ndarray
           ) -> np.ndarray:
    """bool ``[B, N]``: ``img[:, ch[n], row[n], col[n]]``, or ``pad_value`` outside."""
    inside = (row >= 0) & (row < node.rows) & (col >= 0) & (col < node.cols)
    got = img[:, ch, np.clip(row, 0, node.rows - 1), np.clip(col, 0, node.cols - 1)]
    return np.where(inside[None, :], got, bool(getattr(node, "pad_value", 0)))


def lut_conv_reference(node: LutConv, bits: np.ndarray) -> np.ndarray:
    """``out[n, r, q] = tables[n, sum_j x[c_j, r*SR - PR + i_j, q*SC - PC + j_j] << j]``."""
    b, n = bits.shape[0], node.out_channels
    img = bits.reshape(b, *node.in_shape)
    ch, di, dj = node.taps()  # (N, k) each
    out = np.zeros((b, n, node.out_rows, node.out_cols), dtype=np.bool_)
    for r in range(node.out_rows):
        for q in range(node.out_cols):
            address = np.zeros((b, n), dtype=np.int64)
            for j in range(node.k):
                row = r * node.stride_rows - node.pad_rows + di[:, j]
                col = q * node.stride_cols - node.pad_cols + dj[:, j]
                address += _pixel(node, img, ch[:, j], row, col).astype(np.int64) << j
            out[:, :, r, q] = node.tables[np.arange(n)[None, :], address] == 1
    return out.reshape(b, -1)


def xnor_conv_reference(node: XnorConv, bits: np.ndarray) -> np.ndarray:
    """``count = #{f: w[n, f] != 0 and x[slot f] == (w[n, f] > 0)}``; ``(count >= t) ^ inv``."""
    b, n = bits.shape[0], node.out_channels
    img = bits.reshape(b, *node.in_shape)
    kk, kc = node.kernel_size, node.kernel_cols
    group = np.arange(n) // (n // node.groups)  # (N,)
    out = np.zeros((b, n, node.out_rows, node.out_cols), dtype=np.bool_)
    for r in range(node.out_rows):
        for q in range(node.out_cols):
            count = np.zeros((b, n), dtype=np.int64)
            for f in range(node.fan_in):
                ch = group * (node.channels // node.groups) + f // kk
                row = np.full(n, r * node.stride_rows - node.pad_rows + (f % kk) // kc)
                col = np.full(n, q * node.stride_cols - node.pad_cols + f % kc)
                w = node.weights[:, f]
                agree = _pixel(node, img, ch, row, col) == (w > 0)[None, :]
                count += agree & (w != 0)[None, :]
            out[:, :, r, q] = (count >= node.thresholds[None, :]) ^ node.invert[None, :]
    return out.reshape(b, -1)


def or_pool_reference(node: OrPool, bits: np.ndarray) -> np.ndarray:
    """``out[c, r, q] = OR_{i, j} x[c, r*SR + i, q*SC + j]``."""
    b = bits.shape[0]
    img = bits.reshape(b, *node.in_shape)
    out = np.zeros((b, node.channels, node.out_rows, node.out_cols), dtype=np.bool_)
    for r in range(node.out_rows):
        for q in range(node.out_cols):
            for i in range(node.kernel_rows):
                for j in range(node.kernel_cols):
                    out[:, :, r, q] |= img[:, :, r * node.stride_rows + i,
                                           q * node.stride_cols + j]
    return out.reshape(b, -1)
