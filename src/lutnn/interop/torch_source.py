"""PyTorch and Brevitas modules as a :class:`~lutnn.interop.graph.ForeignNet`.

A module comes from a factory, ``package.module:factory`` (imported from the current folder
or ``PYTHONPATH``), and optionally a state-dict file (``torch.load(weights_only=True)``).
Its forward is traced with ``torch.fx`` (Brevitas layers and ``torch.nn`` layers are leaves,
so their insides are not traced; containers are traced through) into a chain of ops:
``nn.Linear`` / ``nn.Conv2d`` and Brevitas' ``QuantLinear`` / ``QuantConv2d`` (their
quantized weights), ``MaxPool2d``, ``Flatten`` (the module, ``torch.flatten``, or a
``view`` / ``reshape`` to ``[B, -1]``), and everything else as an elementwise op that runs
the source's own module or function (BatchNorm, a sign module, ``QuantIdentity``...).  A
node that reads two computed values (a residual add, a concatenation) or a value read by
two nodes (a branch) is refused by name, as is an average pool.  The original is evaluated
by running the module itself (its class scores) and the traced graph (each op's output),
which must agree.
"""

from __future__ import annotations

import contextlib
import importlib
import operator
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from lutnn.errors import LutnnError
from lutnn.interop.graph import (
    Conv,
    Elementwise,
    Flatten,
    ForeignNet,
    Linear,
    Op,
    Pool,
    need,
    refuse,
)

_AVG_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d,
              nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.LPPool2d)
_AVG_FUNCTIONS = (F.avg_pool2d, F.adaptive_avg_pool2d, torch.mean, torch.avg_pool1d)
_SOFTMAX = (F.softmax, F.log_softmax, torch.softmax, torch.log_softmax)
_FLATTENS = {torch.flatten, "flatten", "view", "reshape", torch.reshape}
_JOINS = {operator.add, operator.iadd, torch.add, "add", "add_", operator.sub, torch.cat,
          operator.mul, torch.mul}
_UNSUPPORTED = (nn.Conv1d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                nn.ConvTranspose3d, nn.MaxPool1d, nn.MaxPool3d, nn.Upsample, nn.Embedding,
                nn.RNNBase, nn.MultiheadAttention, nn.Softmax, nn.LogSoftmax)


def _value(out) -> torch.Tensor:
    """A Brevitas QuantTensor's values, or the tensor itself."""
    return getattr(out, "value", out)


@contextlib.contextmanager
def _cwd_on_path() -> Iterator[None]:
    here = os.getcwd()
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        yield
    finally:
        if added and here in sys.path:
            sys.path.remove(here)


