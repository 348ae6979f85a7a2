"""Verilog emitter: a :class:`~lutnn.ir.Netlist` -> one synthesizable Verilog-2001 design.

The emitter only fills templates: :func:`emit_verilog` runs the declared passes of
:func:`verilog_passes` (``lower``, ``minimize``, and per the options the parallel argmax and the
stage assignment; see :mod:`lutnn.ir.passes.flow`, where the form between passes is checked),
then :func:`fill_verilog` writes one template per node and per logic op.  Structure of the
emitted text (every piece from a named template in ``templates/``):

* a header comment: ports, bit order, latency, netlist summary;
* ``<top>_lut``: one k-input table, ``y = INIT[a]`` (address bit j = input j);
* one combinational module per block: the encoder (``<top>_enc_*``), each layer
  (``<top>_l<i>_*``), the head (``<top>_head_*``);
* the top module: blocks in order, with pipeline registers (and a ``valid`` bit) after the
  blocks the ``pipeline`` option names.

Hardware per node of the lowered netlist:

* encoder: one comparator ``pixel >= threshold`` per output bit (constants for 0 and 256);
  a :class:`~lutnn.ir.FeatureEncoder`: one ``x[q] >= W'd<threshold[q, t]>`` per bit on the
  W-bit fixed-point input q (constants for 0 and 2**W), its float -> fixed-point mapping
  (offset, scale per input) written in the header; only for the bits the network reads
  (:func:`~lutnn.ir.passes.encoder.encoder_bits_read`; the others are tied to 0) and one per
  distinct comparison (equal ones are copies of the first); a
  :class:`~lutnn.ir.BitplaneEncoder`: wires from the pixels' top bits;
* logic layer: per :class:`~lutnn.ir.LutOp` one ``<top>_lut`` (a constant or a wire where
  that is all it is), per :class:`~lutnn.ir.AddOp` one ``+``, per
  :class:`~lutnn.ir.CompareOp` one ``>=`` (``<`` where inverted);
* OR layer: a reduction OR;
* head: its popcount logic, then an argmax tree of ``>`` comparators in which the
  lower-index side wins ties (cut into LUTs when staged); with ``argmax="parallel"`` the
  all-pairs argmax of :func:`lutnn.ir.passes.parallel_argmax` as LUT instances instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lutnn.hdl.naming import comment_text, verilog_identifier
from lutnn.hdl.ops import OPS, Names, bit_range, concat, lut_line
from lutnn.hdl.templates import render
from lutnn.ir.dispatch import NodeTable
from lutnn.ir.layers import (
    BitplaneEncoder,
    FeatureEncoder,
    InputEncoder,
    LogicLayer,
    LoweredHead,
    Netlist,
    OrLayer,
)
from lutnn.ir.lowered import greater_ops
from lutnn.ir.options import PIPELINES, ExportOptions, default_argmax, parse_pipeline
from lutnn.ir.passes.encoder import KIND_PLANE, encoder_bits_read, encoder_keys
from lutnn.ir.passes.flow import (
    LOWER,
    MINIMIZE,
    PARALLEL_ARGMAX,
    Pass,
    assign_stages_pass,
    run_flow,
)
from lutnn.ir.passes.stages import balanced_levels, default_argmax_stages

# One function per node type of the lowered netlist: (node, _Context) -> (_Block, summary line).
BLOCKS = NodeTable("hdl.emit")


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
            register follows when the output is not registered); stage j of a block cut into
            stages is ``<label>.<j>`` ("head.2").
        levels_per_stage: the LUT-level bound of ``pipeline="balanced"``, else None.
        argmax: the head's argmax, "tree" or "parallel".
    """

    text: str
    top: str
    latency: int
    ports: tuple[Port, ...]
    pipeline: str | int
    stages: tuple[tuple[str, ...], ...]
    levels_per_stage: int | None = None
    argmax: str = "tree"

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
        names = {p.name for p in self.ports}
        return self.port("out_class" if "out_class" in names else "out_bits")


