"""The top module of an emitted design: its ports, where the pipeline registers go, and its
body wiring the blocks of :mod:`lutnn.hdl.emit` in order.

* ports: ``clk``, ``in_valid``, ``in_data``, ``out_valid``, then ``out_class`` (and
  ``out_scores``) with a head, else ``out_bits`` (:func:`top_ports`, :func:`port_lines`);
* a register rank follows block i where :func:`registered` says (the ``pipeline`` option);
  a block cut into stages (``Block.stages > 1``) takes the clock and keeps its own register
  ranks, which the ``valid`` bit follows;
* :func:`top_body` names what feeds each register rank (``VerilogDesign.stages``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lutnn.hdl.head import class_width
from lutnn.hdl.ops import bit_range
from lutnn.hdl.templates import render
from lutnn.ir.layers import FeatureEncoder, Netlist


@dataclass(frozen=True)
class Port:
    """One port of the emitted top module."""

    name: str
    direction: str  # "input" or "output"
    width: int
    description: str


@dataclass(frozen=True)
class Block:
    """One module of the design (combinational unless cut into stages), before it is wired
    into the top."""

    kind: str  # "encoder", "layer" or "head": how the top instantiates it
    label: str  # short name in comments and stages: "enc", "L1", "head"
    module: str  # its Verilog module name
    text: str  # its Verilog module
    out_width: int
    stages: int = 1  # pipeline stages inside (stages - 1 register ranks; a clk port if > 1)


def registered(n_blocks: int, pipeline: str | int) -> list[bool]:
    """Whether a register follows block i: every block ('layer'), none, or every n-th block and
    the last one (int n)."""
    if pipeline == "none":
        return [False] * n_blocks
    every = 1 if pipeline in ("layer", "balanced") else int(pipeline)
    return [(i + 1) % every == 0 or i + 1 == n_blocks for i in range(n_blocks)]


def port_lines(ports: list[Port]) -> tuple[str, str]:
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


def top_ports(netlist: Netlist, scores: bool, latency: int) -> list[Port]:
    """The top module's ports, in declaration order."""
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
    result = [
        Port("clk", "input", 1, "clock, rising edge"),
        Port("in_valid", "input", 1, "in_data holds an input vector this cycle"),
        in_data,
        Port("out_valid", "output", 1, f"out_* hold the result of the vector given {latency} "
                                       "cycle(s) earlier"),
    ]
    if head is None:
        result.append(Port("out_bits", "output", netlist.output_bits,
                           "output bit j (the last layer's bit j) at out_bits[j]"))
    else:
        result.append(Port("out_class", "output", class_width(head.num_classes),
                           "argmax class index (lowest index on ties)"))
        if scores:
            sw = head.group_size.bit_length()
            result.append(Port("out_scores", "output", head.num_classes * sw,
                               f"score of class c at out_scores[{sw}c+{sw - 1}:{sw}c]"))
    return result


def pipeline_note(blocks: list[Block], regs: list[bool], pipeline: str | int,
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


def top_body(blocks: list[Block], regs: list[bool], top_ports: list[Port], scores: bool,
             has_head: bool) -> tuple[list[str], list[tuple[str, ...]]]:
    """The top module's body (block instances, stage and valid registers, output assigns)
    and its stages (the block labels feeding each register rank)."""
    body: list[str] = []
    data, valid, cls_scores = "in_data", "in_valid", None
    scores_width = next((p.width for p in top_ports if p.name == "out_scores"), 0)
    stages: list[tuple[str, ...]] = []
    pending: list[str] = []
    stage = 0
    for i, (block, reg) in enumerate(zip(blocks, regs, strict=True), start=1):
        out = f"b{i}_out"
        lines, block_scores = _instance(block, i, data, out, scores_width if scores else 0)
        body += lines
        for j in range(1, block.stages):  # its inner registers: the valid bit keeps pace
            stage += 1
            body.append(render("valid_reg", q=f"st{stage}_valid", d=valid))
            valid = f"st{stage}_valid"
            stages.append((*pending, f"{block.label}.{j}"))
            pending = []
        pending.append(block.label if block.stages == 1 else f"{block.label}.{block.stages}")
        data = out
        if block_scores is not None:
            cls_scores = block_scores
        if reg:
            stage += 1
            q = f"st{stage}_data"
            body.append(render("stage_reg", msb=block.out_width - 1, q=q, d=data))
            body.append(render("valid_reg", q=f"st{stage}_valid", d=valid))
            data, valid = q, f"st{stage}_valid"
            if cls_scores is not None:
                sq = f"st{stage}_scores"
                body.append(render("stage_reg", msb=scores_width - 1, q=sq, d=cls_scores))
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


def _instance(block: Block, i: int, data: str, out: str,
              scores_width: int) -> tuple[list[str], str | None]:
    """Block i's output wire and instance reading ``data``, and its scores wire (a head with
    ``scores_width`` > 0: the scores are wanted) or None."""
    lines = [render("wire", range=bit_range(block.out_width), name=out)]
    clk = "_clk" if block.stages > 1 else ""  # a block cut into stages takes the clock
    if block.kind != "head":
        lines.append(render("instance" + clk, module=block.module, inst=f"u_b{i}", x=data,
                            y=out))
        return lines, None
    if not scores_width:
        lines.append(render("head_instance" + clk, module=block.module, inst=f"u_b{i}",
                            x=data, cls=out))
        return lines, None
    sc = f"b{i}_scores"
    lines.append(render("wire", range=bit_range(scores_width), name=sc))
    lines.append(render("head_instance_scores" + clk, module=block.module, inst=f"u_b{i}",
                        x=data, scores=sc, cls=out))
    return lines, sc


__all__ = ["Block", "Port", "pipeline_note", "port_lines", "registered", "top_body",
           "top_ports"]
