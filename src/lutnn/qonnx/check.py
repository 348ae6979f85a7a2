"""A QONNX model run by qonnx's own executor and compared with lutnn's simulator, bit for bit.

:func:`execute` runs a model (as :class:`~lutnn.qonnx.backend.QONNXBackend` writes it, batch
1) on a whole batch: the graph holds no batch-sized constant, so the batch dimension of its
input and output is set to the batch's and the shapes inferred again; nothing else changes.
:func:`compare` counts the samples whose class differs from the simulator's (argmax of the
scores, lowest index on ties) and the bits of every stage (encoder, each layer) that differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lutnn.ir.layers import Netlist
from lutnn.qonnx.backend import INPUT, OUTPUT
from lutnn.qonnx.graph import require_interop
from lutnn.sim import simulate


def execute(model_bytes: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor of the model (``qonnx.core.onnx_exec.execute_onnx``'s full context) for
    the inputs ``x`` ``[B, *input_shape]`` (given as float32)."""
    require_interop()
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    proto = onnx.load_model_from_string(model_bytes)
    for value in (*proto.graph.input, *proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = len(x)
    del proto.graph.value_info[:]
    model = ModelWrapper(proto).transform(InferShapes())
    return execute_onnx(model, {INPUT: np.ascontiguousarray(x, np.float32)},
                        return_full_exec_context=True)


@dataclass(frozen=True)
class Agreement:
    """What :func:`compare` found: ``vectors`` samples, ``class_mismatches`` of them with
    another class, ``score_mismatches`` with other scores, and per stage the differing bits
    (``stage_bit_mismatches``: IR node name -> count)."""

    vectors: int
    class_mismatches: int
    score_mismatches: int
    stage_bit_mismatches: dict[str, int]

    @property
    def exact(self) -> bool:
        return not (self.class_mismatches or self.score_mismatches
                    or any(self.stage_bit_mismatches.values()))

    def as_dict(self) -> dict:
        return {"vectors": self.vectors, "class_mismatches": self.class_mismatches,
                "score_mismatches": self.score_mismatches,
                "stage_bit_mismatches": self.stage_bit_mismatches}


def compare(model_bytes: bytes, stages: list[tuple[str, str]], netlist: Netlist,
            x: np.ndarray) -> Agreement:
    """Run the model on ``x`` (``[B, *input_shape]``: uint8 pixels or float features) and the
    simulator on the same values; ``stages``: (IR node name, tensor name) of each stage."""
    context = execute(model_bytes, x)
    sim = simulate(netlist, x.reshape(len(x), -1))
    scores = context[OUTPUT]
    classes = np.argmax(scores, axis=1)  # the first maximum: the lowest index on ties
    bits = {name: int(((context[tensor].reshape(len(x), -1) > 0) != sim_bits).sum())
            for (name, tensor), sim_bits in zip(stages, sim.layer_bits, strict=True)}
    return Agreement(int(len(x)), int((classes != sim.classes).sum()),
                     int((scores != sim.scores).any(axis=1).sum()), bits)


__all__ = ["Agreement", "compare", "execute"]
