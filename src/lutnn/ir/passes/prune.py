"""Pruning: the unlowered netlist shrunk before export, with the same function.

:func:`prune` works on the unlowered chain (``InputEncoder -> LutLayer / ThresholdLayer /
OrLayer ... -> GroupSumHead``) and repeats four rules until nothing changes:

* **constants**: a node whose output never changes (a constant LUT table, a threshold of 0 or
  above the connected fan-in, an OR reading a constant 1, an encoder threshold of 0 or 256) is
  folded into every consumer: a LUT's table is made independent of that address bit, a
  threshold slot gets weight 0 and its contribution moves into the threshold, an OR drops a
  constant-0 slot.  The constant node is then unread;
* **ignored inputs**: every LUT is rewritten on its true support
  (:func:`~lutnn.ir.passes.minimize_lut`) and the slots it does not need read its first
  support input (k stays the layer's; the table ignores those slots), so they keep nothing
  alive; a threshold slot of weight 0 reads the node's first connected input;
* **duplicates**: nodes of one layer computing the same function of the same inputs (in any
  slot order) are read through one copy;
* **dead nodes**: nodes no kept node reads are removed, the next layer's ``inputs`` re-indexed
  and its ``in_width`` shrunk.

The last layer keeps every bit: the head (or the netlist's output) reads them by position, and
a :class:`~lutnn.ir.GroupSumHead` has no per-class offset to absorb a constant bit, so constant
bits there stay and are counted (``constant_head_bits``).  The encoder is kept as it is, but
the first layer reads equal comparisons (a distributive thermometer's coinciding thresholds)
through one bit (:func:`~lutnn.ir.passes.encoder.encoder_copies`), so their LUTs merge too;
the emitter then builds only the comparators that are read, one per distinct comparison
(:func:`~lutnn.ir.passes.encoder.encoder_bits_read`).  Lowered nodes are refused: prune first,
then :func:`~lutnn.ir.passes.lower` and :func:`~lutnn.ir.passes.minimize` (the emitter does).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from lutnn.ir.layers import Encoder, FeatureEncoder, LutLayer, Netlist, OrLayer, ThresholdLayer
from lutnn.ir.passes.encoder import KIND_COMPARE, encoder_copies, encoder_keys
from lutnn.ir.passes.minimize import minimize_lut

UNKNOWN = -1  # in a constant vector: the bit is not a constant (else its value 0 or 1)
REASONS = ("constant", "duplicate", "dead")


@dataclass(frozen=True)
class LayerPrune:
    """What :func:`prune` did to one layer.

    Attributes:
        name: the layer's name.
        kind: "lut", "threshold" or "or".
        before: its nodes before pruning.
        after: its nodes after.
        removed: nodes removed, by reason: "constant" (folded into its consumers),
            "duplicate" (its consumers read an equal node), "dead" (nothing read it).
        constant_outputs: kept nodes whose output is a constant (only in the last layer,
            where a constant bit cannot be removed).
    """

    name: str
    kind: str
    before: int
    after: int
    removed: dict[str, int] = field(default_factory=dict)
    constant_outputs: int = 0


@dataclass(frozen=True)
class PruneReport:
    """Per-layer counts of a :func:`prune_with_report` call.

    Attributes:
        layers: one entry per bit layer, in order.
        rounds: passes over the netlist until nothing changed (the last one changed nothing).
    """

    layers: tuple[LayerPrune, ...]
    rounds: int

    @property
    def lut_nodes_before(self) -> int:
        return sum(e.before for e in self.layers if e.kind == "lut")

    @property
    def lut_nodes_after(self) -> int:
        return sum(e.after for e in self.layers if e.kind == "lut")

    @property
    def constant_head_bits(self) -> int:
        return self.layers[-1].constant_outputs if self.layers else 0

    def as_dict(self) -> dict:
        """JSON-ready: totals, then one entry per layer."""
        return {
            "lut_nodes_before": self.lut_nodes_before,
            "lut_nodes_after": self.lut_nodes_after,
            "nodes_before": sum(e.before for e in self.layers),
            "nodes_after": sum(e.after for e in self.layers),
            "constant_head_bits": self.constant_head_bits,
            "rounds": self.rounds,
            "layers": [dataclasses.asdict(e) for e in self.layers],
        }


# -- one layer's nodes, canonicalised against the constants of the bits they read -----------


def _encoder_constants(encoder: Encoder | None, width: int) -> np.ndarray:
    """Per encoder bit: 1 or 0 for a comparison with 0 or with more than the largest input
    (``x >= 0``, ``pixel >= 256``), else UNKNOWN (a bit plane is never constant)."""
    const = np.full(width, UNKNOWN, np.int8)
    if encoder is None:
        return const
    keys = encoder_keys(encoder)  # (bits, 3): input, kind, constant
    top = encoder.max_value if isinstance(encoder, FeatureEncoder) else 255
    compare = keys[:, 1] == KIND_COMPARE
    const[compare & (keys[:, 2] == 0)] = 1
    const[compare & (keys[:, 2] > top)] = 0
    return const


def _read_first_copies(netlist: Netlist, layers: list) -> None:
    """The first layer reads every encoder bit through the first bit computing the same
    comparison (:func:`encoder_copies`), so equal comparators are one and LUTs reading them
    can merge."""
    if netlist.encoder is None or not layers:
        return
    copies = encoder_copies(netlist.encoder)
    layers[0] = _with_inputs(layers[0], copies[layers[0].inputs], layers[0].in_width)


def _canonical_lut(idx: np.ndarray, table: np.ndarray, const: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, int, tuple]:
    """One LUT on its support, padded back to k slots, and the key it is merged by.

    The support keeps its slot order (so a LUT with nothing to drop comes back as it was,
    and :func:`~lutnn.ir.passes.minimize` makes the same op of either); the slots past it
    read the first support input and the table ignores them.  The key is the function over
    the support in increasing input order, so equal functions wired in another order match.

    Returns (inputs [k], table [2**k], constant value or UNKNOWN, key).
    """
    k = idx.size
    a = np.arange(2**k)
    t = table
    for j in range(k):  # a constant input: every address reads the entry with that bit fixed
        c = int(const[idx[j]])
        if c != UNKNOWN:
            t = t[(a & ~(1 << j)) | (c << j)]
    support, reduced = minimize_lut([int(i) for i in idx], t)
    m = len(support)
    if m == 0:
        value = int(reduced[0])
        return np.zeros(k, np.int32), np.full(2**k, value, np.uint8), value, ("c", value)
    inputs = np.array(support + [support[0]] * (k - m), np.int32)
    order = np.argsort(support)  # sorted slot i is support position order[i]
    b = np.arange(2**m)
    by_index = reduced[sum(((b >> i) & 1) << int(p) for i, p in enumerate(order))]
    key = (tuple(sorted(support)), by_index.tobytes())
    return inputs, reduced[a & (2**m - 1)].astype(np.uint8), UNKNOWN, key


def _fold_lut(layer: LutLayer, const: np.ndarray) -> tuple[LutLayer, np.ndarray, list]:
    inputs, tables = layer.inputs.copy(), layer.tables.copy()
    out_const = np.full(layer.out_width, UNKNOWN, np.int8)
    keys = []
    for n in range(layer.out_width):
        inputs[n], tables[n], out_const[n], key = _canonical_lut(
            layer.inputs[n], layer.tables[n], const)
        keys.append(key)
    return dataclasses.replace(layer, inputs=inputs, tables=tables), out_const, keys


def _fold_threshold(layer: ThresholdLayer, const: np.ndarray
                    ) -> tuple[ThresholdLayer, np.ndarray, list]:
    inputs, weights = layer.inputs.copy(), layer.weights.copy()
    thresholds, invert = layer.thresholds.copy(), layer.invert.copy()
    c = const[inputs]  # (N, F)
    fixed = (weights != 0) & (c != UNKNOWN)
    hits = (fixed & (c == (weights > 0))).sum(axis=1)  # constant slots that always count
    thresholds = np.maximum(thresholds - hits, 0).astype(np.int32)
    weights[fixed] = 0
    connected = (weights != 0).sum(axis=1)
    value = np.where(thresholds == 0, 1, np.where(thresholds > connected, 0, UNKNOWN))
    is_const = value != UNKNOWN
    weights[is_const] = 0  # a constant reads nothing: threshold 0 is 1, threshold 1 is 0
    thresholds[is_const] = np.where(value[is_const] == 1, 0, 1)
    out_const = np.where(is_const, value ^ invert, UNKNOWN).astype(np.int8)
    keys = []
    for n in range(layer.out_width):
        live = np.flatnonzero(weights[n])
        inputs[n, weights[n] == 0] = inputs[n, live[0]] if live.size else 0
        if is_const[n]:
            keys.append(("c", int(out_const[n])))
        else:
            pairs = sorted(zip(inputs[n, live].tolist(), weights[n, live].tolist(), strict=True))
            keys.append((tuple(pairs), int(thresholds[n]), bool(invert[n])))
    layer = dataclasses.replace(layer, inputs=inputs, weights=weights, thresholds=thresholds,
                                invert=invert)
    return layer, out_const, keys


def _fold_or(layer: OrLayer, const: np.ndarray) -> tuple[OrLayer, np.ndarray, list]:
    inputs = layer.inputs.copy()
    out_const = np.full(layer.out_width, UNKNOWN, np.int8)
    keys = []
    for n in range(layer.out_width):
        row = inputs[n]
        c = const[row]
        if (c == 1).any():  # always 1: read one constant-1 bit (an OR cannot hold a constant)
            row[:] = row[np.flatnonzero(c == 1)[0]]
            out_const[n] = 1
        elif (c == UNKNOWN).any():  # constant-0 slots read a real input instead
            row[c == 0] = row[np.flatnonzero(c == UNKNOWN)[0]]
        else:
            row[:] = row[0]
            out_const[n] = 0
        keys.append(("c", int(out_const[n])) if out_const[n] != UNKNOWN
                    else tuple(sorted(set(row.tolist()))))
    return dataclasses.replace(layer, inputs=inputs), out_const, keys


def _fold(layer, const):
    if isinstance(layer, LutLayer):
        return _fold_lut(layer, const)
    if isinstance(layer, ThresholdLayer):
        return _fold_threshold(layer, const)
    if isinstance(layer, OrLayer):
        return _fold_or(layer, const)
    raise ValueError(f"layer {layer.name!r}: prune works on the unlowered form (LutLayer, "
                     f"ThresholdLayer, OrLayer), got {type(layer).__name__}")


def _reads(layer, const_out: np.ndarray) -> list[np.ndarray]:
    """The input bits each node's output depends on (a constant node: none)."""
    if isinstance(layer, LutLayer):  # canonical: slots past the support repeat slot 0
        return [np.unique(row) if c == UNKNOWN else row[:0]
                for row, c in zip(layer.inputs, const_out, strict=True)]
    if isinstance(layer, ThresholdLayer):
        return [np.unique(row[w != 0])
                for row, w in zip(layer.inputs, layer.weights, strict=True)]
    return [np.unique(row) for row in layer.inputs]  # OrLayer: a constant still reads a bit


