"""A QONNX file (as Brevitas' ``export_qonnx`` writes it) as a
:class:`~lutnn.interop.graph.ForeignNet`, evaluated with qonnx's own executor.

The file is read with ``onnx``, shapes inferred with qonnx, and run once on a zero input to
learn every constant (a weight quantizer's output is the weights the network computes with).
The nodes that depend on the input must form one chain: ``Gemm`` / ``MatMul`` / ``Conv``
(constant weights, from ``BipolarQuant`` or a 1-bit ``Quant``), ``MaxPool``, ``Flatten`` /
``Reshape`` to ``[B, -1]``, and elementwise nodes (``BatchNormalization``, ``Mul``, ``Add``,
``Sub``, ``Div`` with a constant, ``Relu``, ``Clip``, ``Sign``, ``BipolarQuant``, ``Quant``,
``MultiThreshold``...), each evaluated by qonnx's ``execute_node`` (the call
``execute_onnx`` makes per node: onnxruntime for standard nodes, qonnx's Python for its
custom ops), so the fold sees the very arithmetic of the original.  An ``Add`` of two
computed values (a residual), an average pool and a weight quantizer of more than one bit
are refused by node name.  The original is evaluated by ``execute_onnx`` on a copy whose
batch size is set to the batch's (qonnx's ``ChangeBatchSize``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lutnn.errors import LutnnError
from lutnn.interop.graph import (
    Conv,
    Elementwise,
    Flatten,
    ForeignNet,
    Linear,
    Op,
    Pool,
    refuse,
)

_AVERAGE = {"AveragePool", "GlobalAveragePool", "QuantAvgPool2d", "ReduceMean"}
_ELEMENTWISE = {"BatchNormalization", "Mul", "Add", "Sub", "Div", "Relu", "Clip", "Sign",
                "Identity", "Dropout", "HardTanh", "Tanh", "Sigmoid", "HardSigmoid",
                "BipolarQuant", "Quant", "MultiThreshold", "Neg", "Abs", "LeakyRelu"}


def _label(node) -> str:
    return f"'{node.name or node.output[0]}' ({node.op_type})"


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _load(path: Path):
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    try:
        proto = onnx.load(str(path))
    except Exception as exc:
        raise LutnnError(f"{path} is not an ONNX file ({type(exc).__name__})") from None
    if not len(proto.graph.node):
        raise LutnnError(f"{path} is not an ONNX model (it holds no graph)")
    try:
        return ModelWrapper(proto).transform(InferShapes())
    except Exception as exc:
        raise LutnnError(f"qonnx cannot read {path} ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def _io(model, input_shape: tuple[int, ...]) -> tuple[str, str]:
    inits = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise LutnnError(f"the QONNX graph has {len(inputs)} inputs and "
                         f"{len(model.graph.output)} outputs; lutnn imports one image input "
                         "and one output of class scores")
    shape = tuple(model.get_tensor_shape(inputs[0]))
    if shape != (1, *input_shape):
        raise LutnnError(f"the QONNX input {inputs[0]} is {list(shape)}; the data's images "
                         f"need [1, {', '.join(map(str, input_shape))}]")
    return inputs[0], model.graph.output[0].name


class _Graph:
    """The model, its constants (one run on zeros) and the chain of input-dependent nodes."""

    def __init__(self, model, input_name: str, output_name: str):
        from qonnx.core.onnx_exec import execute_onnx

        self.model, self.input, self.output = model, input_name, output_name
        zeros = np.zeros(model.get_tensor_shape(input_name), np.float32)
        try:
            self.values = execute_onnx(model, {input_name: zeros}, return_full_exec_context=True)
        except Exception as exc:
            raise LutnnError(f"qonnx's executor cannot run the graph ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        self.producer = {out: node for node in model.graph.node for out in node.output}
        self.opsets = model.get_opset_imports()
        self.chain = self._chain()

    def _chain(self) -> list:
        data, chain, current = {self.input}, [], self.input
        for node in self.model.graph.node:
            reads = list(dict.fromkeys(i for i in node.input if i in data))
            if not reads:
                continue
            data.update(node.output)
            if len(reads) > 1:
                what = "a residual add" if node.op_type in ("Add", "Sum") else (
                    "it joins two computed values")
                raise refuse(_label(node), f"{what}: lutnn imports a chain of layers, one "
                             "input each")
            if reads[0] != current:
                raise refuse(_label(node), f"reads {reads[0]}, which another node also reads "
                             "(a branch): lutnn imports a chain of layers")
            chain.append(node)
            current = node.output[0]
        if current != self.output:
            raise LutnnError("the QONNX graph's output is not the end of its chain of layers")
        return chain

    def const(self, name: str) -> np.ndarray:
        return np.asarray(self.values[name])

    def weight_bits(self, name: str) -> tuple[int | None, str]:
        """The bits of the quantizer that makes weight tensor ``name`` (None: a float)."""
        node = self.producer.get(name)
        if node is None:
            return None, ""
        if node.op_type == "BipolarQuant":
            return 1, _label(node)
        if node.op_type == "Quant":
            return int(self.const(node.input[3])), _label(node)
        return None, _label(node)


def _linear(graph: _Graph, node) -> Linear:
    label, a = _label(node), _attrs(node)
    weight_name = node.input[1]
    bits, quantizer = graph.weight_bits(weight_name)
    if bits is not None and bits > 1:
        raise refuse(label, f"its weight quantizer {quantizer} has {bits} bits; lutnn imports "
                     "1-bit weights (binary or bipolar)")
    w = graph.const(weight_name).astype(np.float32)
    bias = graph.const(node.input[2]).astype(np.float32) if len(node.input) > 2 and \
        node.input[2] else None
    if node.op_type == "MatMul":
        return Linear(node.output[0], label, np.ascontiguousarray(w.T), None)
    if node.op_type == "Gemm":
        if a.get("transA", 0):
            raise refuse(label, "a Gemm with transA; lutnn imports x @ W")
        w = w if a.get("transB", 0) else w.T
        w = w * np.float32(a.get("alpha", 1.0))
        if bias is not None:
            bias = (bias * np.float32(a.get("beta", 1.0))).reshape(-1)
        return Linear(node.output[0], label, np.ascontiguousarray(w), bias)
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if (a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") or pads[:2] != pads[2:]
            or any(d != 1 for d in a.get("dilations", [1, 1]))):
        raise refuse(label, "lutnn imports convolutions with symmetric explicit padding and "
                     "dilation 1")
    conv = Conv(tuple(a.get("strides", [1, 1])), tuple(pads[:2]), int(a.get("group", 1)))
    return Linear(node.output[0], label, w, bias, conv=conv)


def _elementwise(graph: _Graph, node, source: str) -> Elementwise:
    from onnx import TensorProto, helper
    from qonnx.core.onnx_exec import execute_node

    consts = {i: graph.const(i) for i in node.input if i and i != source}
    opset = graph.opsets.get(node.domain, graph.opsets.get("", 13))

    def apply(array: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(array, dtype=np.float32)
        values = {source: x, **consts}
        inputs = [helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for name, v in values.items()]
        output = helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, x.shape)
        single = helper.make_graph([node], "lutnn-op", inputs, [output])
        context = {**values, node.output[0]: np.zeros(x.shape, np.float32)}
        execute_node(node, context, single, opset)
        return np.asarray(context[node.output[0]])

    bits = None
    if node.op_type == "BipolarQuant":
        bits = 1
    elif node.op_type == "Quant":
        bits = int(graph.const(node.input[3]))
    elif node.op_type == "MultiThreshold":
        bits = int(np.ceil(np.log2(graph.const(node.input[1]).shape[-1] + 1)))
    return Elementwise(node.output[0], _label(node), apply, bits)


def _op(graph: _Graph, node, source: str) -> Op:
    label, kind = _label(node), node.op_type
    if kind in ("Gemm", "MatMul", "Conv"):
        if node.input[0] != source:
            raise refuse(label, "its computed input is not its first; lutnn imports x @ W")
        return _linear(graph, node)
    if kind in _AVERAGE:
        raise refuse(label, "an average pool; lutnn pools bits by max (OR) only")
    if kind == "MaxPool":
        a = _attrs(node)
        if any(a.get("pads", [0])) or a.get("ceil_mode", 0) or any(
                d != 1 for d in a.get("dilations", [1, 1])):
            raise refuse(label, "lutnn imports max pooling without padding, dilation or "
                         "ceil_mode")
        kernel = tuple(a["kernel_shape"])
        return Pool(node.output[0], label, kernel, tuple(a.get("strides", kernel)))
    if kind in ("Flatten", "Reshape"):
        before = graph.const(source).shape
        after = graph.const(node.output[0]).shape
        if after != (before[0], int(np.prod(before[1:]))):
            raise refuse(label, f"reshapes {list(before)} to {list(after)}; lutnn imports a "
                         "flatten to [B, -1] only")
        return Flatten(node.output[0], label)
    if kind in _ELEMENTWISE:
        return _elementwise(graph, node, source)
    raise refuse(label, "not a node lutnn imports (Gemm, MatMul, Conv, MaxPool, Flatten, "
                 "Reshape, BatchNormalization, elementwise ops, 1-bit quantizers)")


def from_qonnx(path: Path, input_shape: tuple[int, ...]) -> ForeignNet:
    """The chain of the QONNX file ``path`` and its evaluation by qonnx (module doc)."""
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.change_batchsize import ChangeBatchSize
    from qonnx.transformation.infer_shapes import InferShapes

    model = _load(path)
    input_name, output_name = _io(model, input_shape)
    graph = _Graph(model, input_name, output_name)
    ops, source = [], input_name
    for node in graph.chain:
        ops.append(_op(graph, node, source))
        source = node.output[0]
    keys = [op.key for op in ops]
    batched: dict[int, object] = {}

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        size = len(x)
        if size not in batched:
            batched[size] = model.transform(ChangeBatchSize(size)).transform(InferShapes())
        context = execute_onnx(batched[size], {input_name: np.ascontiguousarray(
            x, dtype=np.float32)}, return_full_exec_context=True)
        return np.asarray(context[output_name]), {k: np.asarray(context[k]) for k in keys}

    return ForeignNet("qonnx", tuple(ops), evaluate, (1, *input_shape))
