"""The spatial form of a model's convolutions and pools: the nodes :func:`lutnn.frontend.to_ir`
builds for them (the frontend has no other form).

A :class:`~lutnn.nn.conv.LoweredConv2d` becomes one :class:`~lutnn.ir.LutConv` or
:class:`~lutnn.ir.XnorConv` (its inner module's tables or XNOR rows, once per output channel,
instead of once per position), a :class:`~lutnn.nn.binary.BinaryMaxPool2d` an
:class:`~lutnn.ir.OrPool`.  The patch slots are unfold's, as the inner module reads them, and
the padding is bit 0 (``pad_value = 0``), so :func:`lutnn.ir.passes.lower_spatial` of the result
(the unrolling, written only there) is the flat netlist, one node per output bit.  XNOR
thresholds are folded once per channel over the whole window (the padding counted as bit 0);
the lowering shifts them per position.  :func:`lut_arrays` and :func:`xnor_arrays` read a
LUTLayer's or a BinaryLinear's arrays, for a dense layer and a convolution alike.
"""

from __future__ import annotations

import numpy as np
import torch

from lutnn.errors import LutnnError
from lutnn.frontend.fold import fold_batchnorm_sign
from lutnn.ir.layers import MAX_LUT_K
from lutnn.ir.spatial import LutConv, OrPool, XnorConv
from lutnn.nn.binary import BinaryLinear, BinaryMaxPool2d
from lutnn.nn.conv import LoweredConv2d
from lutnn.nn.lut import LUTLayer


def _geometry(conv: LoweredConv2d, shape: tuple[int, int, int]) -> dict:
    (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
    c, h, w = shape
    return dict(channels=int(c), rows=int(h), cols=int(w), kernel_rows=int(kh),
                kernel_cols=int(kw), stride_rows=int(sh), stride_cols=int(sw),
                pad_rows=int(ph), pad_cols=int(pw))


def lut_groups(inputs: np.ndarray, channels: int, kernel_size: int) -> int:
    """The most channel groups the LUTs' wiring respects: the largest ``g`` dividing the input
    and output channels with every LUT of group ``n // (N/g)`` reading only the channels of
    that group (1 when the wiring crosses groups; ``channels`` for a depthwise student)."""
    n = inputs.shape[0]
    channel = inputs.astype(np.int64) // kernel_size  # (N, k)
    for g in range(np.gcd(channels, n), 1, -1):
        if channels % g or n % g:
            continue
        own = np.arange(n) // (n // g)
        if (channel // (channels // g) == own[:, None]).all():
            return int(g)
    return 1


def lut_arrays(name: str, layer: LUTLayer) -> tuple[np.ndarray, np.ndarray]:
    """A LUTLayer's wiring (int32 ``[N, k]``) and tables (uint8 ``[N, 2**k]``), its ``k``
    checked against the IR's limit (a dense layer and a LUT convolution alike)."""
    if layer.k > MAX_LUT_K:
        raise LutnnError(
            f"layer {name!r}: k={layer.k} LUTs cannot be exported: the IR, simulators and "
            f"Verilog hold tables of at most k={MAX_LUT_K} inputs; train with k <= {MAX_LUT_K}"
        )
    return (layer.inputs.numpy().astype(np.int32),
            layer.table_bits().numpy().astype(np.uint8))


def xnor_arrays(name: str, layer: BinaryLinear) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A binary-weight BinaryLinear's XNOR rows: weights int8 ``[out, in/groups]`` (+-1),
    thresholds int32 ``[out]`` and invert bool ``[out]``, the BatchNorm + sign folded over the
    whole row (padding, where there is any, counted as bit 0; a dense layer and an XNOR
    convolution alike)."""
    if not layer.binary_weights:
        raise LutnnError(
            f"layer {name!r}: BinaryLinear with real weights cannot export as an XNOR-Net; "
            "train with binary_weights=True or distill it into a LUT-Net first"
        )
    if layer.neuron_hidden:
        raise LutnnError(
            f"layer {name!r}: a BinaryLinear whose neurons carry an MLP (neuron_hidden) is not "
            "an XNOR-Net; distill it into a LUT-Net (an exact copy) first"
        )
    out, per_group = layer.out_features, layer.in_features // layer.groups
    weights = torch.where(layer.weight >= 0, 1, -1).numpy().astype(np.int8)  # (out, F/g)
    connected = np.full(out, per_group)
    if layer.connections is not None:  # a limited fan-in: 0 marks an unconnected slot
        mask = layer.connections.numpy().astype(np.int8)
        weights, connected = weights * mask, mask.sum(1)
    bn = layer.bn
    thresholds, invert = fold_batchnorm_sign(
        connected, np.zeros(out), bn.running_mean, bn.running_var,
        bn.weight, bn.bias, bn.eps,
    )
    return weights, thresholds.astype(np.int32), invert.astype(bool)


def _ungrouped(weights: np.ndarray, groups: int) -> np.ndarray:
    """``[out, F/groups]`` grouped rows as ``[out, F]`` rows, 0 (unconnected) outside each
    neuron's group of slots: for groups that do not split the input channels."""
    out, per_group = weights.shape
    wide = np.zeros((out, per_group * groups), np.int8)
    group = np.arange(out) // (out // groups)
    wide[np.arange(out)[:, None], group[:, None] * per_group + np.arange(per_group)] = weights
    return wide


def conv_node(name: str, conv: LoweredConv2d, shape: tuple[int, int, int]
              ) -> LutConv | XnorConv:
    """The spatial node of a lowered convolution reading a ``shape`` (C, H, W) image.

    A BinaryLinear whose ``groups`` do not split the input channels (its groups of patch slots
    cut through a channel's window) becomes an ungrouped XnorConv whose rows are 0 outside
    each neuron's slots: the same bits."""
    inner = conv.inner
    geometry = _geometry(conv, shape)
    if isinstance(inner, LUTLayer):
        inputs, tables = lut_arrays(name, inner)  # (N, k) patch slots, (N, 2^k)
        kk = conv.kernel_size[0] * conv.kernel_size[1]
        groups = lut_groups(inputs, conv.in_channels, kk)
        return LutConv(name, **geometry, inputs=inputs, tables=tables, groups=groups)
    if isinstance(inner, BinaryLinear):
        weights, thresholds, invert = xnor_arrays(name, inner)
        groups = int(inner.groups)
        if conv.in_channels % groups:
            weights, groups = _ungrouped(weights, groups), 1
        return XnorConv(name, **geometry, weights=weights, thresholds=thresholds,
                        invert=invert, groups=groups)
    raise LutnnError(f"layer {name!r}: LoweredConv2d with inner {type(inner).__name__} is not "
                     "supported; use BinaryLinear or LUTLayer")


def pool_node(name: str, pool: BinaryMaxPool2d, shape: tuple[int, int, int]) -> OrPool:
    """The spatial node of a binary max pool reading a ``shape`` (C, H, W) image."""
    if pool.padding not in (0, (0, 0)) or pool.dilation not in (1, (1, 1)) or pool.ceil_mode:
        raise LutnnError(f"layer {name!r}: max pooling with padding, dilation or ceil_mode is "
                         "not supported by the IR; use plain kernel/stride pooling")
    kh, kw = (pool.kernel_size,) * 2 if isinstance(pool.kernel_size, int) else pool.kernel_size
    stride = pool.stride if pool.stride is not None else pool.kernel_size
    sh, sw = (stride,) * 2 if isinstance(stride, int) else stride
    c, h, w = shape
    return OrPool(name, int(c), int(h), int(w), int(kh), int(kw), int(sh), int(sw))