@dataclass(frozen=True)
class _Block:
    """One module of the design (combinational unless cut into stages), before it is wired
    into the top."""

    kind: str  # "encoder", "layer" or "head": how the top instantiates it
    label: str  # short name in comments and stages: "enc", "L1", "head"
    module: str  # its Verilog module name
    text: str  # its Verilog module
    out_width: int
    stages: int = 1  # pipeline stages inside (stages - 1 register ranks; a clk port if > 1)


@dataclass(frozen=True)
class _Context:
    """What a block's text depends on besides its node."""

    top: str  # the top module's name (prefix of every module)
    index: int  # the layer's position, from 1 (titles and module names)
    scores: bool  # the head also outputs the class scores
    read: np.ndarray | None = None  # the encoder's bits the network reads (None: all)


# ---------------------------------------------------------------------------------------------
# one body per IR layer type


def _encoder_body(enc: InputEncoder | FeatureEncoder | BitplaneEncoder,
                  read: np.ndarray | None) -> tuple[list[str], int]:
    """One line per encoder bit, and the comparators built.  Only the bits the network reads
    (``read``; None: all) get logic, and bits comparing the same input with the same constant
    share one comparator (the first read one); an unread bit is tied to 0, a bit plane is a
    wire, a comparison with 0 or past the largest input a constant."""
    w = enc.width if isinstance(enc, FeatureEncoder) else 8
    top = enc.max_value if isinstance(enc, FeatureEncoder) else 255
    keys = encoder_keys(enc)  # (bits, 3): input q, kind, constant
    first: dict[tuple[int, int], int] = {}
    lines = []
    for bit, (q, kind, c) in enumerate(keys.tolist()):
        if read is not None and not read[bit]:
            rhs = "1'b0"  # nothing reads it: no comparator
        elif kind == KIND_PLANE:
            rhs = f"x[{w * q + c}]"
        elif c == 0 or c > top:
            rhs = "1'b1" if c == 0 else "1'b0"
        elif (q, c) in first:
            rhs = f"y[{first[q, c]}]"  # the same comparison: one comparator
        else:
            first[q, c] = bit
            span = {"bit": bit, "msb": w * q + w - 1, "lsb": w * q, "threshold": c}
            lines.append(render("feature_bit", width=w, **span)
                         if isinstance(enc, FeatureEncoder) else render("encoder_bit", **span))
            continue
        lines.append(render("assign", lhs=f"y[{bit}]", rhs=rhs))
    return lines, len(first)


def feature_mapping_comment(enc: FeatureEncoder) -> list[str]:
    """Header lines stating the float -> fixed-point mapping of every input (one line when
    all inputs share it)."""
    rule = (f"x_fixed[q] = clip(floor((x[q] - offset[q]) * scale[q] + 1/2), 0, "
            f"{enc.max_value}), float64")
    pairs = [(repr(float(o)), repr(float(s))) for o, s in zip(enc.offset, enc.scale, strict=True)]
    if len(set(pairs)) == 1:
        return [f"//   fixed point: {rule}; every input: offset {pairs[0][0]}, "
                f"scale {pairs[0][1]}"]
    return [f"//   fixed point: {rule}; per input q:",
            *(f"//     q={q}: offset {o}, scale {sc}" for q, (o, sc) in enumerate(pairs))]


def _logic_body(layer: LogicLayer, top: str) -> list[str]:
    if layer.stages > 1:
        return _staged_logic_body(layer, top)
    outputs = {s: n for n, s in enumerate(layer.outputs.tolist())}
    names = Names("n", layer.in_width, outputs)
    return [line for op in layer.ops for line in OPS(op, names, top)]


def _staged_ops(ops: tuple, names: Names, top: str) -> list[str]:
    """Each op's lines after the registers it reads through (a node cut into stages)."""
    lines: list[str] = []
    for op in ops:
        names.stage = op.stage
        body = OPS(op, names, top)
        lines += names.take_registers() + body
    return lines


def _staged_logic_body(layer: LogicLayer, top: str) -> list[str]:
    names = Names("n", layer.in_width, {}, staged=True)
    lines = _staged_ops(layer.ops, names, top)
    names.stage = layer.stages - 1
    outs = [render("assign", lhs=f"y[{n}]", rhs=names.of(s))
            for n, s in enumerate(layer.outputs.tolist())]
    return lines + names.take_registers() + outs