def _kind(layer) -> str:
    return {LutLayer: "lut", ThresholdLayer: "threshold", OrLayer: "or"}[type(layer)]


def _with_inputs(layer, inputs: np.ndarray, in_width: int):
    return dataclasses.replace(layer, inputs=inputs.astype(np.int32), in_width=in_width)


def _keep_rows(layer, rows: np.ndarray):
    arrays = {spec.name: getattr(layer, spec.name)[rows] for spec in type(layer).ARRAYS}
    return dataclasses.replace(layer, **arrays)


def _round(netlist: Netlist, removed: list[dict[str, int]]) -> tuple[Netlist, list[int]]:
    """One forward sweep (fold constants, canonicalise, merge duplicates) and one backward
    sweep (drop unread nodes); adds to ``removed`` and returns the constant-bit counts."""
    layers = list(netlist.layers)
    _read_first_copies(netlist, layers)
    const = _encoder_constants(netlist.encoder, netlist.input_bits)
    consts, reps = [], []
    for i, layer in enumerate(layers):
        layer, out_const, keys = _fold(layer, const)
        rep = np.arange(layer.out_width)
        if i < len(layers) - 1:  # the last layer is read by position: no merging there
            first: dict = {}
            for n, key in enumerate(keys):
                rep[n] = first.setdefault(key, n)
            nxt = layers[i + 1]
            layers[i + 1] = _with_inputs(nxt, rep[nxt.inputs], nxt.in_width)
        layers[i], const = layer, out_const
        consts.append(out_const)
        reps.append(rep)
    keep = np.ones(layers[-1].out_width, bool) if layers else None
    for i in range(len(layers) - 1, -1, -1):  # keep[i]: which nodes of layer i stay
        if i < len(layers) - 1:
            remap = np.cumsum(keep) - 1
            remap[~keep] = 0  # only slots the function ignores read a removed node
            nxt = layers[i + 1]
            layers[i + 1] = _with_inputs(nxt, remap[nxt.inputs], int(keep.sum()))
            gone = np.flatnonzero(~keep)
            constant = consts[i][gone] != UNKNOWN
            duplicate = ~constant & (reps[i][gone] != gone)  # its readers read the copy
            for reason, count in (("constant", int(constant.sum())),
                                  ("duplicate", int(duplicate.sum())),
                                  ("dead", int((~constant & ~duplicate).sum()))):
                removed[i][reason] = removed[i].get(reason, 0) + count
            layers[i] = _keep_rows(layers[i], np.flatnonzero(keep))
            consts[i] = consts[i][keep]
        width = netlist.input_bits if i == 0 else layers[i - 1].out_width
        read = np.zeros(width, bool)
        for r in _reads(layers[i], consts[i]):
            read[r] = True
        if not read.any():  # a layer keeps at least one bit (widths must be positive)
            read[0] = True
        keep = read
    return dataclasses.replace(netlist, layers=tuple(layers)), [
        int((c != UNKNOWN).sum()) for c in consts]


