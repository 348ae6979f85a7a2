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
  blocks the ``pipeline`` option names (:mod:`lutnn.hdl.toplevel`: ports, registers, wiring).

Hardware per node of the lowered netlist (one function per node type in :data:`BLOCKS`, which
wraps a body in its module):

* encoder (:mod:`lutnn.hdl.encoder`): one comparator ``pixel >= threshold`` per output bit
  (constants for 0 and 256); a :class:`~lutnn.ir.FeatureEncoder`: one
  ``x[q] >= W'd<threshold[q, t]>`` per bit on the W-bit fixed-point input q (constants for 0
  and 2**W), its float -> fixed-point mapping (offset, scale per input) written in the header;
  only for the bits the network reads (:func:`~lutnn.ir.passes.encoder.encoder_bits_read`; the
  others are tied to 0) and one per distinct comparison (equal ones are copies of the first);
  a :class:`~lutnn.ir.BitplaneEncoder`: wires from the pixels' top bits;
* logic layer (:mod:`lutnn.hdl.ops`): per :class:`~lutnn.ir.LutOp` one ``<top>_lut`` (a
  constant or a wire where that is all it is), per :class:`~lutnn.ir.AddOp` one ``+``, per
  :class:`~lutnn.ir.CompareOp` one ``>=`` (``<`` where inverted);
* OR layer: a reduction OR;
* head (:mod:`lutnn.hdl.head`): its popcount logic, then an argmax tree of ``>`` comparators
  in which the lower-index side wins ties (cut into LUTs when staged); with
  ``argmax="parallel"`` the all-pairs argmax of :func:`lutnn.ir.passes.parallel_argmax` as
  LUT instances instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lutnn.hdl.encoder import encoder_body, feature_mapping_comment
from lutnn.hdl.head import class_width, head_body
from lutnn.hdl.naming import comment_text, verilog_identifier
from lutnn.hdl.ops import OPS, Names, staged_ops
from lutnn.hdl.templates import render
from lutnn.hdl.toplevel import (
    Block,
    Port,
    pipeline_note,
    port_lines,
    registered,
    top_body,
    top_ports,
)
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
from lutnn.ir.options import PIPELINES, ExportOptions, default_argmax, parse_pipeline
from lutnn.ir.passes.encoder import encoder_bits_read
from lutnn.ir.passes.flow import (
    LOWER,
    MINIMIZE,
    PARALLEL_ARGMAX,
    Pass,
    assign_stages_pass,
    run_flow,
)
from lutnn.ir.passes.stages import balanced_levels

# One function per node type of the lowered netlist: (node, _Context) -> (Block, summary line).
BLOCKS = NodeTable("hdl.emit")


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
class _Context:
    """What a block's text depends on besides its node."""

    top: str  # the top module's name (prefix of every module)
    index: int  # the layer's position, from 1 (titles and module names)
    scores: bool  # the head also outputs the class scores
    read: np.ndarray | None = None  # the encoder's bits the network reads (None: all)


# ---------------------------------------------------------------------------------------------
# one body per IR layer type


def _logic_body(layer: LogicLayer, top: str) -> list[str]:
    if layer.stages > 1:
        return _staged_logic_body(layer, top)
    outputs = {s: n for n, s in enumerate(layer.outputs.tolist())}
    names = Names("n", layer.in_width, outputs)
    return [line for op in layer.ops for line in OPS(op, names, top)]


def _staged_logic_body(layer: LogicLayer, top: str) -> list[str]:
    names = Names("n", layer.in_width, {}, staged=True)
    lines = staged_ops(layer.ops, names, top)
    names.stage = layer.stages - 1
    outs = [render("assign", lhs=f"y[{n}]", rhs=names.of(s))
            for n, s in enumerate(layer.outputs.tolist())]
    return lines + names.take_registers() + outs


def _or_body(layer: OrLayer) -> list[str]:
    return [render("assign", lhs=f"y[{n}]", rhs=" | ".join(f"x[{i}]" for i in layer.inputs[n]))
            for n in range(layer.out_width)]


# ---------------------------------------------------------------------------------------------
# one module per block, and the design


def _encoder_module(enc, ctx: _Context, title: str, in_msb: int) -> tuple[Block, str]:
    """The encoder's module and its title with what it builds."""
    module = f"{ctx.top}_enc_{verilog_identifier(enc.name)}"
    body, built = encoder_body(enc, ctx.read)
    if not isinstance(enc, BitplaneEncoder):
        unread = "" if ctx.read is None else f", {int((~ctx.read).sum())} bits unread (0)"
        title += f"; {built} comparators built (the bits read, equal ones shared{unread})"
    text = render("layer_module", title=title, module=module, in_msb=in_msb,
                  out_msb=enc.out_width - 1, body="\n".join(body))
    return Block("encoder", "enc", module, text, enc.out_width), title