def _or_body(layer: OrLayer) -> list[str]:
    return [render("assign", lhs=f"y[{n}]", rhs=" | ".join(f"x[{i}]" for i in layer.inputs[n]))
            for n in range(layer.out_width)]


def class_width(num_classes: int) -> int:
    """Bits of ``out_class``: ceil(log2 C), at least 1."""
    return max(1, (num_classes - 1).bit_length())


def _bit(name: str, i: int, width: int) -> str:
    """Bit ``i`` of a ``width``-bit signal (a 1-bit one is a scalar: no part-select)."""
    return name if width == 1 else f"{name}[{i}]"


def _compare_luts(ops: tuple, stages: list[int], score_a: str, score_b: str, take: str,
                  names: Names, top: str) -> list[str]:
    """``take = score_b > score_a`` as the LUTs of :func:`lutnn.ir.lowered.greater_ops`, LUT
    level l in stage ``stages[l]`` (reading the scores through registers as needed)."""
    width = ops[0].out // 2  # signals 0..width-1: score_a's bits, then score_b's
    lines: list[str] = []
    signal: dict[int, str] = {}  # an op's output -> its wire
    for j, op in enumerate(ops):
        names.stage = stages[op.stage]
        inputs = [names.at(signal[s]) if s in signal else
                  _bit(names.at(score_a if s < width else score_b), s % width, width)
                  for s in op.inputs]
        out = take if j == len(ops) - 1 else f"{take}{j}"
        signal[op.out] = out
        body = [render("wire", range="", name=out),
                lut_line(top, f"u_{out}", inputs, op.table, out)]
        lines += names.take_registers() + body
        names.written(out)
    return lines


def _staged_head_body(head: LoweredHead, top: str, scores: bool) -> list[str]:
    """The head cut into stages: popcounts, then each argmax level's compare and select in the
    stages ``head.argmax_stages`` names (every level in the last score's stage when empty)."""
    cw, sw = class_width(head.num_classes), head.score_width
    names = Names("g", head.in_width, {}, staged=True)
    lines = _staged_ops(head.ops, names, top)
    nodes = []
    for c, first in enumerate(head.scores.tolist()):
        names.stage = max(op.stage for op in head.ops if op.out == first)
        score = f"score{c}"
        rhs = f"{names.vector(first)}[{sw - 1}:0]"
        lines += names.take_registers() + [render("wire", range=bit_range(sw), name=score),
                                           render("assign", lhs=score, rhs=rhs)]
        names.written(score, sw)
        nodes.append((f"{cw}'d{c}", score))
    last = head.stages - 1
    if scores:
        names.stage = last
        rhs = concat([names.at(score) for _, score in nodes])
        lines += names.take_registers() + [render("assign", lhs="scores", rhs=rhs)]
    if head.class_bits:  # a parallel argmax: its LUTs were among the ops
        names.stage = last
        rhs = concat([names.of(s) for s in head.class_bits])
        return lines + names.take_registers() + [render("assign", lhs="cls", rhs=rhs)]
    levels = head.argmax_stages or default_argmax_stages(head)
    compare = greater_ops(sw)
    for level, (*compare_stages, select) in enumerate(levels):
        nxt = []
        for i in range(0, len(nodes) - 1, 2):
            (cls_a, score_a), (cls_b, score_b) = nodes[i], nodes[i + 1]
            tag = f"m{level}_{i // 2}"
            lines += _compare_luts(compare, compare_stages, score_a, score_b, f"{tag}_take",
                                   names, top)
            names.stage = select
            step = render("argmax_select", take=names.at(f"{tag}_take"),
                          score_a=names.at(score_a), score_b=names.at(score_b),
                          score_msb=sw - 1, score=f"{tag}_score", class_msb=cw - 1,
                          cls=f"{tag}_class", cls_a=names.at(cls_a), cls_b=names.at(cls_b))
            lines += names.take_registers() + [step]
            names.written(f"{tag}_score", sw)
            names.written(f"{tag}_class", cw)
            nxt.append((f"{tag}_class", f"{tag}_score"))
        if len(nodes) % 2:
            nxt.append(nodes[-1])
        nodes = nxt
    names.stage = last
    rhs = names.at(nodes[0][0])
    return lines + names.take_registers() + [render("assign", lhs="cls", rhs=rhs)]