def load_factory(spec: str) -> nn.Module:
    """Call the factory ``package.module:factory``; its module, in eval mode.

    Raises:
        LutnnError: the module or factory is not found, importing or calling it raises, or
            it returns something else than an ``nn.Module``.
    """
    module_name, _, name = spec.partition(":")
    if not module_name or not name.isidentifier():
        raise LutnnError(f"{spec!r} is not a factory: write package.module:function")
    with _cwd_on_path():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name in ("brevitas", "qonnx", "onnx"):
                need(exc.name, f"the factory {spec}")
            if exc.name and module_name.startswith(exc.name):
                raise LutnnError(f"factory module {module_name!r} not found in the current "
                                 "folder or on PYTHONPATH") from None
            raise LutnnError(f"importing {module_name!r} failed: {exc}") from None
        except Exception as exc:  # the user's module: whatever it raises is its error
            raise LutnnError(f"importing {module_name!r} raised {type(exc).__name__}: "
                             f"{_line(exc)}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise LutnnError(f"module {module_name!r} has no factory {name!r}")
    try:
        model = factory()
    except Exception as exc:
        raise LutnnError(f"the factory {spec} raised {type(exc).__name__}: {_line(exc)}") from None
    if not isinstance(model, nn.Module):
        raise LutnnError(f"the factory {spec} returned a {type(model).__name__}, not an "
                         "nn.Module")
    return model.eval()


def _line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def load_weights(model: nn.Module, weights: str | os.PathLike, spec: str) -> None:
    """Load a state-dict file (``weights_only=True``) into ``model``, strictly.

    Raises:
        LutnnError: the file is missing, not a state dict, or does not fit the module.
    """
    path = Path(weights)
    if not path.is_file():
        raise LutnnError(f"--weights {path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LutnnError(f"--weights {path} is not a PyTorch state-dict file "
                         f"({type(exc).__name__})") from None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise LutnnError(f"--weights {path} does not hold a state dict (names -> tensors)")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else _line(exc)
        raise LutnnError(f"--weights {path} do not fit the module of {spec}: {detail}") from None
    model.eval()


class _Tracer(fx.Tracer):
    """Leaves: every ``torch.nn`` and Brevitas module and every module without children;
    containers (``Sequential``, the user's blocks) are traced through."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        origin = type(m).__module__
        return origin.startswith(("torch.nn", "brevitas")) or next(m.children(), None) is None


def _trace(model: nn.Module) -> fx.GraphModule:
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:
        raise LutnnError(f"cannot trace the module's forward ({type(exc).__name__}: "
                         f"{_line(exc)}); lutnn imports modules whose forward is a chain of "
                         "layers") from None
    return fx.GraphModule(model, graph)


def _target_name(node: fx.Node) -> str:
    target = node.target
    return target if isinstance(target, str) else getattr(target, "__name__", str(target))


def _label(gm: fx.GraphModule, node: fx.Node) -> str:
    if node.op == "call_module":
        return f"'{node.target}' ({type(gm.get_submodule(node.target)).__name__})"
    return f"'{node.name}' ({_target_name(node)})"


def _is_shape(node: fx.Node, data: set, shape: set) -> bool:
    """Whether ``node`` computes a size (``x.shape``, ``x.size(0)``, and arithmetic on
    sizes) rather than values."""
    if node.op == "call_function" and node.target is getattr and node.args[1] == "shape":
        return True
    if node.op == "call_method" and node.target in ("size", "dim"):
        return True
    deps = [n for n in node.all_input_nodes if n in data]
    return bool(deps) and all(n in shape for n in deps)


def _chain(gm: fx.GraphModule) -> list[fx.Node]:
    """The value nodes from the input to the output, checked to form one chain."""
    nodes = list(gm.graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise LutnnError(f"the module's forward takes {len(inputs)} inputs; lutnn imports "
                         "modules of one input (the image)")
    data, shape, chain, current = {inputs[0]}, set(), [], inputs[0]
    for node in nodes:
        if node.op in ("placeholder", "get_attr") or not any(
                n in data for n in node.all_input_nodes):
            continue
        data.add(node)
        if node.op == "output":
            if node.args[0] is not current:
                raise LutnnError("the module's forward must return one tensor of class scores, "
                                 "the end of its chain of layers")
            break
        if _is_shape(node, data, shape):
            shape.add(node)
            continue
        reads = list(dict.fromkeys(n for n in node.all_input_nodes if n in data and
                                   n not in shape))
        if len(reads) > 1:
            what = ("a residual add" if node.target in _JOINS and _target_name(node) in
                    ("add", "iadd", "add_") else "it joins two computed values")
            raise refuse(_label(gm, node), f"{what}: lutnn imports a chain of layers, one "
                         "input each")
        if reads[0] is not current:
            raise refuse(_label(gm, node), f"reads '{reads[0].name}', which another layer "
                         "also reads (a branch): lutnn imports a chain of layers")
        chain.append(node)
        current = node
    return chain


def _attribute(gm: fx.GraphModule, target: str):
    value = gm
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _elementwise(gm: fx.GraphModule, node: fx.Node, src: fx.Node) -> Elementwise:
    """The node as a function of its one computed input (the rest: constants, parameters)."""
    label = _label(gm, node)
    for arg in node.all_input_nodes:
        if arg is not src and arg.op != "get_attr":
            raise refuse(label, f"reads '{arg.name}' besides its input; lutnn imports "
                         "elementwise ops on one value")

    def apply(array: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(array))

        def value(n: fx.Node):
            return x if n is src else _attribute(gm, n.target)

        args = fx.node.map_arg(node.args, value)
        kwargs = fx.node.map_arg(node.kwargs, value)
        with torch.no_grad():
            if node.op == "call_module":
                out = gm.get_submodule(node.target)(*args, **kwargs)
            elif node.op == "call_method":
                out = getattr(args[0], node.target)(*args[1:], **kwargs)
            else:
                out = node.target(*args, **kwargs)
        return _value(out).detach().cpu().numpy()

    bits = None
    if node.op == "call_module":
        bits = _act_bits(gm.get_submodule(node.target))
    return Elementwise(node.name, label, apply, bits)


def _act_bits(module: nn.Module) -> int | None:
    """The bit width a Brevitas activation quantizer declares (None: no quantizer)."""
    proxy = getattr(module, "act_quant", None)
    if proxy is None or not getattr(proxy, "is_quant_enabled", False):
        return None
    with torch.no_grad():
        return int(proxy.bit_width())


def _weights(module: nn.Module, label: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A layer's quantized weights and bias (Brevitas: ``quant_weight().value``)."""
    if hasattr(module, "quant_weight"):
        proxy = module.weight_quant
        if proxy.is_quant_enabled and int(proxy.bit_width()) > 1:
            raise refuse(label, f"its weight quantizer has {int(proxy.bit_width())} bits; "
                         "lutnn imports 1-bit weights (binary or bipolar)")
        for name in ("input_quant", "output_quant", "bias_quant"):
            if getattr(getattr(module, name, None), "is_quant_enabled", False):
                raise refuse(label, f"its {name} is enabled; lutnn imports layers whose "
                             "inputs come from a 1-bit activation module and whose bias (if "
                             "any) is a float")
        with torch.no_grad():
            weight = _value(module.quant_weight())
    else:
        weight = module.weight
    bias = None if module.bias is None else module.bias.detach().cpu().numpy()
    return weight.detach().cpu().numpy().astype(np.float32), bias


def _module_op(gm: fx.GraphModule, node: fx.Node, src: fx.Node) -> Op:
    module = gm.get_submodule(node.target)
    label = _label(gm, node)
    if isinstance(module, _AVG_POOLS) or "AvgPool" in type(module).__name__:
        raise refuse(label, "an average pool; lutnn pools bits by max (OR) only")
    if isinstance(module, _UNSUPPORTED):
        raise refuse(label, "not a layer lutnn imports (Linear, Conv2d, MaxPool2d, Flatten, "
                     "BatchNorm, 1-bit activations)")
    if isinstance(module, nn.Linear):
        return Linear(node.name, label, *_weights(module, label))
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros" or module.dilation != (1, 1) or isinstance(
                module.padding, str):
            raise refuse(label, "lutnn imports convolutions with numeric zero padding and "
                         "dilation 1")
        conv = Conv(tuple(module.stride), tuple(module.padding), int(module.groups))
        return Linear(node.name, label, *_weights(module, label), conv=conv)
    if isinstance(module, nn.MaxPool2d):
        if (module.padding not in (0, (0, 0)) or module.dilation not in (1, (1, 1))
                or module.ceil_mode or module.return_indices):
            raise refuse(label, "lutnn imports max pooling without padding, dilation or "
                         "ceil_mode")
        kernel = nn.modules.utils._pair(module.kernel_size)
        stride = nn.modules.utils._pair(module.stride or module.kernel_size)
        return Pool(node.name, label, kernel, stride)
    if isinstance(module, nn.Flatten):
        if module.start_dim != 1 or module.end_dim != -1:
            raise refuse(label, "lutnn imports a flatten of every dimension after the batch")
        return Flatten(node.name, label)
    return _elementwise(gm, node, src)


