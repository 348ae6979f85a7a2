"""``export``: write the Verilog design and its testbench into a folder."""

from __future__ import annotations

import os
from pathlib import Path

from lutnn import io
from lutnn.hdl.emit import emit_verilog
from lutnn.hdl.testbench import TB_TOP, emit_testbench
from lutnn.ir.layers import Netlist


def export(netlist: Netlist, out_dir: str | os.PathLike, *, top: str = "lutnn_top",
           pipeline: str | int = "layer", scores: bool = False,
           levels_per_stage: int | None = None, argmax: str | None = None) -> dict:
    """Write ``out_dir/<top>.v`` and ``out_dir/<top>_tb.v`` (atomically).

    The testbench reads vectors with ``$readmemh`` (see :mod:`lutnn.hdl.testbench` for the
    file formats and plusargs); e.g. ``iverilog -g2005 -s lutnn_tb -o sim <top>.v <top>_tb.v``
    then ``vvp sim +in=inputs.hex +out=outputs.hex +n=100``.

    Returns:
        {"verilog": Path, "testbench": Path, "top": str, "testbench_top": str, "latency": int,
        "levels_per_stage": int or None (the bound ``pipeline="balanced"`` used),
        "argmax": the head's argmax ("tree" or "parallel"; ``argmax=None``: as
        :func:`lutnn.hdl.emit.default_argmax` picks for the pipeline),
        "ports": [{"name", "direction", "width", "description"}, ...]}
    """
    design = emit_verilog(netlist, top=top, pipeline=pipeline, scores=scores,
                          levels_per_stage=levels_per_stage, argmax=argmax)
    out_dir = Path(out_dir)
    verilog = out_dir / f"{design.top}.v"
    testbench = out_dir / f"{design.top}_tb.v"
    io.write_text(verilog, design.text)
    io.write_text(testbench, emit_testbench(design))
    return {
        "verilog": verilog,
        "testbench": testbench,
        "top": design.top,
        "testbench_top": TB_TOP,
        "latency": design.latency,
        "levels_per_stage": design.levels_per_stage,
        "argmax": design.argmax,
        "ports": [vars(p) for p in design.ports],
    }