def _head_body(head: LoweredHead, top: str, scores: bool) -> tuple[list[str], int]:
    cw, sw = class_width(head.num_classes), head.score_width
    if head.stages > 1:
        return _staged_head_body(head, top, scores), sw
    names = Names("g", head.in_width, {})
    score_of = {s: c for c, s in enumerate(head.scores.tolist())}
    lines: list[str] = []
    nodes = []
    for op in head.ops:
        lines += OPS(op, names, top)
        if op.out in score_of:  # class c's popcount is complete
            c, score = score_of[op.out], f"score{score_of[op.out]}"
            lines.append(render("wire", range=bit_range(sw), name=score))
            lines.append(render("assign", lhs=score, rhs=f"{names.vectors[op.out]}[{sw - 1}:0]"))
            nodes.append((f"{cw}'d{c}", score))
    if scores:
        lines.append(render("assign", lhs="scores", rhs=concat([s for _, s in nodes])))
    if head.class_bits:  # a parallel argmax: its LUTs were among the ops
        lines.append(render("assign", lhs="cls",
                            rhs=concat([names.of(s) for s in head.class_bits])))
        return lines, sw
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


def _encoder_module(enc, ctx: _Context, title: str, in_msb: int) -> tuple[_Block, str]:
    """The encoder's module and its title with what it builds."""
    module = f"{ctx.top}_enc_{verilog_identifier(enc.name)}"
    body, built = _encoder_body(enc, ctx.read)
    if not isinstance(enc, BitplaneEncoder):
        unread = "" if ctx.read is None else f", {int((~ctx.read).sum())} bits unread (0)"
        title += f"; {built} comparators built (the bits read, equal ones shared{unread})"
    text = render("layer_module", title=title, module=module, in_msb=in_msb,
                  out_msb=enc.out_width - 1, body="\n".join(body))
    return _Block("encoder", "enc", module, text, enc.out_width), title


@BLOCKS.register(InputEncoder)
def _encoder_block(enc: InputEncoder, ctx: _Context) -> tuple[_Block, str]:
    thresholds = ", ".join(str(int(t)) for t in enc.thresholds)
    title = (f"encoder {comment_text(enc.name)}: {enc.pixels} pixels ({enc.channels} "
             f"channel(s)) x thresholds [{thresholds}] -> {enc.out_width} bits, "
             "bit (c*T + t)*HW + p = pixel[c*HW + p] >= threshold[t]")
    block, title = _encoder_module(enc, ctx, title, 8 * enc.pixels - 1)
    return block, f"//   input: {enc.pixels} 8-bit pixels; {title}"


@BLOCKS.register(BitplaneEncoder)
def _bitplane_block(enc: BitplaneEncoder, ctx: _Context) -> tuple[_Block, str]:
    title = (f"encoder {comment_text(enc.name)}: {enc.pixels} pixels ({enc.channels} "
             f"channel(s)) x their top {enc.planes} bit(s) -> {enc.out_width} bits, "
             "bit (c*B + j)*HW + p = bit 7-j of pixel[c*HW + p] (wires, no logic)")
    block, title = _encoder_module(enc, ctx, title, 8 * enc.pixels - 1)
    return block, f"//   input: {enc.pixels} 8-bit pixels; {title}"


