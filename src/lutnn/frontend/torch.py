"""``to_ir``: turn a trained lutnn model (an ``nn.Sequential``) into a :class:`Netlist`.

Supported blocks, in any order the models use them: an input encoder (first), ``Flatten``,
:class:`~lutnn.nn.binary.BinaryLinear` with binary weights (-> :class:`ThresholdLayer`, BN +
sign folded into integer thresholds), :class:`~lutnn.nn.lut.LUTLayer` (-> :class:`LutLayer`),
:class:`~lutnn.nn.conv.LoweredConv2d` around either of them (-> :class:`~lutnn.ir.LutConv` or
:class:`~lutnn.ir.XnorConv`, tables shared across positions, padding read as bit 0),
:class:`~lutnn.nn.binary.BinaryMaxPool2d` (-> :class:`~lutnn.ir.OrPool`) and a final
:class:`~lutnn.nn.binary.GroupSum` (-> :class:`GroupSumHead`).  Anything else is a user error
naming the block.  :data:`BLOCKS` holds one converter per module type (looked up along the
module's class hierarchy); adding a block type is one ``@BLOCKS.register`` entry.

The conversion builds the spatial form only (:mod:`lutnn.frontend.spatial`; an
:class:`~lutnn.ir.ImageFlatten` where the image ends).  The flat form, one node per output
bit, is the declared ``lower_spatial`` pass of it (:data:`lutnn.ir.passes.flow.LOWER_SPATIAL`,
the one place the unrolling is written): ``to_ir(..., spatial=False)``, the default, runs it.

The IR is an artifact built *from* the model; the model is not changed.  Images flow as
channel-major flat bit vectors (index ``c*H*W + h*W + w``), the order ``nn.Flatten`` uses.
A :class:`~lutnn.data.encodings.FeatureThermometer` (tabular features, or a per-pixel
distributive thermometer) becomes a :class:`~lutnn.ir.FeatureEncoder`; a table of F features
has ``input_shape`` ``(F,)`` and its encoder writes flat bits ``f*T + t``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from lutnn.data.encodings import BitplaneEncoder as TorchBitplanes
from lutnn.data.encodings import ComparatorEncoder, FeatureThermometer
from lutnn.errors import LutnnError
from lutnn.frontend.spatial import conv_node, lut_arrays, pool_node, xnor_arrays
from lutnn.ir.dispatch import NodeTable
from lutnn.ir.layers import (
    BitLayer,
    BitplaneEncoder,
    FeatureEncoder,
    GroupSumHead,
    InputEncoder,
    LutLayer,
    Netlist,
    ThresholdLayer,
)
from lutnn.ir.passes.flow import LOWER_SPATIAL, run_flow
from lutnn.ir.spatial import IMAGE_NODES, ImageFlatten
from lutnn.nn.binary import BinaryLinear, BinaryMaxPool2d, GroupSum
from lutnn.nn.conv import LoweredConv2d
from lutnn.nn.lut import LUTLayer

SUPPORTED = "encoder, Flatten, BinaryLinear, LUTLayer, LoweredConv2d, BinaryMaxPool2d, GroupSum"


@dataclass
class _Walk:
    """What the conversion knows before block ``index``: the image ``shape`` (None once the
    bits are a flat vector), the bit ``width``, and the nodes built so far."""

    shape: tuple[int, ...] | None
    width: int | None
    index: int = 0
    encoder: InputEncoder | FeatureEncoder | BitplaneEncoder | None = None
    layers: list[BitLayer] = field(default_factory=list)
    head: GroupSumHead | None = None

    def add(self, layer: BitLayer) -> None:
        """Append ``layer``; the bits are then its output (an image after a conv or pool)."""
        self.layers.append(layer)
        self.width = layer.out_width
        self.shape = layer.out_shape if isinstance(layer, IMAGE_NODES) else None

    def image(self, module: nn.Module) -> tuple[int, int, int]:
        """The image shape a conv or pool reads."""
        if self.shape is None:
            raise LutnnError(f"block {self.index} ({type(module).__name__}) needs an image input")
        return self.shape

    def flat(self) -> int:
        """The width a flat reader (Flatten, a dense layer, the head) reads, after an
        :class:`ImageFlatten` that ends an image node's image."""
        if self.layers and isinstance(self.layers[-1], IMAGE_NODES):
            self.layers.append(ImageFlatten(f"l{self.index}_flatten", *self.layers[-1].out_shape))
        if self.width is None:
            raise LutnnError("pass input_shape or input_bits so the input width is known")
        return self.width


