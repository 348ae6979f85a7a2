"""The two Verilog backends behind one interface (:class:`lutnn.ir.passes.flow.Backend`).

* :class:`VerilogBackend`: the unrolled design, one input vector per clock
  (:func:`~lutnn.hdl.emit.verilog_passes`, then :func:`~lutnn.hdl.emit.fill_verilog`);
* :class:`StreamBackend`: the spatial netlist as a stream, one pixel per clock
  (:func:`~lutnn.hdl.stream.emit_stream`, its dense tail emitted as above).

``emit(netlist, options)`` returns an artifact (:class:`VerilogArtifact`,
:class:`StreamArtifact`) that ``save``-s ``<top>.v`` and ``<top>_tb.v`` into a folder and
returns what ``export.json`` records of it (``design``: what a testbench needs to drive the
file, besides the ``latency``).  ``load(folder, record)`` reads the Verilog *file* back, so
``lutnn sim --rtl`` and ``lutnn synth`` run the bytes that export wrote, not a re-emission.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from lutnn import io
from lutnn.errors import LutnnError
from lutnn.hdl.emit import Port, VerilogDesign, fill_verilog, verilog_passes
from lutnn.hdl.stream import (
    StreamDesign,
    StreamStage,
    emit_stream,
    emit_stream_testbench,
    save_stream,
)
from lutnn.hdl.testbench import TB_TOP, emit_testbench
from lutnn.ir.layers import Netlist
from lutnn.ir.options import ExportOptions
from lutnn.ir.passes.flow import Pass, run_flow

#: the most vectors (pixels, for a stream) the saved testbench reads; ``sim --rtl`` writes its
#: own testbench sized to its vectors
SAVED_TB_VECTORS = {"unrolled": 1 << 16, "stream": 1 << 22}


def _read_verilog(out_dir: Path, record: dict) -> str:
    path = Path(out_dir) / Path(record["verilog"]).name
    try:
        return path.read_text()
    except FileNotFoundError:
        raise LutnnError(f"{path} is gone (export.json names it); run `lutnn export` "
                         "again") from None


def _recorded(record: dict, key: str) -> dict:
    design = record.get("design")
    if not isinstance(design, dict) or key not in design:
        raise LutnnError("export.json does not describe the exported design (an export of an "
                         "older lutnn); run `lutnn export` again")
    return design


@dataclass(frozen=True)
class VerilogArtifact:
    """An unrolled design: the Verilog text and its testbench."""

    design: VerilogDesign
    testbench: str = ""

    @property
    def latency(self) -> int:
        return self.design.latency

    def save(self, out_dir: str | os.PathLike, *, footer: str = "") -> dict:
        """Write ``<top>.v`` (its text + ``footer``) and ``<top>_tb.v``; returns the paths and
        what ``export.json`` records of the design."""
        d = self.design
        out_dir = Path(out_dir)
        verilog, testbench = out_dir / f"{d.top}.v", out_dir / f"{d.top}_tb.v"
        io.write_text(verilog, d.text + footer)
        io.write_text(testbench, self.testbench or emit_testbench(d))
        return {"verilog": verilog, "testbench": testbench, "top": d.top,
                "testbench_top": TB_TOP, "latency": d.latency,
                "levels_per_stage": d.levels_per_stage, "argmax": d.argmax,
                "ports": [vars(p) for p in d.ports],
                "design": {"top": d.top, "ports": [vars(p) for p in d.ports],
                           "stages": [list(s) for s in d.stages]}}

    @classmethod
    def load(cls, out_dir: str | os.PathLike, record: dict) -> VerilogArtifact:
        """The design ``save`` wrote into ``out_dir``: its text read from the file."""
        design = _recorded(record, "ports")
        options = ExportOptions.from_json(record)
        ports = tuple(Port(**p) for p in design["ports"])
        return cls(VerilogDesign(_read_verilog(Path(out_dir), record), design["top"],
                                 int(record["latency"]), ports, options.pipeline,
                                 tuple(tuple(s) for s in design.get("stages", ())),
                                 options.levels_per_stage, options.resolved_argmax))


@dataclass(frozen=True)
class VerilogBackend:
    """The unrolled Verilog design of a flat netlist."""

    top: str = "lutnn_top"
    scores: bool = False
    name: str = "verilog"

    def passes(self, options: ExportOptions) -> tuple[Pass, ...]:
        return verilog_passes(options)

    def emit(self, netlist: Netlist, options: ExportOptions) -> VerilogArtifact:
        netlist.validate()
        lowered = run_flow(netlist, self.passes(options))
        design = fill_verilog(netlist, lowered, options, top=self.top, scores=self.scores)
        return VerilogArtifact(design, emit_testbench(design, nmax=SAVED_TB_VECTORS["unrolled"]))


@dataclass(frozen=True)
class StreamArtifact:
    """A streaming design: the Verilog text and its stalling testbench."""

    design: StreamDesign
    testbench: str = ""

    @property
    def latency(self) -> int:
        return self.design.latency

    def save(self, out_dir: str | os.PathLike, *, footer: str = "") -> dict:
        """Write ``<top>.v`` and ``<top>_tb.v`` (:func:`~lutnn.hdl.stream.save_stream`)."""
        tb = self.testbench or emit_stream_testbench(self.design,
                                                     nmax=SAVED_TB_VECTORS["stream"])
        return save_stream(self.design, tb, out_dir, footer=footer)

    @classmethod
    def load(cls, out_dir: str | os.PathLike, record: dict) -> StreamArtifact:
        design = _recorded(record, "in_width")
        stages = tuple(StreamStage(s["name"], s["kind"], tuple(s["in_shape"]),
                                   tuple(s["out_shape"]), s["padded_positions"],
                                   s["line_buffer_bits"],
                                   registered_ready=s.get("registered_ready", False),
                                   registered_window=s.get("registered_window", False))
                       for s in record.get("stages", ()))
        return cls(StreamDesign(_read_verilog(Path(out_dir), record), design["top"],
                                design["in_width"], design["out_width"], design["pixels"],
                                stages, design["flat_width"], int(record["cycles_per_image"]),
                                bool(design["has_head"]), int(record["tail_latency"]),
                                int(record["latency"])))


@dataclass(frozen=True)
class StreamBackend:
    """The streaming design of a spatial netlist (read as it is: no passes; its dense tail
    goes through :func:`~lutnn.hdl.emit.verilog_passes` inside the emitter)."""

    top: str = "lutnn_top"
    name: str = "stream"

    def passes(self, options: ExportOptions) -> tuple[Pass, ...]:
        return ()

    def emit(self, netlist: Netlist, options: ExportOptions) -> StreamArtifact:
        netlist = run_flow(netlist, self.passes(options))
        design = emit_stream(netlist, top=self.top, tail_pipeline=options.pipeline)
        return StreamArtifact(design,
                              emit_stream_testbench(design, nmax=SAVED_TB_VECTORS["stream"]))


def backend_for(options: ExportOptions, *, top: str = "lutnn_top"):
    """The Verilog backend of ``options.form``."""
    return StreamBackend(top) if options.stream else VerilogBackend(top)


def load_artifact(out_dir: str | os.PathLike, record: dict,
                  netlist: Netlist | None = None) -> VerilogArtifact | StreamArtifact:
    """The design an ``export.json`` ``record`` describes, its text read from the file in
    ``out_dir``.  A record of an older lutnn (no ``design``) is described by emitting
    ``netlist`` again with the recorded options; the text is still the file's."""
    options = ExportOptions.from_json(record)
    kind = StreamArtifact if options.stream else VerilogArtifact
    if "design" in record or netlist is None:
        return kind.load(out_dir, record)
    emitted = backend_for(options, top=Path(record["verilog"]).stem).emit(netlist, options)
    text = _read_verilog(Path(out_dir), record)
    return kind(dataclasses.replace(emitted.design, text=text), emitted.testbench)


__all__ = ["SAVED_TB_VECTORS", "StreamArtifact", "StreamBackend", "VerilogArtifact",
           "VerilogBackend", "backend_for", "load_artifact"]