@BLOCKS.register(FeatureEncoder)
def _feature_block(enc: FeatureEncoder, ctx: _Context) -> tuple[_Block, str]:
    title = (f"encoder {comment_text(enc.name)}: {enc.features} {enc.width}-bit unsigned "
             f"inputs ({enc.channels} channel(s)) x {enc.levels} thresholds each -> "
             f"{enc.out_width} bits, bit (c*T + t)*HW + p = x[c*HW + p] >= "
             "threshold[c*HW + p, t] (a table: bit f*T + t = x[f] >= threshold[f, t])")
    block, title = _encoder_module(enc, ctx, title, enc.width * enc.features - 1)
    summary = "\n".join([f"//   input: {enc.features} {enc.width}-bit fixed-point values; "
                         f"{title}", *feature_mapping_comment(enc)])
    return block, summary


def _layer_block(layer, ctx: _Context, kind: str, note: str, body: list[str],
                 stages: int = 1) -> tuple[_Block, str]:
    module = f"{ctx.top}_l{ctx.index}_{verilog_identifier(layer.name)}"
    title = (f"L{ctx.index}: {kind} layer {comment_text(layer.name)}, {layer.in_width} -> "
             f"{layer.out_width} bits, {note}")
    if stages > 1:
        title += f", {stages} pipeline stages"
    text = render("layer_module" if stages == 1 else "layer_module_staged", title=title,
                  module=module, in_msb=layer.in_width - 1, out_msb=layer.out_width - 1,
                  body="\n".join(body))
    return (_Block("layer", f"L{ctx.index}", module, text, layer.out_width, stages),
            f"//   {title}")


@BLOCKS.register(LogicLayer)
def _logic_block(layer: LogicLayer, ctx: _Context) -> tuple[_Block, str]:
    return _layer_block(layer, ctx, layer.source, layer.note, _logic_body(layer, ctx.top),
                        layer.stages)


@BLOCKS.register(OrLayer)
def _or_block(layer: OrLayer, ctx: _Context) -> tuple[_Block, str]:
    return _layer_block(layer, ctx, "or", f"window {layer.window}", _or_body(layer))


@BLOCKS.register(LoweredHead)
def _head_block(head: LoweredHead, ctx: _Context) -> tuple[_Block, str]:
    module = f"{ctx.top}_head_{verilog_identifier(head.name)}"
    title = (f"head {comment_text(head.name)}: {head.num_classes} classes x "
             f"{head.group_size} bits, score = popcount of the group, class = argmax "
             "(lowest index on ties)")
    if head.stages > 1:
        title += f", {head.stages} pipeline stages"
    body, sw = _head_body(head, ctx.top, ctx.scores)
    port = render("scores_port", msb=head.num_classes * sw - 1) + "\n" if ctx.scores else ""
    clk = render("clk_port") + "\n" if head.stages > 1 else ""
    text = render("head_module", title=title, module=module, clk_port=clk,
                  in_msb=head.in_width - 1, scores_port=port,
                  class_msb=class_width(head.num_classes) - 1, body="\n".join(body))
    return (_Block("head", "head", module, text, class_width(head.num_classes), head.stages),
            f"//   {title}")


def _blocks(netlist: Netlist, top: str, scores: bool) -> tuple[list[_Block], list[str]]:
    """The combinational modules of a lowered netlist in order, and the summary comment."""
    blocks, summary = [], []
    if netlist.encoder is None:
        summary.append(f"//   input: {netlist.input_bits} bits")
    nodes = [netlist.encoder, *netlist.layers, netlist.head]
    read = encoder_bits_read(netlist) if netlist.encoder is not None else None
    for i, node in enumerate(nodes):
        if node is not None:
            block, line = BLOCKS(node, _Context(top, i, scores, read if i == 0 else None))
            blocks.append(block)
            summary.append(line)
    if netlist.head is None:
        summary.append(f"//   output: {netlist.output_bits} bits")
    return blocks, summary


def _registered(n_blocks: int, pipeline: str | int) -> list[bool]:
    """Whether a register follows block i: every block ('layer'), none, or every n-th block and
    the last one (int n)."""
    if pipeline == "none":
        return [False] * n_blocks
    every = 1 if pipeline in ("layer", "balanced") else int(pipeline)
    return [(i + 1) % every == 0 or i + 1 == n_blocks for i in range(n_blocks)]


