"""A netlist at a glance: per-layer type, name, widths, fan-in and node count, plus totals.

Example:
    >>> import numpy as np
    >>> from lutnn.ir import GroupSumHead, LutLayer, Netlist
    >>> lut = LutLayer("l0", 8, np.zeros((4, 6), np.int32), np.zeros((4, 64), np.uint8))
    >>> s = netlist_summary(Netlist(8, (lut,), head=GroupSumHead("head", 4, 2)))
    >>> s["totals"]["lut_nodes"], s["totals"]["lut_nodes_by_k"]
    (4, {6: 4})
"""

from __future__ import annotations

from typing import Any

from lutnn.ir.dispatch import NodeTable
from lutnn.ir.layers import (
    BitplaneEncoder,
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

# One row function per node type: (in_width, out_width, fan_in, nodes, extra fields).
rows = NodeTable("ir.summary")


@rows.register(InputEncoder)
def _encoder_row(enc: InputEncoder) -> dict[str, Any]:
    # in_width counts 8-bit pixels; each node is one pixel >= threshold comparator.
    return dict(in_width=enc.pixels, out_width=enc.out_width, fan_in=1, nodes=enc.out_width,
                levels=enc.levels)


@rows.register(FeatureEncoder)
def _feature_row(enc: FeatureEncoder) -> dict[str, Any]:
    # in_width counts W-bit inputs; each node is one x[q] >= threshold[q, t] comparator.
    return dict(in_width=enc.features, out_width=enc.out_width, fan_in=enc.width,
                nodes=enc.out_width, levels=enc.levels, width=enc.width)


@rows.register(BitplaneEncoder)
def _bitplane_row(enc: BitplaneEncoder) -> dict[str, Any]:
    # in_width counts 8-bit pixels; each node is one bit of a pixel: a wire, no logic.
    return dict(in_width=enc.pixels, out_width=enc.out_width, fan_in=1, nodes=enc.out_width,
                levels=enc.levels, planes=enc.planes)


@rows.register(LutLayer)
def _lut_row(layer: LutLayer) -> dict[str, Any]:
    return dict(in_width=layer.in_width, out_width=layer.out_width, fan_in=layer.k,
                nodes=layer.out_width, k=layer.k)


@rows.register(ThresholdLayer)
def _threshold_row(layer: ThresholdLayer) -> dict[str, Any]:
    connected = int((layer.weights != 0).sum())
    return dict(in_width=layer.in_width, out_width=layer.out_width, fan_in=layer.fan_in,
                nodes=layer.out_width, connections=connected)


@rows.register(OrLayer)
def _or_row(layer: OrLayer) -> dict[str, Any]:
    return dict(in_width=layer.in_width, out_width=layer.out_width, fan_in=layer.window,
                nodes=layer.out_width)


@rows.register(LutConv)
def _lut_conv_row(layer: LutConv) -> dict[str, Any]:
    # nodes: the shared tables (one per output channel), what a streaming engine holds.
    return dict(in_width=layer.in_width, out_width=layer.out_width, fan_in=layer.k,
                nodes=layer.out_channels, k=layer.k, positions=layer.positions)


@rows.register(XnorConv)
def _xnor_conv_row(layer: XnorConv) -> dict[str, Any]:
    return dict(in_width=layer.in_width, out_width=layer.out_width, fan_in=layer.fan_in,
                nodes=layer.out_channels, connections=int((layer.weights != 0).sum()),
                positions=layer.positions)


@rows.register(OrPool)
def _or_pool_row(layer: OrPool) -> dict[str, Any]:
    return dict(in_width=layer.in_width, out_width=layer.out_width, fan_in=layer.kernel_size,
                nodes=layer.channels, positions=layer.positions)


@rows.register(ImageFlatten)
def _flatten_row(layer: ImageFlatten) -> dict[str, Any]:
    return dict(in_width=layer.in_width, out_width=layer.out_width, fan_in=1, nodes=0)


@rows.register(LogicLayer, LoweredHead)
def _logic_row(layer: LogicLayer | LoweredHead) -> dict[str, Any]:
    arity = max((len(op.inputs) for op in layer.ops if isinstance(op, LutOp)), default=0)
    out = layer.out_width if isinstance(layer, LogicLayer) else layer.num_classes
    return dict(in_width=layer.in_width, out_width=out, fan_in=arity, nodes=len(layer.ops))


@rows.register(GroupSumHead)
def _head_row(head: GroupSumHead) -> dict[str, Any]:
    return dict(in_width=head.in_width, out_width=head.num_classes, fan_in=head.group_size,
                nodes=head.num_classes)


def _row(layer: Any) -> dict[str, Any]:
    """One layer: type, name, in/out width, fan_in (inputs per node) and nodes."""
    return {"type": type(layer).__name__, "name": layer.name, **rows(layer)}


def netlist_summary(netlist: Netlist) -> dict[str, Any]:
    """Per-layer rows (encoder first, head last) and totals, as a JSON-ready dict.

    ``totals`` holds ``lut_nodes``, ``lut_nodes_by_k`` ({k: count}), ``lut_table_bits``,
    ``threshold_neurons``, ``threshold_connections`` (nonzero weights), ``or_gates``,
    ``comparators`` (encoder bits; a bit-plane encoder has none), ``input_bits``,
    ``output_bits`` and ``num_classes`` (or None).
    A spatial convolution counts its shared tables / neurons once (one per output channel,
    not per position): the streaming form's node count.
    """
    stages = [netlist.encoder, *netlist.layers, netlist.head]
    table = [_row(layer) for layer in stages if layer is not None]
    by_k: dict[int, int] = {}
    for r in table:
        if "k" in r:  # a LUT layer's row
            by_k[r["k"]] = by_k.get(r["k"], 0) + r["nodes"]
    totals = {
        "lut_nodes": sum(by_k.values()),
        "lut_nodes_by_k": dict(sorted(by_k.items())),
        "lut_table_bits": sum(n * 2**k for k, n in by_k.items()),
        "threshold_neurons": sum(r["nodes"] for r in table if "connections" in r),
        "threshold_connections": sum(r["connections"] for r in table if "connections" in r),
        "or_gates": sum(r["nodes"] for r in table if r["type"] in ("OrLayer", "OrPool")),
        "comparators": (netlist.encoder.out_width if netlist.encoder is not None
                        and not isinstance(netlist.encoder, BitplaneEncoder) else 0),
        "input_bits": netlist.input_bits,
        "output_bits": netlist.output_bits,
        "num_classes": netlist.head.num_classes if netlist.head is not None else None,
    }
    return {"layers": table, "totals": totals}


def format_summary(netlist: Netlist) -> str:
    """The summary as a fixed-width text table followed by a totals line.

    Example:
        >>> import numpy as np
        >>> from lutnn.ir import LutLayer, Netlist
        >>> lut = LutLayer("l0", 8, np.zeros((4, 6), np.int32), np.zeros((4, 64), np.uint8))
        >>> print(format_summary(Netlist(8, (lut,))))
        type      name  in  out  fan-in  nodes
        LutLayer  l0     8    4       6      4
        total: 4 LUT nodes (k=6: 4), 0 threshold neurons, 0 OR gates; 8 -> 4 bits
    """
    s = netlist_summary(netlist)
    header = ("type", "name", "in", "out", "fan-in", "nodes")
    cells = [header] + [
        (r["type"], r["name"], *(str(r[k]) for k in ("in_width", "out_width", "fan_in", "nodes")))
        for r in s["layers"]
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        left = [row[i].ljust(widths[i]) for i in range(2)]
        right = [row[i].rjust(widths[i]) for i in range(2, len(header))]
        lines.append("  ".join(left + right).rstrip())
    t = s["totals"]
    by_k = ", ".join(f"k={k}: {n}" for k, n in t["lut_nodes_by_k"].items())
    total = (
        f"total: {t['lut_nodes']} LUT nodes"
        + (f" ({by_k})" if by_k else "")
        + f", {t['threshold_neurons']} threshold neurons, {t['or_gates']} OR gates; "
        f"{t['input_bits']} -> {t['output_bits']} bits"
    )
    if t["num_classes"] is not None:
        total += f" -> {t['num_classes']} classes"
    return "\n".join([*lines, total])