def _function_op(gm: fx.GraphModule, node: fx.Node, src: fx.Node) -> Op:
    label = _label(gm, node)
    if node.target in _AVG_FUNCTIONS or "avg_pool" in _target_name(node):
        raise refuse(label, "an average pool; lutnn pools bits by max (OR) only")
    if node.target in _FLATTENS:
        return Flatten(node.name, label)  # its shape is checked on a sample (_check_flattens)
    if node.target in (F.max_pool2d, torch.max_pool2d):
        raise refuse(label, "a functional max pool; use nn.MaxPool2d in the module")
    if node.target in _SOFTMAX or node.target in ("softmax", "log_softmax"):
        raise refuse(label, "a softmax couples the classes; lutnn's class head ends at the "
                     "scores: return them (the argmax is the same)")
    if node.target in (F.linear, F.conv2d, torch.matmul, operator.matmul):
        raise refuse(label, "a functional linear layer; use nn.Linear / nn.Conv2d modules")
    return _elementwise(gm, node, src)


class _Recorder(fx.Interpreter):
    """Runs the traced graph, keeping the outputs of the chain's nodes (by name)."""

    def __init__(self, gm: fx.GraphModule, keep: set[str]):
        super().__init__(gm)
        self.keep, self.outputs = keep, {}

    def run_node(self, n: fx.Node):
        out = super().run_node(n)
        if n.name in self.keep:
            self.outputs[n.name] = _value(out)
        return out