def _port_lines(ports: list[Port]) -> tuple[str, str]:
    """(the port list of the top module, the header comment's port table)."""
    decl, doc = [], []
    for i, p in enumerate(ports):
        vector = p.name not in ("clk", "in_valid", "out_valid")
        decl.append(render("port", direction=p.direction,
                           range=bit_range(p.width) if vector else "",
                           name=p.name, comma="," if i + 1 < len(ports) else ""))
        span = f"[{p.width - 1}:0]" if vector else ""
        doc.append(f"//   {p.direction:<6} {p.name + span:<22} {p.description}")
    return "\n".join(decl), "\n".join(doc)


def _ports(netlist: Netlist, scores: bool, latency: int) -> list[Port]:
    enc, head = netlist.encoder, netlist.head
    if enc is None:
        in_data = Port("in_data", "input", netlist.input_bits, "input bit i at in_data[i]")
    elif isinstance(enc, FeatureEncoder):
        w = enc.width
        in_data = Port("in_data", "input", w * enc.features,
                       f"input q at in_data[{w}q+{w - 1}:{w}q], unsigned {w}-bit fixed point")
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
                 scores: bool = False, levels_per_stage: int | None = None,
                 argmax: str | None = None) -> VerilogDesign:
    """Emit ``netlist`` as one synthesizable Verilog-2001 design.

    Args:
        netlist: the IR (validated here).
        top: top module name (sanitized into a Verilog identifier; see ``.top``).
        pipeline: "layer" = a register stage after every block (encoder, each layer, head);
            "none" = purely combinational (latency 0); an int n = a register after every n-th
            block and after the last; "balanced" = as "layer", and the threshold layers and
            the head cut into stages of at most ``levels_per_stage`` LUT levels
            (:func:`lutnn.ir.passes.assign_stages` decides where).
        scores: also output the class scores (``out_scores``) when there is a head.
        levels_per_stage: with "balanced", the bound (None: the deepest LUT layer's levels,
            see :func:`lutnn.ir.passes.balanced_levels`); refused with any other pipeline.
        argmax: the head's argmax: "tree" (``ceil(log2 C)`` levels of compare + select, the
            fewest LUTs) or "parallel" (every pair compared at once, then an AND per class
            and a one-hot -> index OR: :func:`lutnn.ir.passes.parallel_argmax`; about 5
            LUT levels for 10 classes instead of 12, for about twice the argmax LUTs); None
            (the default): :func:`default_argmax`, "parallel" with ``balanced`` (there every
            LUT level is a cycle), else "tree".  Ties go to the lowest index either way.

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
    options = ExportOptions(pipeline=pipeline, levels_per_stage=levels_per_stage, argmax=argmax)
    lowered = run_flow(netlist, verilog_passes(options))
    return fill_verilog(netlist, lowered, options, top=top, scores=scores)


def verilog_passes(options: ExportOptions) -> tuple[Pass, ...]:
    """The passes a Verilog design is emitted from, in order: ``lower``, ``minimize``, the
    parallel argmax when ``options`` asks for it, and the stage assignment of
    ``pipeline="balanced"``."""
    passes = [LOWER, MINIMIZE]
    if options.resolved_argmax == "parallel":
        passes.append(PARALLEL_ARGMAX)
    if options.pipeline == "balanced":
        passes.append(assign_stages_pass(options.levels_per_stage))
    return tuple(passes)


def fill_verilog(netlist: Netlist, lowered: Netlist, options: ExportOptions, *,
                 top: str = "lutnn_top", scores: bool = False) -> VerilogDesign:
    """Fill the templates of ``lowered`` (``netlist`` after :func:`verilog_passes`): one
    module per block, the top with the pipeline registers ``options`` name, the header."""
    pipeline, argmax = options.pipeline, options.resolved_argmax
    levels_per_stage = None
    if pipeline == "balanced":  # the bound the stages were cut to (LUT layers are not cut)
        levels_per_stage = (balanced_levels(lowered) if options.levels_per_stage is None
                            else options.levels_per_stage)
    top = verilog_identifier(top, max_len=64)
    blocks, summary = _blocks(lowered, top, scores)
    regs = _registered(len(blocks), pipeline)
    latency = sum(regs) + sum(b.stages - 1 for b in blocks)
    ports = _ports(netlist, scores, latency)
    has_head = netlist.head is not None
    body, stages = _top_body(blocks, regs, ports, scores, has_head)
    port_decl, port_doc = _port_lines(ports)
    parts = [
        render("header", top=top, summary="\n".join(summary), ports=port_doc, latency=latency,
               pipeline=_pipeline_note(blocks, regs, pipeline, levels_per_stage,
                                       argmax == "parallel" and has_head)),
        "",
        render("lut_module", top=top),
        *("\n" + b.text for b in blocks),
        "",
        render("top_module", top=top, ports=port_decl, body="\n".join(body)),
        "",
    ]
    return VerilogDesign("\n".join(parts), top, latency, tuple(ports), pipeline, tuple(stages),
                         levels_per_stage, argmax if has_head else "tree")


def _pipeline_note(blocks: list[_Block], regs: list[bool], pipeline: str | int,
                   levels_per_stage: int | None, parallel: bool) -> str:
    """The header's line on where the registers are."""
    if pipeline == "none":
        note = 'pipeline="none": combinational'
    else:
        after = ", ".join(b.label for b, r in zip(blocks, regs, strict=True) if r)
        note = f"pipeline={pipeline!r}: registers after {after or 'nothing'}"
        if pipeline == "balanced":
            inner = ", ".join(f"{b.label} {b.stages - 1}" for b in blocks if b.stages > 1)
            note = (f"pipeline='balanced', at most {levels_per_stage} LUT level(s) per "
                    f"stage (estimated): registers after every block, and inside "
                    f"{inner or 'none'}")
    if parallel:
        note += "; argmax='parallel' (all pairs compared at once, in LUTs)"
    return note


