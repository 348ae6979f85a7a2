"""A small ONNX graph builder: nodes, constants and tensor data types, kept as plain Python
and numpy until :meth:`Graph.to_model` makes the ``onnx`` protobuf (``onnx`` and ``qonnx``
are imported there, lazily: they are the ``interop`` extra).

Conventions: ONNX opset :data:`OPSET`; the qonnx custom ops (``MultiThreshold``,
``BipolarQuant``, ``Quant``) live in the domain :data:`QONNX_DOMAIN`, which
``qonnx.core.onnx_exec.execute_onnx`` resolves; every tensor is float32 (QONNX carries
integers and bits as float32 values, their meaning in the data-type annotation); the batch
dimension is 1 (FINN's convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lutnn.errors import LutnnError

OPSET = 13
QONNX_DOMAIN = "qonnx.custom_op.general"
INTEROP_HINT = "pip install 'lutnn[interop]'"


def require_interop() -> None:
    """Import ``onnx`` and ``qonnx`` or raise one line naming the extra to install."""
    try:
        import onnx  # noqa: F401
        import qonnx  # noqa: F401
    except ImportError as exc:
        missing = exc.name or "onnx/qonnx"
        raise LutnnError(f"QONNX export needs onnx and qonnx ({missing} is not installed): "
                         f"{INTEROP_HINT}") from None


@dataclass(frozen=True)
class Node:
    """One ONNX node: ``op`` in ``domain`` ("" = standard ONNX) reading ``inputs``."""

    name: str
    op: str
    inputs: tuple[str, ...]
    output: str
    attrs: dict[str, Any]
    domain: str = ""


@dataclass
class Graph:
    """The nodes of one graph in order, its constants (initializers) and the QONNX data
    types of the tensors that have one (``"BIPOLAR"``, ``"UINT8"``...)."""

    nodes: list[Node] = field(default_factory=list)
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    datatypes: dict[str, str] = field(default_factory=dict)

    def constant(self, name: str, value: np.ndarray, *, index: bool = False) -> str:
        """Add a constant tensor: float32, or int64 for an ``index`` (shape, pads) array."""
        assert name not in self.constants, name
        self.constants[name] = np.asarray(value, np.int64 if index else np.float32)
        return name

    def node(self, op: str, inputs: tuple[str, ...], output: str, *, qonnx: bool = False,
             datatype: str | None = None, **attrs: Any) -> str:
        """Append a node writing ``output`` (its name is the output's, ``_out`` dropped);
        ``qonnx``: a qonnx custom op; ``datatype``: the output's QONNX data type."""
        name = output.removesuffix("_out")
        self.nodes.append(Node(name, op, tuple(inputs), output, attrs,
                               QONNX_DOMAIN if qonnx else ""))
        if datatype is not None:
            self.datatypes[output] = datatype
        return output

    def to_model(self, inputs: dict[str, tuple[int, ...]], outputs: dict[str, tuple[int, ...]],
                 *, doc: str = ""):
        """The graph as a qonnx ``ModelWrapper``, every tensor's shape inferred (qonnx's
        executor needs them) and its data type annotated (``datatypes``, and qonnx's
        inference from them)."""
        require_interop()
        from onnx import TensorProto, helper, numpy_helper
        from qonnx.core.datatype import DataType
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.transformation.infer_datatypes import InferDataTypes
        from qonnx.transformation.infer_shapes import InferShapes

        def info(name: str, shape: tuple[int, ...]):
            return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))

        nodes = [helper.make_node(n.op, list(n.inputs), [n.output], name=n.name,
                                  domain=n.domain, **n.attrs) for n in self.nodes]
        graph = helper.make_graph(
            nodes, "lutnn", [info(k, v) for k, v in inputs.items()],
            [info(k, v) for k, v in outputs.items()],
            initializer=[numpy_helper.from_array(v, k) for k, v in self.constants.items()])
        model = helper.make_model(graph, producer_name="lutnn", doc_string=doc,
                                  opset_imports=[helper.make_opsetid("", OPSET),
                                                 helper.make_opsetid(QONNX_DOMAIN, 1)])
        wrapped = ModelWrapper(model).transform(InferShapes())
        for name, datatype in self.datatypes.items():
            wrapped.set_tensor_datatype(name, DataType[datatype])
        wrapped = wrapped.transform(InferDataTypes())  # the rest, from the annotated ones
        assert wrapped.check_all_tensor_shapes_specified(), "a tensor's shape was not inferred"
        return wrapped