def _check_flattens(gm: fx.GraphModule, ops: list[Op], input_shape: tuple[int, ...]) -> None:
    """Each reshape takes ``[B, ...]`` to ``[B, prod(...)]`` on a sample."""
    recorder = _Recorder(gm, {op.key for op in ops})
    with torch.no_grad():
        try:
            recorder.run(torch.zeros(2, *input_shape))
        except Exception as exc:
            raise LutnnError(f"the module does not take the data's images {list(input_shape)} "
                             f"({type(exc).__name__}: {_line(exc)})") from None
    previous = (2, *input_shape)
    for op in ops:
        shape = tuple(recorder.outputs[op.key].shape)
        if isinstance(op, Flatten) and shape != (2, int(np.prod(previous[1:]))):
            raise refuse(op.label, f"reshapes {list(previous)} to {list(shape)}; lutnn imports "
                         "a flatten to [B, -1] only")
        previous = shape


def from_module(model: nn.Module, input_shape: tuple[int, ...]) -> ForeignNet:
    """The chain of ``model`` (eval mode) and its evaluation (see the module doc)."""
    model.eval()
    gm = _trace(model)
    chain = _chain(gm)
    ops: list[Op] = []
    src = next(n for n in gm.graph.nodes if n.op == "placeholder")
    for node in chain:
        if node.op == "call_module":
            ops.append(_module_op(gm, node, src))
        else:
            ops.append(_function_op(gm, node, src))
        src = node
    _check_flattens(gm, ops, input_shape)
    keep = {op.key for op in ops}
    kind = ("brevitas" if any(type(m).__module__.startswith("brevitas") for m in model.modules())
            else "torch")

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        recorder = _Recorder(gm, keep)
        with torch.no_grad():
            scores = _value(model(inputs))
            traced = _value(recorder.run(inputs))
        if not torch.equal(scores, traced):
            raise LutnnError("the traced forward gives other scores than the module; lutnn "
                             "imports modules whose forward is a chain of layers")
        outs = {k: v.detach().cpu().numpy() for k, v in recorder.outputs.items()}
        return scores.detach().cpu().numpy(), outs

    return ForeignNet(kind, tuple(ops), evaluate)
