"""Streaming Verilog for spatial netlists: one pixel per clock behind line buffers.

:func:`emit_stream` reads the spatial form (:mod:`lutnn.ir.spatial`, what
``to_ir(model, shape, spatial=True)`` builds) directly, without unrolling the convolutions:

* **Input**: ``s_tdata`` holds one pixel, all its channels in parallel (with an
  :class:`~lutnn.ir.InputEncoder` its ``C0`` 8-bit values, channel c at bits ``8c+7..8c``,
  encoded by ``C0 x T`` comparators; without one the ``C`` bits of the first node's pixel,
  channel c at bit c); pixels in raster order, ``s_tlast`` on the last one of an image.
* **One stage per** :class:`~lutnn.ir.LutConv` / :class:`~lutnn.ir.XnorConv` /
  :class:`~lutnn.ir.OrPool`: a counter walks the *padded* image (``R + 2PR`` rows x
  ``Q + 2PC`` columns), reading a pixel from its input at image positions and inserting
  ``pad_value`` at padding positions (one clock each); every pixel is pushed into a line buffer
  of shift registers, ``(KR - 1) * (Q + 2PC) + KC - 1`` pixels of C bits, whose taps (with the
  incoming pixel) are the window.  When the pushed pixel completes the window of an output
  position (a constant pattern of rows and columns: strides and pools), the engine's result is
  registered as the stage's output pixel: the ``N`` shared tables (a ``<top>_lut`` each, the
  address bits at the taps of :meth:`~lutnn.ir.LutConv.taps`), ``N`` XNOR popcounts compared
  with their thresholds, or ``C`` ORs.  Each stage has a valid/ready handshake and holds one
  output pixel; a stage stops while its output is full (``m_tready`` low stops the chain).
  Where it costs no throughput a stage emits only into an *empty* output register
  (:func:`~lutnn.hdl.stream_control.choose_registered_ready`): its ``in_ready`` then reads no
  downstream signal, which cuts the combinational ready path from ``m_tready`` to
  ``s_tready`` that limited Fmax.  Where its output register has a clock to spare, such a
  stage keeps one pixel more in its line buffer and registers the engine's result a clock
  after the window completed
  (:func:`~lutnn.hdl.stream_control.choose_registered_window`): its engine then reads
  registers only, not the previous stage's output through the padding mux.
* **ImageFlatten** (or the end of the spatial nodes): a collector shifts in the last stage's
  pixels until it holds the whole feature map, then the dense tail and head, emitted by
  :func:`lutnn.hdl.emit_verilog` (``pipeline="none"``: combinational) on the flat layers after
  the flatten, give the class (or the output bits), registered on ``m_tdata`` with
  ``m_tvalid`` once per image.

:func:`emit_stream_testbench` writes a testbench that feeds whole images pixel by pixel with
random ``s_tvalid`` gaps and ``m_tready`` stalls; :mod:`lutnn.hdl.stream_rtl` runs it in
Verilator or Icarus (bit-exact with :func:`lutnn.sim.simulate`, tested on random nets).

What streaming cannot express yet raises :class:`~lutnn.errors.LutnnError` naming the node:
a :class:`~lutnn.ir.FeatureEncoder`, a flat layer before the spatial nodes, a spatial node after
the :class:`~lutnn.ir.ImageFlatten`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lutnn import io
from lutnn.errors import LutnnError
from lutnn.hdl.emit import emit_verilog
from lutnn.hdl.naming import comment_text, verilog_identifier
from lutnn.hdl.ops import concat, lut_line
from lutnn.hdl.stream_control import (
    StreamStage,
    choose_registered_ready,
    choose_registered_window,
    stall_capacity,
    stream_timing,
)
from lutnn.hdl.templates import render
from lutnn.ir.layers import FeatureEncoder, InputEncoder, Netlist
from lutnn.ir.spatial import IMAGE_NODES, SPATIAL_LAYERS, ImageFlatten, LutConv, XnorConv
from lutnn.templating import Templates

_T = Templates("lutnn.hdl", "stream_snippets.v", ".v", "HDL")
STREAM_TB_TOP = "lutnn_tb"


@dataclass(frozen=True)
class StreamDesign:
    """The emitted streaming Verilog and what a user of it needs to know.

    Attributes:
        text: the Verilog source (one file, top module last).
        top: the top module's name.
        in_width: ``s_tdata`` bits (one pixel).
        out_width: ``m_tdata`` bits (the class index, or the output bits without a head).
        pixels: pixels per image.
        stages: the conv / pool stages in order.
        flat_width: bits of the collected feature map (the dense tail's input).
        cycles_per_image: clocks per image without stalls, steady state
            (:func:`stream_timing`).
        has_head: ``m_tdata`` is a class index.
        tail_latency: clocks the dense tail and head take (their pipeline registers).
        latency: clocks from the first pixel's handshake to the class's, without stalls.
        stall_pixels: pixels the design takes from reset while ``m_tready`` stays low, before
            ``s_tready`` stays low (:func:`stall_capacity`; 0 for a design loaded from an
            older export record).
    """

    text: str
    top: str
    in_width: int
    out_width: int
    pixels: int
    stages: tuple[StreamStage, ...]
    flat_width: int
    cycles_per_image: int
    has_head: bool
    tail_latency: int = 0
    latency: int = 0
    stall_pixels: int = 0  # pixels taken from reset with m_tready low (stall_capacity)

    @property
    def line_buffer_bits(self) -> int:
        return sum(s.line_buffer_bits for s in self.stages)


def split_stream(netlist: Netlist) -> tuple[list, ImageFlatten | None, list]:
    """(image nodes, the flatten or None, flat layers after it); refuses what cannot stream."""
    if isinstance(netlist.encoder, FeatureEncoder):
        raise LutnnError(f"encoder {netlist.encoder.name!r}: a FeatureEncoder cannot stream "
                         "(it has no pixels); use emit_verilog (the unrolled form)")
    if netlist.encoder is not None and not isinstance(netlist.encoder, InputEncoder):
        raise LutnnError(f"encoder {netlist.encoder.name!r}: a "
                         f"{type(netlist.encoder).__name__} does not stream (only comparator "
                         "encoders do); use emit_verilog (the unrolled form)")
    layers = list(netlist.layers)
    if not layers or not isinstance(layers[0], SPATIAL_LAYERS):
        first = layers[0] if layers else netlist.head
        what = f"layer {first.name!r} ({type(first).__name__})" if first is not None else "it"
        raise LutnnError(f"the netlist cannot stream: {what} is not a spatial node; streaming "
                         "needs the spatial form (to_ir(..., spatial=True)) starting with a "
                         "LutConv, XnorConv, OrPool or ImageFlatten")
    image: list = []
    flatten = None
    tail: list = []
    for layer in layers:
        if flatten is None and isinstance(layer, IMAGE_NODES):
            image.append(layer)
        elif flatten is None and isinstance(layer, ImageFlatten):
            flatten = layer
        elif isinstance(layer, SPATIAL_LAYERS):
            raise LutnnError(f"layer {layer.name!r} ({type(layer).__name__}): a spatial node "
                             "after the ImageFlatten cannot stream (one image stream per design)")
        else:
            tail.append(layer)
    return image, flatten, tail


def check_streamable(netlist: Netlist) -> None:
    """Raise :class:`LutnnError` (naming the node) if ``netlist`` has no streaming form."""
    netlist.validate()
    split_stream(netlist)


def _bits(n: int) -> int:
    """Bits of a counter holding 0..n-1 (at least 1)."""
    return max(1, (n - 1).bit_length())


def _mask(bits: list[bool]) -> str:
    """A sized binary literal, entry i = bit i."""
    return f"{len(bits)}'b" + "".join("1" if b else "0" for b in reversed(bits))


def _pattern(size: int, pad: int, image: int, kernel: int, stride: int, outs: int
             ) -> tuple[list[bool], list[bool]]:
    """Per padded row (or column): inside the image; completes an output window."""
    inside = [pad <= p < pad + image for p in range(size)]
    emit = [p >= kernel - 1 and (p - kernel + 1) % stride == 0
            and (p - kernel + 1) // stride < outs for p in range(size)]
    return inside, emit


def _tap(c_n: int, wp: int, node, ch: int, i: int, j: int) -> str:
    """The window bit of channel ``ch`` at offset (i, j), as a Verilog expression."""
    d = (node.kernel_rows - 1 - i) * wp + (node.kernel_cols - 1 - j)
    return f"win[{c_n * d + ch}]"


def _engine(node, top: str, wp: int) -> list[str]:
    c_n = node.channels
    lines: list[str] = []
    if isinstance(node, LutConv):
        ch, di, dj = node.taps()
        for n in range(node.out_channels):
            inputs = [_tap(c_n, wp, node, int(ch[n, j]), int(di[n, j]), int(dj[n, j]))
                      for j in range(node.k)]
            lines.append(lut_line(top, f"u{n}", inputs, node.tables[n], f"y[{n}]"))
    elif isinstance(node, XnorConv):
        kk, kc, cg = node.kernel_size, node.kernel_cols, node.channels // node.groups
        ng = node.out_channels // node.groups
        width = (node.fan_in + 1).bit_length()
        for n in range(node.out_channels):
            g = n // ng
            terms = []
            for f, w in enumerate(node.weights[n].tolist()):
                if w:
                    bit = _tap(c_n, wp, node, g * cg + f // kk, (f % kk) // kc, f % kc)
                    terms.append(bit if w > 0 else f"!{bit}")
            name = f"cnt{n}"
            lines.append(_T.render("popcount", msb=width - 1, name=name,
                                   terms=" + ".join(terms) if terms else f"{width}'d0"))
            cmp = "<" if node.invert[n] else ">="
            lines.append(render("threshold_cmp", bit=n, sum=name, op=cmp, width=width,
                                threshold=int(node.thresholds[n])))
    else:  # OrPool
        for c in range(c_n):
            taps = [_tap(c_n, wp, node, c, i, j) for i in range(node.kernel_rows)
                    for j in range(node.kernel_cols)]
            lines.append(render("assign", lhs=f"y[{c}]", rhs=" | ".join(taps)))
    return lines


def _geometry(node) -> StreamStage:
    """The stage of ``node``: its padded raster and which positions read and emit pixels."""
    c_n, r_n, q_n = node.in_shape
    pr, pc = int(node.pad_rows), int(node.pad_cols)
    hp, wp = r_n + 2 * pr, q_n + 2 * pc
    row_in, row_out = _pattern(hp, pr, r_n, node.kernel_rows, node.stride_rows, node.out_rows)
    col_in, col_out = _pattern(wp, pc, q_n, node.kernel_cols, node.stride_cols, node.out_cols)
    length = (node.kernel_rows - 1) * wp + node.kernel_cols - 1  # pixels in the line buffer
    return StreamStage(node.name, type(node).__name__, node.in_shape, node.out_shape, hp * wp,
                       c_n * length, tuple(row_in), tuple(col_in), tuple(row_out),
                       tuple(col_out))


def _stage(node, stage: StreamStage, top: str, index: int) -> tuple[str, str]:
    """(module name, module text) of ``node``'s stage (``stage``: its :func:`_geometry`)."""
    c_n = node.in_shape[0]
    pr, pc = int(node.pad_rows), int(node.pad_cols)
    hp, wp = len(stage.row_in), len(stage.col_in)
    # pixels the line buffer keeps: the window's but the incoming one, or (registered
    # window) all of the window's
    length = (node.kernel_rows - 1) * wp + node.kernel_cols - 1 + stage.registered_window
    shift = "px" if length == 1 else f"{{sr[{c_n * (length - 1) - 1}:0], px}}"
    if stage.registered_window:
        window = _T.render("window_registered", c=c_n, win_msb=c_n * length - 1, shift=shift)
    elif length:
        window = _T.render("window_sr", sr_msb=c_n * length - 1, c=c_n,
                           win_msb=c_n * (length + 1) - 1, shift=shift)
    else:
        window = _T.render("window_px", win_msb=c_n - 1)
    pad_value = int(getattr(node, "pad_value", 0))
    module = f"{top}_s{index}_{verilog_identifier(node.name)}"
    kind = stage.kind
    what = {"LutConv": f"{node.out_channels} shared {getattr(node, 'k', 0)}-input LUTs",
            "XnorConv": f"{node.out_channels} XNOR popcounts vs thresholds",
            "OrPool": f"OR over the window, {c_n} channel(s)"}[kind]
    title = (f"S{index}: {kind} {comment_text(node.name)}, {list(node.in_shape)} -> "
             f"{list(node.out_shape)}, kernel {node.kernel_rows}x{node.kernel_cols}, stride "
             f"{node.stride_rows}x{node.stride_cols}, padding {pr}x{pc}"
             + (f" of {pad_value}s" if pr or pc else "")
             + (f", groups {node.groups}" if getattr(node, "groups", 1) > 1 else "")
             + f": {what}; line buffer {stage.line_buffer_bits} bits"
             + ("; registered ready" if stage.registered_ready else "")
             + ("; registered window" if stage.registered_window else ""))
    if stage.registered_window:
        out_free, note = "~out_valid & ~pending", "it is empty and no result is on its way"
    elif stage.registered_ready:
        out_free, note = "~out_valid", "it is empty (in_ready reads nothing downstream)"
    else:
        out_free, note = "~out_valid | out_ready", "it is empty or taken at this edge"
    text = _T.render(
        "stream_stage", title=title, module=module, in_msb=c_n - 1,
        out_msb=node.out_channels - 1, hp=hp, wp=wp,
        pad_note=f"{c_n}'b{str(pad_value) * c_n}", row_msb=_bits(hp) - 1,
        col_msb=_bits(wp) - 1, hp_msb=hp - 1, wp_msb=wp - 1, row_in=_mask(stage.row_in),
        col_in=_mask(stage.col_in), row_out=_mask(stage.row_out),
        col_out=_mask(stage.col_out), px=_padded_pixel(stage, c_n, pad_value),
        window=window, engine="\n".join(_engine(node, top, wp)), wp_last=wp - 1,
        hp_last=hp - 1, out_free=out_free, out_free_note=note,
        in_image_0=f"1'b{int(stage.row_in[0] and stage.col_in[0])}",
        emits_0=f"1'b{int(stage.row_out[0] and stage.col_out[0])}",
        **_result_logic(stage.registered_window))
    return module, text


def _padded_pixel(stage: StreamStage, c_n: int, pad_value: int) -> str:
    """The pixel a stage pushes: its input, or the padding value where the position is outside
    the image (a stage without padding reads its input, the previous output register, as is)."""
    if not stage.padded:
        return "in_data"
    return "in_image ? in_data : {" + f"{c_n}{{1'b{pad_value}}}" + "}"


def _result_logic(registered_window: bool) -> dict[str, str]:
    """The stage template's holes that register its result: on the step that completes a
    window, or (``registered_window``) one clock later, from the line buffer alone."""
    if registered_window:
        return {"result_decl": "\n" + _T.render("result_pending_decl"),
                "result_reset": "\n" + _T.render("result_pending_reset"),
                "result_late": "\n" + _T.render("result_pending_late"),
                "result_on_step": ""}
    return {"result_decl": "", "result_reset": "", "result_late": "",
            "result_on_step": "\n" + _T.render("result_on_step")}


def _tail(shape: tuple[int, int, int], tail: list, netlist: Netlist, top: str,
          pipeline: str | int) -> tuple[str, list[str], int, str, int]:
    """(collector module text, extra module texts, output width, summary line, tail latency)."""
    c_n, r_n, q_n = shape
    positions, width = r_n * q_n, c_n * r_n * q_n
    flat = render("assign", lhs="flat", rhs=concat([f"feat[{c_n * pos + c}]" for c in range(c_n)
                                                    for pos in range(positions)]))
    extra: list[str] = []
    latency = 0
    if tail or netlist.head is not None:
        sub = Netlist(width, tuple(tail), head=netlist.head)
        design = emit_verilog(sub, top=f"{top}_tail", pipeline=pipeline)
        out_width, latency = design.out_port.width, design.latency
        # one LUT module for the whole design (synthesis maps <top>_lut to LUT primitives)
        own_lut = render("lut_module", top=f"{top}_tail")
        assert own_lut in design.text
        extra.append(design.text.replace(own_lut, "").replace(f"{top}_tail_lut #(",
                                                                f"{top}_lut #("))
        tail_line = _T.render("tail_instance", module=design.top, port=design.out_port.name)
        note = (f"dense tail: {len(tail)} flat layer(s)"
                + (f" and the head ({netlist.head.num_classes} classes)" if netlist.head
                   else "") + f" ({design.top}, pipeline {pipeline!r}, latency {latency})")
    else:
        out_width = width
        tail_line = render("assign", lhs="result", rhs="flat")
        note = "no dense tail: m_tdata is the flattened feature map"
    feat_next = "in_data" if positions == 1 else \
        f"{{in_data, feat[{width - 1}:{c_n}]}}"
    capture = "launch" if latency == 0 else "busy & (left == 0)"
    text = _T.render("stream_collect", title=f"collector: {positions} pixel(s) of {c_n} bit(s) "
                     f"-> {width} bits, then the {note}", module=f"{top}_collect",
                     in_msb=c_n - 1, out_msb=out_width - 1, feat_msb=width - 1,
                     channels=c_n, count_msb=_bits(positions) - 1, positions=positions,
                     flat=flat, tail=tail_line, feat_next=feat_next,
                     count_last=positions - 1, left_msb=_bits(max(latency, 2)) - 1,
                     latency=latency, capture=capture, left_start=max(latency - 1, 0))
    return (text, extra, out_width, f"//   collector: {width} bits ({list(shape)}); {note}",
            latency)


def _encoder(netlist: Netlist, channels: int) -> tuple[int, list[str], str]:
    """(s_tdata width, lines driving px0, summary line)."""
    enc = netlist.encoder
    if enc is None:
        return channels, [render("assign", lhs="px0", rhs="s_tdata")], \
            f"//   input: {channels} bit(s) per pixel, channel c at s_tdata[c]"
    assert isinstance(enc, InputEncoder)
    levels = [int(t) for t in enc.thresholds]
    lines = []
    for c in range(enc.channels):
        for t, thr in enumerate(levels):
            bit = c * len(levels) + t
            if thr == 0:
                rhs = "1'b1"
            elif thr >= 256:
                rhs = "1'b0"
            else:
                rhs = f"(s_tdata[{8 * c + 7}:{8 * c}] >= 8'd{thr})"
            lines.append(render("assign", lhs=f"px0[{bit}]", rhs=rhs))
    return 8 * enc.channels, lines, (
        f"//   input: {enc.channels} 8-bit value(s) per pixel, channel c at "
        f"s_tdata[8c+7:8c]; encoder {comment_text(enc.name)}: bit c*T + t = value c >= "
        f"threshold t, thresholds [{', '.join(map(str, levels))}]")


def emit_stream(netlist: Netlist, *, top: str = "lutnn_top",
                tail_pipeline: str | int = "layer",
                registered_ready: bool = True, registered_window: bool = True) -> StreamDesign:
    """Emit a spatial ``netlist`` as streaming Verilog (see the module docstring).

    ``tail_pipeline`` is :func:`lutnn.hdl.emit_verilog`'s ``pipeline`` for the dense tail and
    head ("layer": a register after each layer; "none": combinational).
    ``registered_ready``: stages get registered ready where it costs no throughput
    (:func:`choose_registered_ready`); False: every stage's ``in_ready`` reads its
    downstream's, one combinational path from ``m_tready`` to ``s_tready``.
    ``registered_window``: registered-ready stages whose output register has a clock to spare
    compute their result a clock later, from registers only
    (:func:`choose_registered_window`); False: on the step that completes the window.

    Raises:
        LutnnError: the netlist has no streaming form (the message names the node).

    Example:
        >>> from lutnn.ir import Netlist, OrPool, ImageFlatten
        >>> net = Netlist(16, (OrPool("p", 1, 4, 4, 2, 2, 2, 2), ImageFlatten("f", 1, 2, 2)))
        >>> d = emit_stream(net)
        >>> d.in_width, d.out_width, d.pixels, d.stages[0].line_buffer_bits
        (1, 4, 16, 5)
    """
    netlist.validate()
    image, flatten, tail = split_stream(netlist)
    top = verilog_identifier(top, max_len=64)
    first = image[0] if image else flatten
    c0, r0, q0 = first.in_shape
    pixels = r0 * q0
    in_width, enc_lines, enc_line = _encoder(netlist, c0)
    shape = image[-1].out_shape if image else flatten.in_shape
    collect, extra, out_width, line, tail_latency = _tail(shape, tail, netlist, top,
                                                          tail_pipeline)
    positions = shape[1] * shape[2]
    stages = tuple(_geometry(node) for node in image)
    if registered_ready:
        stages = choose_registered_ready(stages, positions, tail_latency, pixels)
    if registered_window:
        stages = choose_registered_window(stages, positions, tail_latency, pixels)
    chain = _stage_chain(image, stages, top)
    body = [*chain.body,
            _T.render("stage_instance", module=f"{top}_collect", inst="u_collect",
                      in_valid=chain.valid, in_ready=chain.ready, in_data=chain.data,
                      out_valid="m_tvalid", out_ready="m_tready", out_data="m_tdata")]
    latency, cycles = stream_timing(chain.stages, positions, tail_latency, pixels)
    stall = stall_capacity(chain.stages, positions, tail_latency, pixels)
    design = StreamDesign("", top, in_width, out_width, pixels, chain.stages,
                          int(np.prod(shape)), cycles, netlist.head is not None, tail_latency,
                          latency, stall)
    top_text = _T.render("stream_top", top=top, in_msb=in_width - 1, out_msb=out_width - 1,
                         px_msb=c0 - 1, encoder="\n".join(enc_lines),
                         pcount_msb=_bits(pixels) - 1, pixels_last=pixels - 1,
                         body="\n".join(body))
    parts = [_stream_header(design, [enc_line, *chain.summary, line]), "",
             render("lut_module", top=top), *("\n" + m for m in chain.modules),
             "\n" + collect, *("\n" + e for e in extra), "", top_text, ""]
    return replace(design, text="\n".join(parts))


@dataclass(frozen=True)
class _Chain:
    """The conv / pool stages of a streaming design, instantiated one after another."""

    modules: tuple[str, ...]  # each stage's module text
    stages: tuple[StreamStage, ...]
    summary: tuple[str, ...]  # the header's line per stage
    body: tuple[str, ...]  # the top's wires and instances
    valid: str  # the last stage's output handshake and data ("s_tvalid"... with no stage)
    ready: str
    data: str


def _stage_chain(image: list, stages: tuple[StreamStage, ...], top: str) -> _Chain:
    """One stage module per image node (``stages``: their :func:`_geometry`), each instance
    reading the one before (the first the encoded pixel ``px0``)."""
    modules: list[str] = []
    summary: list[str] = []
    body: list[str] = []
    valid, ready, data = "s_tvalid", "s_tready", "px0"
    for i, (node, stage) in enumerate(zip(image, stages, strict=True), start=1):
        module, text = _stage(node, stage, top, i)
        modules.append(text)
        summary.append("//   " + text.splitlines()[0][3:])
        out_v, out_r, out_d = f"s{i}_valid", f"s{i}_ready", f"s{i}_data"
        body += [_T.render("stream_wire", range="", name=out_v),
                 _T.render("stream_wire", range="", name=out_r),
                 _T.render("stream_wire", range=f"[{node.out_channels - 1}:0] ", name=out_d),
                 _T.render("stage_instance", module=module, inst=f"u_s{i}", in_valid=valid,
                           in_ready=ready, in_data=data, out_valid=out_v, out_ready=out_r,
                           out_data=out_d)]
        valid, ready, data = out_v, out_r, out_d
    return _Chain(tuple(modules), stages, tuple(summary), tuple(body), valid, ready, data)


def _stream_header(d: StreamDesign, summary: list[str]) -> str:
    """The header comment: the summary lines, the ports, the stream's timing and stalls."""
    first_positions = d.stages[0].padded_positions if d.stages else d.pixels
    ports = [
        ("input", "clk", "clock, rising edge"),
        ("input", "rst", "synchronous reset, active high"),
        ("input", "s_tvalid", "s_tdata holds a pixel"),
        ("output", "s_tready", "the design takes the pixel at this edge (with s_tvalid)"),
        ("input", f"s_tdata[{d.in_width - 1}:0]", "one pixel, all channels"),
        ("input", "s_tlast", f"the pixel is the image's last ({d.pixels - 1})"),
        ("output", "m_tvalid", "m_tdata holds an image's result"),
        ("input", "m_tready", "the receiver takes m_tdata at this edge (with m_tvalid)"),
        ("output", f"m_tdata[{d.out_width - 1}:0]",
         "argmax class index (lowest index on ties)" if d.has_head else
         "the last layer's output bits (bit j at m_tdata[j])"),
        ("output", "tlast_error", "sticky: an s_tlast not on the last pixel, or missing; "
                                  "rst clears it"),
    ]
    port_doc = "\n".join(f"//   {di:<6} {n:<22} {t}" for di, n, t in ports)
    return _T.render("stream_header", top=d.top, summary="\n".join(summary), ports=port_doc,
                     pixels=d.pixels, pixels_last=d.pixels - 1,
                     cycles_per_image=d.cycles_per_image, tail_latency=d.tail_latency,
                     latency=d.latency, stall_pixels=d.stall_pixels,
                     stall_images=f"{d.stall_pixels / d.pixels:.2f}",
                     first_positions=first_positions, pad_clocks=first_positions - d.pixels,
                     out_width=d.out_width,
                     out_doc=("the class index, ceil(log2 classes) bits" if d.has_head else
                              "the flattened output bits"))


def export_stream(netlist: Netlist, out_dir: str | os.PathLike, *, top: str = "lutnn_top",
                  tail_pipeline: str | int = "layer", nmax: int = 1 << 22,
                  registered_ready: bool = True, registered_window: bool = True) -> dict:
    """Write ``out_dir/<top>.v`` (the streaming design) and ``out_dir/<top>_tb.v`` (its
    stalling testbench, ``nmax`` pixels at most; plusargs in its header).

    Returns:
        {"verilog", "testbench", "top", "testbench_top", "latency" (clocks, first pixel to
        class without stalls), "cycles_per_image", "tail_latency", "line_buffer_bits",
        "pixels", "stages": [{name, kind, in_shape, out_shape, padded_positions,
        line_buffer_bits, registered_ready, registered_window}, ...]}
    """
    design = emit_stream(netlist, top=top, tail_pipeline=tail_pipeline,
                         registered_ready=registered_ready, registered_window=registered_window)
    return save_stream(design, emit_stream_testbench(design, nmax=nmax), out_dir)


def save_stream(design: StreamDesign, testbench: str, out_dir: str | os.PathLike, *,
                footer: str = "") -> dict:
    """Write ``<top>.v`` (the text + ``footer``) and ``<top>_tb.v``; returns
    :func:`export_stream`'s record, plus ``design``: what reading the file back needs
    (:meth:`lutnn.hdl.backend.StreamArtifact.load`)."""
    d = design
    out_dir = Path(out_dir)
    verilog, tb = out_dir / f"{d.top}.v", out_dir / f"{d.top}_tb.v"
    io.write_text(verilog, d.text + footer)
    io.write_text(tb, testbench)
    return {
        "verilog": verilog, "testbench": tb, "top": d.top,
        "testbench_top": STREAM_TB_TOP, "latency": d.latency,
        "cycles_per_image": d.cycles_per_image, "tail_latency": d.tail_latency,
        "line_buffer_bits": d.line_buffer_bits, "pixels": d.pixels,
        "stages": [{"name": s.name, "kind": s.kind, "in_shape": list(s.in_shape),
                    "out_shape": list(s.out_shape), "padded_positions": s.padded_positions,
                    "line_buffer_bits": s.line_buffer_bits,
                    "registered_ready": s.registered_ready,
                    "registered_window": s.registered_window} for s in d.stages],
        "design": {"top": d.top, "in_width": d.in_width, "out_width": d.out_width,
                   "pixels": d.pixels, "flat_width": d.flat_width, "has_head": d.has_head},
    }


# ---------------------------------------------------------------------------------------------
# testbench and runner


def emit_stream_testbench(design: StreamDesign, *, nmax: int) -> str:
    """The stalling testbench (module ``lutnn_tb``) for ``design``; ``nmax``: the most pixels
    one run reads."""
    return _T.render("stream_testbench", top=design.top, tb=STREAM_TB_TOP, nmax=nmax,
                     pixels=design.pixels, in_msb=design.in_width - 1,
                     in_width=design.in_width, out_msb=design.out_width - 1) + "\n"


__all__ = ["STREAM_TB_TOP", "StreamDesign", "StreamStage", "check_streamable",
           "choose_registered_ready", "choose_registered_window", "emit_stream",
           "emit_stream_testbench", "export_stream", "save_stream", "split_stream",
           "stall_capacity", "stream_timing"]