#: one converter per module type: ``convert(module, walk, name)`` updates the walk
BLOCKS = NodeTable("frontend.torch")


def _converter(module: nn.Module, index: int) -> Callable[[nn.Module, _Walk, str], None]:
    """The entry of the nearest class of ``module`` that :data:`BLOCKS` handles."""
    handled = BLOCKS.node_types
    for cls in type(module).__mro__:
        if cls in handled:
            return BLOCKS.lookup(cls)
    raise LutnnError(f"block {index} ({type(module).__name__}) is not supported by the IR; "
                     f"supported: {SUPPORTED}")


@BLOCKS.register(ComparatorEncoder)
def _comparator_encoder(module: ComparatorEncoder, walk: _Walk, name: str) -> None:
    if walk.index != 0 or walk.shape is None:
        raise LutnnError("the input encoder must be the first block, with input_shape")
    c, h, w = walk.shape
    thresholds = np.asarray(module.threshold_values(), dtype=np.int16)
    walk.encoder = InputEncoder(name="encoder", channels=c, pixels=c * h * w,
                                thresholds=thresholds)
    walk.shape = (c * walk.encoder.levels, h, w)
    walk.width = walk.encoder.out_width


@BLOCKS.register(TorchBitplanes)
def _bitplane_encoder(module: TorchBitplanes, walk: _Walk, name: str) -> None:
    if walk.index != 0 or walk.shape is None or len(walk.shape) != 3:
        raise LutnnError("the bit-plane encoder must be the first block, with an image "
                         "input_shape (C, H, W)")
    c, h, w = walk.shape
    walk.encoder = BitplaneEncoder(name="encoder", channels=c, pixels=c * h * w,
                                   planes=module.planes)
    walk.shape = (c * module.planes, h, w)
    walk.width = walk.encoder.out_width


@BLOCKS.register(FeatureThermometer)
def _feature_encoder(module: FeatureThermometer, walk: _Walk, name: str) -> None:
    """A fitted thermometer as its IR node (the same integers: thresholds, and the float64
    scale and offset of its fixed-point mapping)."""
    if walk.index != 0 or walk.shape is None or tuple(walk.shape) != module.input_shape:
        raise LutnnError("the input encoder must be the first block, with input_shape "
                         "equal to the encoder's")
    walk.encoder = FeatureEncoder(
        name="encoder", channels=module.channels, features=module.features, width=module.width,
        thresholds=module.thresholds.detach().cpu().numpy().astype(np.int32),
        scale=module.scale.detach().cpu().numpy().astype(np.float64),
        offset=module.offset.detach().cpu().numpy().astype(np.float64),
    )
    walk.width = walk.encoder.out_width
    walk.shape = (None if module.tabular
                  else (walk.shape[0] * walk.encoder.levels, *walk.shape[1:]))


@BLOCKS.register(nn.Flatten)
def _flatten(module: nn.Flatten, walk: _Walk, name: str) -> None:
    walk.flat()
    walk.shape = None


@BLOCKS.register(LoweredConv2d)
def _conv(module: LoweredConv2d, walk: _Walk, name: str) -> None:
    shape = walk.image(module)
    if not isinstance(module.inner, (BinaryLinear, LUTLayer)):
        raise LutnnError(f"block {walk.index}: LoweredConv2d with inner "
                         f"{type(module.inner).__name__} is not supported; use BinaryLinear "
                         "or LUTLayer")
    walk.add(conv_node(name, module, shape))


