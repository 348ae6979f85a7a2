"""``export``: write the Verilog design and its testbench into a folder."""

from __future__ import annotations

import os

from lutnn.hdl.backend import VerilogBackend
from lutnn.ir.layers import Netlist
from lutnn.ir.options import ExportOptions


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
        "ports": [{"name", "direction", "width", "description"}, ...],
        "design": what ``export.json`` records to read the file back
        (:meth:`lutnn.hdl.backend.VerilogArtifact.load`)}
    """
    options = ExportOptions(pipeline=pipeline, levels_per_stage=levels_per_stage, argmax=argmax)
    return VerilogBackend(top, scores).emit(netlist, options).save(out_dir)
