"""The source-neutral form of a foreign binarized network: a chain of ops, and how to run it.

Each source (:mod:`lutnn.interop.torch_source` for plain PyTorch and Brevitas modules,
:mod:`lutnn.interop.qonnx_source` for QONNX files) reads its network into a
:class:`ForeignNet`: the ops in execution order (one input, one output, no branches) and an
``evaluate`` function that runs the *original* (PyTorch, or qonnx's executor) on a batch and
returns its class scores and every op's output.  :mod:`lutnn.interop.convert` maps the chain
onto lutnn blocks; :mod:`lutnn.interop.verify` compares the two on data.

Conventions: arrays are numpy; weights are the *quantized* weights the source computes with
(``value`` of a Brevitas ``quant_weight()``, a QONNX weight quantizer's output); an op's
``key`` names its output in ``evaluate``'s dict; ``label`` names it in messages, as the
source does (a module path and its type, or an ONNX node and its op type).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from lutnn.errors import LutnnError

INTEROP_EXTRA = "pip install lutnn[interop]"


def need(module: str, what: str) -> ModuleType:
    """Import ``module`` (an optional dependency) or say in one line what to install.

    Raises:
        LutnnError: ``module`` is not installed (the ``interop`` extra is missing).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise LutnnError(f"{what} needs the {module.split('.')[0]} package, which is not "
                         f"installed: {INTEROP_EXTRA}") from None


@dataclass(frozen=True)
class Linear:
    """A fully connected layer (``conv is None``) or a 2-D convolution.

    ``weight``: float ``[N, F]`` (dense) or ``[N, C/groups, KH, KW]`` (conv); ``bias``:
    float ``[N]`` or None.
    """

    key: str
    label: str
    weight: np.ndarray
    bias: np.ndarray | None
    conv: Conv | None = None


@dataclass(frozen=True)
class Conv:
    """A convolution's geometry (dilation 1, zero padding)."""

    stride: tuple[int, int]
    padding: tuple[int, int]
    groups: int


@dataclass(frozen=True)
class Pool:
    """Max pooling without padding."""

    key: str
    label: str
    kernel: tuple[int, int]
    stride: tuple[int, int]


@dataclass(frozen=True)
class Flatten:
    """``[B, C, H, W] -> [B, C*H*W]``, channel-major (``nn.Flatten``'s order)."""

    key: str
    label: str


@dataclass(frozen=True)
class Elementwise:
    """An op that maps each value on its own (BatchNorm, a scale, a quantizer, a sign...).

    ``apply`` runs the source's own op on an array (``[S, N]`` or ``[S, N, 1, 1]``: one row
    per sample, channels on axis 1) and returns an array of the same shape.  ``bits`` is
    the bit width the source declares for a quantizer (None where it declares none).
    """

    key: str
    label: str
    apply: Callable[[np.ndarray], np.ndarray]
    bits: int | None = None


Op = Linear | Pool | Flatten | Elementwise


@dataclass(frozen=True)
class ForeignNet:
    """A source's network: its ops in order, and the original's evaluation.

    ``evaluate(x)`` takes float32 inputs ``[B, *input_shape]`` and returns float class
    scores ``[B, classes]`` and each op's output by ``key``.
    """

    kind: str  # "torch", "brevitas" or "qonnx"
    ops: tuple[Op, ...]
    evaluate: Callable[[np.ndarray], tuple[np.ndarray, dict[str, np.ndarray]]]
    input_shape: tuple[int, ...] | None = None  # the shape the source declares, if any


def refuse(label: str, why: str) -> LutnnError:
    """The one-line refusal naming the layer: ``layer LABEL: WHY``."""
    return LutnnError(f"layer {label}: {why}")