@BLOCKS.register(InputEncoder)
def _encoder_block(enc: InputEncoder, ctx: _Context) -> tuple[Block, str]:
    thresholds = ", ".join(str(int(t)) for t in enc.thresholds)
    title = (f"encoder {comment_text(enc.name)}: {enc.pixels} pixels ({enc.channels} "
             f"channel(s)) x thresholds [{thresholds}] -> {enc.out_width} bits, "
             "bit (c*T + t)*HW + p = pixel[c*HW + p] >= threshold[t]")
    block, title = _encoder_module(enc, ctx, title, 8 * enc.pixels - 1)
    return block, f"//   input: {enc.pixels} 8-bit pixels; {title}"


@BLOCKS.register(BitplaneEncoder)
def _bitplane_block(enc: BitplaneEncoder, ctx: _Context) -> tuple[Block, str]:
    title = (f"encoder {comment_text(enc.name)}: {enc.pixels} pixels ({enc.channels} "
             f"channel(s)) x their top {enc.planes} bit(s) -> {enc.out_width} bits, "
             "bit (c*B + j)*HW + p = bit 7-j of pixel[c*HW + p] (wires, no logic)")
    block, title = _encoder_module(enc, ctx, title, 8 * enc.pixels - 1)
    return block, f"//   input: {enc.pixels} 8-bit pixels; {title}"


@BLOCKS.register(FeatureEncoder)
def _feature_block(enc: FeatureEncoder, ctx: _Context) -> tuple[Block, str]:
    title = (f"encoder {comment_text(enc.name)}: {enc.features} {enc.width}-bit unsigned "
             f"inputs ({enc.channels} channel(s)) x {enc.levels} thresholds each -> "
             f"{enc.out_width} bits, bit (c*T + t)*HW + p = x[c*HW + p] >= "
             "threshold[c*HW + p, t] (a table: bit f*T + t = x[f] >= threshold[f, t])")
    block, title = _encoder_module(enc, ctx, title, enc.width * enc.features - 1)
    summary = "\n".join([f"//   input: {enc.features} {enc.width}-bit fixed-point values; "
                         f"{title}", *feature_mapping_comment(enc)])
    return block, summary


def _layer_block(layer, ctx: _Context, kind: str, note: str, body: list[str],
                 stages: int = 1) -> tuple[Block, str]:
    module = f"{ctx.top}_l{ctx.index}_{verilog_identifier(layer.name)}"
    title = (f"L{ctx.index}: {kind} layer {comment_text(layer.name)}, {layer.in_width} -> "
             f"{layer.out_width} bits, {note}")
    if stages > 1:
        title += f", {stages} pipeline stages"
    text = render("layer_module" if stages == 1 else "layer_module_staged", title=title,
                  module=module, in_msb=layer.in_width - 1, out_msb=layer.out_width - 1,
                  body="\n".join(body))
    return (Block("layer", f"L{ctx.index}", module, text, layer.out_width, stages),
            f"//   {title}")


@BLOCKS.register(LogicLayer)
def _logic_block(layer: LogicLayer, ctx: _Context) -> tuple[Block, str]:
    return _layer_block(layer, ctx, layer.source, layer.note, _logic_body(layer, ctx.top),
                        layer.stages)


@BLOCKS.register(OrLayer)
def _or_block(layer: OrLayer, ctx: _Context) -> tuple[Block, str]:
    return _layer_block(layer, ctx, "or", f"window {layer.window}", _or_body(layer))


@BLOCKS.register(LoweredHead)
def _head_block(head: LoweredHead, ctx: _Context) -> tuple[Block, str]:
    module = f"{ctx.top}_head_{verilog_identifier(head.name)}"
    title = (f"head {comment_text(head.name)}: {head.num_classes} classes x "
             f"{head.group_size} bits, score = popcount of the group, class = argmax "
             "(lowest index on ties)")
    if head.stages > 1:
        title += f", {head.stages} pipeline stages"
    body, sw = head_body(head, ctx.top, ctx.scores)
    port = render("scores_port", msb=head.num_classes * sw - 1) + "\n" if ctx.scores else ""
    clk = render("clk_port") + "\n" if head.stages > 1 else ""
    text = render("head_module", title=title, module=module, clk_port=clk,
                  in_msb=head.in_width - 1, scores_port=port,
                  class_msb=class_width(head.num_classes) - 1, body="\n".join(body))
    return (Block("head", "head", module, text, class_width(head.num_classes), head.stages),
            f"//   {title}")


def _blocks(netlist: Netlist, top: str, scores: bool) -> tuple[list[Block], list[str]]:
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
    regs = registered(len(blocks), pipeline)
    latency = sum(regs) + sum(b.stages - 1 for b in blocks)
    ports = top_ports(netlist, scores, latency)
    has_head = netlist.head is not None
    body, stages = top_body(blocks, regs, ports, scores, has_head)
    port_decl, port_doc = port_lines(ports)
    parts = [
        render("header", top=top, summary="\n".join(summary), ports=port_doc, latency=latency,
               pipeline=pipeline_note(blocks, regs, pipeline, levels_per_stage,
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


__all__ = ["PIPELINES", "Port", "VerilogDesign", "class_width", "default_argmax",
           "emit_verilog", "feature_mapping_comment", "fill_verilog", "parse_pipeline",
           "verilog_passes"]