def _signature(netlist: Netlist) -> tuple:
    return tuple(getattr(layer, spec.name).tobytes() + bytes(str(getattr(layer, spec.name)
                                                                 .shape), "ascii")
                 for layer in netlist.layers for spec in type(layer).ARRAYS)


def prune_with_report(netlist: Netlist, *, max_rounds: int = 100) -> tuple[Netlist, PruneReport]:
    """:func:`prune`, and what it removed from each layer and why.

    Args:
        netlist: a valid unlowered netlist.
        max_rounds: a bound on the sweeps (each one that changes something removes or
            canonicalises nodes, so the fixed point comes long before).

    Raises:
        ValueError: the netlist is invalid or holds lowered nodes.
    """
    netlist.validate()
    for layer in netlist.layers:
        if type(layer) not in (LutLayer, ThresholdLayer, OrLayer):
            _fold(layer, None)  # raises, naming the layer
    before = [layer.out_width for layer in netlist.layers]
    removed: list[dict[str, int]] = [{} for _ in netlist.layers]
    const_counts = [0] * len(netlist.layers)
    rounds, sig = 0, _signature(netlist)
    while netlist.layers and rounds < max_rounds:
        netlist, const_counts = _round(netlist, removed)
        rounds += 1
        new_sig = _signature(netlist)
        if new_sig == sig:
            break
        sig = new_sig
    netlist.validate()
    entries = tuple(
        LayerPrune(layer.name, _kind(layer), before[i], layer.out_width,
                   {r: removed[i].get(r, 0) for r in REASONS},
                   const_counts[i] if i == len(before) - 1 else 0)
        for i, layer in enumerate(netlist.layers))
    return netlist, PruneReport(entries, rounds)


def prune(netlist: Netlist) -> Netlist:
    """The same function with constant, duplicate and unread nodes removed (see the module).

    Example:
        >>> from lutnn.ir import GroupSumHead, LutLayer, Netlist
        >>> a = LutLayer("a", 2, np.array([[0, 1]] * 3, np.int32),
        ...              np.array([[0, 1, 1, 0], [0, 1, 1, 0], [1, 1, 1, 1]], np.uint8))
        >>> b = LutLayer("b", 3, np.array([[0, 1], [1, 2]], np.int32),
        ...              np.array([[0, 1, 1, 1], [0, 0, 1, 1]], np.uint8))
        >>> pruned = prune(Netlist(2, (a, b), head=GroupSumHead("h", 2, 2)))
        >>> pruned.layers[0].out_width  # node 1 duplicates node 0, node 2 is a constant 1
        1
    """
    return prune_with_report(netlist)[0]