def _top_body(blocks: list[_Block], regs: list[bool], ports: list[Port], scores: bool,
              has_head: bool) -> tuple[list[str], list[tuple[str, ...]]]:
    """The top module's body (block instances, stage and valid registers, output assigns)
    and its stages (the block labels feeding each register rank)."""
    body: list[str] = []
    data, valid, cls_scores = "in_data", "in_valid", None
    stages: list[tuple[str, ...]] = []
    pending: list[str] = []
    stage = 0
    for i, (block, reg) in enumerate(zip(blocks, regs, strict=True), start=1):
        out = f"b{i}_out"
        body.append(render("wire", range=bit_range(block.out_width), name=out))
        clk = "_clk" if block.stages > 1 else ""  # a block cut into stages takes the clock
        if block.kind == "head":
            if scores:
                sw_total = next(p.width for p in ports if p.name == "out_scores")
                sc = f"b{i}_scores"
                body.append(render("wire", range=bit_range(sw_total), name=sc))
                body.append(render("head_instance_scores" + clk, module=block.module,
                                   inst=f"u_b{i}", x=data, scores=sc, cls=out))
            else:
                body.append(render("head_instance" + clk, module=block.module, inst=f"u_b{i}",
                                   x=data, cls=out))
        else:
            body.append(render("instance" + clk, module=block.module, inst=f"u_b{i}", x=data,
                               y=out))
        for j in range(1, block.stages):  # its inner registers: the valid bit keeps pace
            stage += 1
            body.append(render("valid_reg", q=f"st{stage}_valid", d=valid))
            valid = f"st{stage}_valid"
            stages.append((*pending, f"{block.label}.{j}"))
            pending = []
        pending.append(block.label if block.stages == 1 else f"{block.label}.{block.stages}")
        data = out
        if block.kind == "head" and scores:
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
    body.append(render("assign", lhs="out_valid", rhs=valid))
    body.append(render("assign", lhs="out_class" if has_head else "out_bits", rhs=data))
    if cls_scores is not None:
        body.append(render("assign", lhs="out_scores", rhs=cls_scores))
    return body, stages


__all__ = ["PIPELINES", "Port", "VerilogDesign", "class_width", "default_argmax",
           "emit_verilog", "feature_mapping_comment", "fill_verilog", "parse_pipeline",
           "verilog_passes"]