@BLOCKS.register(BinaryMaxPool2d)
def _pool(module: BinaryMaxPool2d, walk: _Walk, name: str) -> None:
    walk.add(pool_node(name, module, walk.image(module)))


@BLOCKS.register(BinaryLinear)
def _binary_linear(module: BinaryLinear, walk: _Walk, name: str) -> None:
    """XNOR rows reading the whole vector; neuron ``o`` of group ``g`` reads its group's
    inputs ``g*F/groups ..``."""
    width = walk.flat()
    weights, thresholds, invert = xnor_arrays(name, module)
    out, per_group = weights.shape
    group = np.arange(out) // (out // module.groups)
    inputs = (group[:, None] * per_group + np.arange(per_group)[None, :]).astype(np.int32)
    walk.add(ThresholdLayer(name=name, in_width=width, inputs=inputs, weights=weights,
                            thresholds=thresholds, invert=invert))


@BLOCKS.register(LUTLayer)
def _lut_layer(module: LUTLayer, walk: _Walk, name: str) -> None:
    width = walk.flat()
    inputs, tables = lut_arrays(name, module)
    walk.add(LutLayer(name=name, in_width=width, inputs=inputs, tables=tables))


@BLOCKS.register(GroupSum)
def _group_sum(module: GroupSum, walk: _Walk, name: str) -> None:
    walk.head = GroupSumHead(name="head", in_width=walk.flat(), num_classes=module.num_classes)


def _walk(model: nn.Module, input_shape: tuple[int, ...] | None,
          input_bits: int | None) -> _Walk:
    """Every block of ``model`` through its :data:`BLOCKS` entry, in order."""
    modules = list(model) if isinstance(model, nn.Sequential) else [model]
    shape = tuple(input_shape) if input_shape else None
    width = input_bits
    if shape is not None and width is None:
        width = int(np.prod(shape))
    walk = _Walk(shape, width)
    for i, module in enumerate(modules):
        walk.index = i
        if walk.head is not None:
            raise LutnnError(f"block {i} ({type(module).__name__}) follows the class head")
        _converter(module, i)(module, walk, f"l{i}_{type(module).__name__.lower()}")
        if walk.width is None:
            raise LutnnError("pass input_shape or input_bits so the input width is known")
    return walk


def to_ir(model: nn.Sequential, input_shape: tuple[int, ...] | None = None,
          *, input_bits: int | None = None, meta: dict | None = None,
          spatial: bool = False) -> Netlist:
    """Convert a trained model to a validated :class:`Netlist`.

    Args:
        model: an ``nn.Sequential`` of supported blocks (see the module docstring).
        input_shape: (C, H, W) of the images when the model starts with an encoder (or with
            a convolution on bits); ``(F,)`` for a table of F features.
        input_bits: width of the input bit vector when the model starts with a dense layer.
        meta: provenance stored in the netlist.
        spatial: return the spatial form the conversion builds (convolutions and pools as
            :mod:`lutnn.ir.spatial` nodes, an ``ImageFlatten`` where the image ends).  False
            (the default, kept for the callers that want the flat form): that netlist after
            the declared ``lower_spatial`` pass, one node per output bit.

    Raises:
        LutnnError: an unsupported block (named, with its position), or real-valued weights.
    """
    walk = _walk(model, input_shape, input_bits)
    first_width = (walk.encoder.out_width if walk.encoder
                   else walk.layers[0].in_width if walk.layers else walk.width)
    netlist = Netlist(input_bits=first_width, layers=tuple(walk.layers), encoder=walk.encoder,
                      head=walk.head, meta=dict(meta or {}))
    netlist.validate()
    return netlist if spatial else run_flow(netlist, (LOWER_SPATIAL,))
