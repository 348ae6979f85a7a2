"""The QONNX backend behind the backends' interface (:class:`lutnn.ir.passes.flow.Backend`).

``QONNXBackend(input_shape).emit(netlist)`` turns an XNOR netlist in the spatial form
(:func:`lutnn.frontend.to_ir` with ``spatial=True``: convolutions stay convolutions) into a
:class:`QONNXArtifact` (:mod:`lutnn.qonnx.build`), whose ``save(dir)`` writes ``model.onnx``
atomically.  The graph reads ``input`` (float32 ``[1, *input_shape]``: raw pixel values, or a
table's float features) and writes ``scores`` (float32 ``[1, classes]``, the class popcounts);
``stages`` names the tensor of each stage the simulator reports (encoder first, then each
layer), so a test can compare them bit for bit.  Software has no clock: ``latency`` is 0.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lutnn import io
from lutnn.errors import LutnnError
from lutnn.ir.dispatch import MissingEntryError
from lutnn.ir.layers import FeatureEncoder, Netlist
from lutnn.ir.options import ExportOptions
from lutnn.ir.passes.flow import Pass
from lutnn.qonnx.build import NODES, Tensor
from lutnn.qonnx.graph import OPSET, Graph, require_interop

MODEL_FILE = "model.onnx"
INPUT, OUTPUT = "input", "scores"


@dataclass(frozen=True)
class QONNXArtifact:
    """A QONNX model (a qonnx ``ModelWrapper``) and the tensor of each simulator stage."""

    model: Any
    input_shape: tuple[int, ...]
    num_classes: int
    stages: tuple[tuple[str, str], ...]  # (IR node name, tensor name), encoder first
    latency: int = 0

    @property
    def ops(self) -> dict[str, int]:
        """How many nodes of each op type the graph holds."""
        return dict(Counter(n.op_type for n in self.model.graph.node))

    def save(self, out_dir: str | os.PathLike) -> dict:
        """Write ``model.onnx`` into ``out_dir``; returns what ``export.json`` records."""
        path = Path(out_dir) / MODEL_FILE
        with io.atomic_path(path) as tmp:
            tmp.write_bytes(self.model.model.SerializeToString())
        return {"model": path, "input": INPUT, "input_shape": [1, *self.input_shape],
                "output": OUTPUT, "classes": self.num_classes, "opset": OPSET,
                "ops": self.ops, "stages": [list(s) for s in self.stages]}


@dataclass(frozen=True)
class QONNXBackend:
    """An XNOR netlist as QONNX; ``input_shape`` is the run's (``(C, H, W)`` images of 0..255
    pixel values, ``(F,)`` a table's floats)."""

    input_shape: tuple[int, ...]
    name: str = "qonnx"

    def passes(self, options: ExportOptions) -> tuple[Pass, ...]:
        return ()  # the spatial form, as the frontend builds it

    def emit(self, netlist: Netlist, options: ExportOptions | None = None) -> QONNXArtifact:
        """The QONNX graph of ``netlist``.

        Raises:
            LutnnError: a LUT layer (no QONNX form), no encoder or no class head, or the
                interop extra (onnx, qonnx) is not installed.
        """
        require_interop()
        netlist.validate()
        if netlist.encoder is None or netlist.head is None:
            raise LutnnError("QONNX export needs a network with an input encoder and a class "
                             "head (GroupSum), as lutnn's teachers have")
        g = Graph()
        x = Tensor(INPUT, tuple(self.input_shape))
        stages = []
        for node in (netlist.encoder, *netlist.layers, netlist.head):
            try:
                convert = NODES.lookup(type(node))
            except MissingEntryError:
                raise LutnnError(f"layer {node.name!r}: IR node type {type(node).__name__} has "
                                 "no QONNX converter (lutnn.qonnx.build handles: "
                                 f"{', '.join(sorted(t.__name__ for t in NODES.node_types))})"
                                 ) from None
            x = convert(node, g, x)
            if node is not netlist.head:
                stages.append((node.name, x.name))
        g.datatypes[INPUT] = _input_datatype(netlist, self.input_shape)
        model = g.to_model({INPUT: (1, *self.input_shape)},
                           {OUTPUT: (1, netlist.head.num_classes)},
                           doc=f"lutnn XNOR-Net {netlist.meta.get('model', '')}".strip())
        return QONNXArtifact(model, tuple(self.input_shape), netlist.head.num_classes,
                             tuple(stages))


def _input_datatype(netlist: Netlist, input_shape: tuple[int, ...]) -> str:
    """The input's QONNX data type: UINT8 pixels, W-bit integers for an image
    FeatureEncoder, FLOAT32 for a table's features."""
    enc = netlist.encoder
    if isinstance(enc, FeatureEncoder):
        return "FLOAT32" if len(input_shape) == 1 else f"UINT{enc.width}"
    return "UINT8"


__all__ = ["INPUT", "MODEL_FILE", "OUTPUT", "QONNXArtifact", "QONNXBackend"]
