"""``lower_spatial``: unroll every spatial node (:mod:`lutnn.ir.spatial`) into flat nodes.

This is the one place the unrolling is written: the frontend builds the spatial form only,
and its flat form (``to_ir(..., spatial=False)``, the unrolled export, the C back end) is this
pass of it (declared as :data:`lutnn.ir.passes.flow.LOWER_SPATIAL`).  The flat passes
(``prune``, ``lower``, ``minimize``), the C back end and the Verilog emitter read the result:

* :class:`~lutnn.ir.spatial.LutConv` -> one :class:`~lutnn.ir.LutLayer` node per output bit
  (``n*L + l``: channel-major), its table copied; a padded input is tied to bit 0 and the
  table made independent of it (its entries set to those the ``pad_value`` address gives);
* :class:`~lutnn.ir.spatial.XnorConv` -> one :class:`~lutnn.ir.ThresholdLayer` row per
  output bit: a padded slot gets weight 0 and, where it agrees with its weight, its constant
  1 moves into the threshold (``t - agreeing pads``, clipped to ``0..connected + 1``);
* :class:`~lutnn.ir.spatial.OrPool` -> an :class:`~lutnn.ir.OrLayer` (row ``c*L + l``, window
  slot ``i*KC + j``);
* :class:`~lutnn.ir.spatial.ImageFlatten` -> nothing (it is the identity on bits).

Example:
    >>> import numpy as np
    >>> from lutnn.ir import Netlist, OrPool
    >>> flat = lower_spatial(Netlist(16, (OrPool("p", 1, 4, 4, 2, 2, 2, 2),)))
    >>> type(flat.layers[0]).__name__, flat.layers[0].inputs[0].tolist()
    ('OrLayer', [0, 1, 4, 5])
"""

from __future__ import annotations

import numpy as np

from lutnn.ir.dispatch import NodeTable
from lutnn.ir.layers import LutLayer, Netlist, OrLayer, ThresholdLayer
from lutnn.ir.spatial import PAD, SPATIAL_LAYERS, ImageFlatten, LutConv, OrPool, XnorConv

# One function per spatial node type: its flat layers (a tuple, empty for the flatten).
UNROLL = NodeTable("ir.passes.lower_spatial")


def tie_inputs(tables: np.ndarray, tied: np.ndarray, value: int) -> np.ndarray:
    """Make each table ignore its tied inputs, which read the constant ``value``.

    tables: uint8 ``[M, 2**k]``; tied: bool ``[M, k]``.  For a tied input ``j`` every entry is
    replaced by its twin with address bit ``j`` = ``value``, so the node's output no longer
    depends on the wire the slot is tied to.
    """
    tables = tables.copy()
    k = tied.shape[1]
    addresses = np.arange(2**k)
    for j in range(k):
        rows = np.nonzero(tied[:, j])[0]
        if rows.size:
            src = addresses | (1 << j) if value else addresses & ~(1 << j)
            tables[rows] = tables[np.ix_(rows, src)]
    return tables


@UNROLL.register(LutConv)
def unroll_lut_conv(node: LutConv) -> tuple[LutLayer]:
    patch = node.patch_index()  # (L, C*KK)
    idx = patch[:, node.inputs].transpose(1, 0, 2)  # (N, L, k): row n*L + l
    n, positions, k = idx.shape
    idx = idx.reshape(n * positions, k)
    padded = idx == PAD
    tables = tie_inputs(np.repeat(node.tables, positions, axis=0), padded, node.pad_value)
    inputs = np.where(padded, 0, idx).astype(np.int32)
    return (LutLayer(node.name, node.in_width, inputs, tables),)


@UNROLL.register(XnorConv)
def unroll_xnor_conv(node: XnorConv) -> tuple[ThresholdLayer]:
    n, g, f = node.out_channels, node.groups, node.fan_in
    group = np.arange(n) // (n // g)
    slots = group[:, None] * f + np.arange(f)[None, :]  # (N, F): the group's patch slots
    inputs = node.patch_index()[:, slots]  # (L, N, F)
    positions = inputs.shape[0]
    weights = np.broadcast_to(node.weights, inputs.shape).copy()
    padded = inputs == PAD
    agrees = (weights != 0) & ((weights > 0) == bool(node.pad_value))
    agree_pad = (padded & agrees).sum(-1)  # (L, N): constant 1s the padding contributes
    connected = (~padded).sum(-1)
    weights[padded] = 0
    inputs = np.where(padded, 0, inputs)
    thresholds = np.clip(node.thresholds[None, :] - agree_pad, 0, connected + 1)  # (L, N)
    return (ThresholdLayer(
        name=node.name,
        in_width=node.in_width,
        inputs=inputs.transpose(1, 0, 2).reshape(n * positions, f).astype(np.int32),
        weights=weights.transpose(1, 0, 2).reshape(n * positions, f),
        thresholds=thresholds.T.reshape(-1).astype(np.int32),
        invert=np.repeat(node.invert, positions),
    ),)


@UNROLL.register(OrPool)
def unroll_or_pool(node: OrPool) -> tuple[OrLayer]:
    patch = node.patch_index()  # (L, C*KK), no padding
    windows = patch.reshape(node.positions, node.channels, node.kernel_size)  # (L, C, KK)
    inputs = windows.transpose(1, 0, 2).reshape(-1, node.kernel_size).astype(np.int32)
    return (OrLayer(node.name, node.in_width, inputs),)


@UNROLL.register(ImageFlatten)
def unroll_flatten(node: ImageFlatten) -> tuple:
    return ()


def lower_spatial(netlist: Netlist) -> Netlist:
    """``netlist`` with every spatial node replaced by flat nodes (see the module docstring).

    Flat layers, the encoder, the head and ``meta`` are kept as they are; a netlist without
    spatial nodes comes back with the same layers.  The simulators give the same bits for
    both (tested on random nets).
    """
    netlist.validate()
    layers = []
    for layer in netlist.layers:
        layers.extend(UNROLL(layer) if isinstance(layer, SPATIAL_LAYERS) else (layer,))
    out = Netlist(netlist.input_bits, tuple(layers), encoder=netlist.encoder, head=netlist.head,
                  meta=dict(netlist.meta))
    out.validate()
    return out
