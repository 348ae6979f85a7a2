"""``to_ir``: turn a trained lutnn model (an ``nn.Sequential``) into a :class:`Netlist`.

Supported blocks, in any order the models use them: an input encoder (first), ``Flatten``,
:class:`~lutnn.nn.binary.BinaryLinear` with binary weights (-> :class:`ThresholdLayer`, BN +
sign folded into integer thresholds), :class:`~lutnn.nn.lut.LUTLayer` (-> :class:`LutLayer`),
:class:`~lutnn.nn.conv.LoweredConv2d` around either of them (the im2col windows become input
indices; padding becomes constants folded into thresholds or tables),
:class:`~lutnn.nn.binary.BinaryMaxPool2d` (-> :class:`OrLayer`) and a final
:class:`~lutnn.nn.binary.GroupSum` (-> :class:`GroupSumHead`).  Anything else is a user error
naming the block.

The IR is an artifact built *from* the model; the model is not changed.  Images flow as
channel-major flat bit vectors (index ``c*H*W + h*W + w``), the order ``nn.Flatten`` uses.
A :class:`~lutnn.data.encodings.FeatureThermometer` (tabular features, or a per-pixel
distributive thermometer) becomes a :class:`~lutnn.ir.FeatureEncoder`; a table of F features
has ``input_shape`` ``(F,)`` and its encoder writes flat bits ``f*T + t``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lutnn.errors import LutnnError
from lutnn.frontend.fold import fold_batchnorm_sign
from lutnn.frontend.spatial import conv_node, pool_node
from lutnn.ir.layers import (
    MAX_LUT_K,
    BitLayer,
    FeatureEncoder,
    GroupSumHead,
    InputEncoder,
    LutLayer,
    Netlist,
    OrLayer,
    ThresholdLayer,
)
from lutnn.ir.spatial import IMAGE_NODES, ImageFlatten
from lutnn.nn.binary import BinaryLinear, BinaryMaxPool2d, GroupSum
from lutnn.nn.conv import LoweredConv2d
from lutnn.nn.lut import LUTLayer

PAD = -1  # index of a padded (constant 0) input in a patch map


def patch_indices(conv: LoweredConv2d, height: int, width: int) -> np.ndarray:
    """int64 ``[L, F]``: the flat input index of patch slot ``f`` at output position ``l``.

    Slot order is unfold's (``c*kh*kw + i*kw + j``); positions are row-major over the output;
    padded slots hold :data:`PAD`.
    """
    (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
    image = torch.arange(conv.in_channels * height * width, dtype=torch.float64) + 1
    image = image.reshape(1, conv.in_channels, height, width)
    cols = nn.functional.unfold(image, (kh, kw), padding=(ph, pw), stride=(sh, sw))  # (1, F, L)
    return cols[0].t().numpy().astype(np.int64) - 1  # zero padding -> PAD


def _threshold_rows(
    name: str,
    in_width: int,
    layer: BinaryLinear,
    slot_index: np.ndarray,  # (L, F) flat input index per patch slot (PAD where padded)
) -> ThresholdLayer:
    """XNOR rows for a binary-weight BinaryLinear applied at L positions (L = 1 when dense).

    Output bit order: neuron-major, ``o * L + l`` (channel-major image for a convolution).
    """
    if not layer.binary_weights:
        raise LutnnError(
            f"layer {name!r}: BinaryLinear with real weights cannot export as an XNOR-Net; "
            "train with binary_weights=True or distill it into a LUT-Net first"
        )
    out, per_group = layer.out_features, layer.in_features // layer.groups
    w = torch.where(layer.weight >= 0, 1, -1).numpy().astype(np.int8)  # (out, F/groups)
    group = np.arange(out) // (out // layer.groups)
    slots = group[:, None] * per_group + np.arange(per_group)[None, :]  # (out, F/groups)

    # Threshold per neuron on the full sum s = 2*count_full - F over all F slots (padding
    # included as bit 0): enumerated through the eval BatchNorm, exact by construction.
    bn = layer.bn
    full_t, invert = fold_batchnorm_sign(
        np.full(out, per_group), np.zeros(out), bn.running_mean, bn.running_var,
        bn.weight, bn.bias, bn.eps,
    )
    positions = slot_index.shape[0]
    inputs = slot_index[:, slots]  # (L, out, F/g)
    weights = np.broadcast_to(w, inputs.shape).copy()
    padded = inputs == PAD
    # A padded slot is bit 0; it agrees (XNOR = 1) with weight -1, adding 1 to the full count.
    agree_pad = (padded & (weights < 0)).sum(-1)  # (L, out)
    connected = (~padded).sum(-1)
    weights[padded] = 0
    inputs = np.where(padded, 0, inputs)
    thresholds = np.clip(full_t[None, :] - agree_pad, 0, connected + 1)  # (L, out)
    return ThresholdLayer(
        name=name,
        in_width=in_width,
        inputs=inputs.transpose(1, 0, 2).reshape(out * positions, per_group).astype(np.int32),
        weights=weights.transpose(1, 0, 2).reshape(out * positions, per_group),
        thresholds=thresholds.T.reshape(-1).astype(np.int32),
        invert=np.repeat(invert.astype(bool), positions),
    )


def _restrict_tables(tables: np.ndarray, padded: np.ndarray) -> np.ndarray:
    """Make each table ignore its padded inputs (which are constant 0).

    tables: uint8 (M, 2^k); padded: bool (M, k).  For a padded input j the entries with
    address bit j = 1 are overwritten by their bit-j = 0 twins, so the node's output no longer
    depends on whatever wire the slot is tied to.
    """
    tables = tables.copy()
    k = padded.shape[1]
    addresses = np.arange(2**k)
    for j in range(k):
        rows = np.nonzero(padded[:, j])[0]
        if rows.size:
            high = addresses[(addresses >> j) & 1 == 1]
            tables[np.ix_(rows, high)] = tables[np.ix_(rows, high - (1 << j))]
    return tables


def _lut_rows(name: str, in_width: int, layer: LUTLayer, slot_index: np.ndarray) -> LutLayer:
    """LUT nodes of a LUTLayer applied at L positions; output bit order ``n * L + l``."""
    if layer.k > MAX_LUT_K:
        raise LutnnError(
            f"layer {name!r}: k={layer.k} LUTs cannot be exported: the IR, simulators and "
            f"Verilog hold tables of at most k={MAX_LUT_K} inputs; train with k <= {MAX_LUT_K}"
        )
    wiring = layer.inputs.numpy()  # (N, k) indices into the patch / input vector
    tables = layer.table_bits().numpy().astype(np.uint8)  # (N, 2^k)
    inputs = slot_index[:, wiring]  # (L, N, k)
    positions, n, k = inputs.shape
    padded = (inputs == PAD).transpose(1, 0, 2).reshape(n * positions, k)
    inputs = np.where(inputs == PAD, 0, inputs).transpose(1, 0, 2).reshape(n * positions, k)
    tables = _restrict_tables(np.repeat(tables, positions, axis=0), padded)
    return LutLayer(name=name, in_width=in_width, inputs=inputs.astype(np.int32), tables=tables)


def _pool_rows(name: str, pool: BinaryMaxPool2d, shape: tuple[int, int, int]) -> OrLayer:
    c, h, w = shape
    kh, kw = (pool.kernel_size,) * 2 if isinstance(pool.kernel_size, int) else pool.kernel_size
    stride = pool.stride if pool.stride is not None else pool.kernel_size
    sh, sw = (stride,) * 2 if isinstance(stride, int) else stride
    if pool.padding not in (0, (0, 0)) or pool.dilation not in (1, (1, 1)) or pool.ceil_mode:
        raise LutnnError(f"layer {name!r}: max pooling with padding, dilation or ceil_mode is "
                         "not supported by the IR; use plain kernel/stride pooling")
    image = torch.arange(c * h * w, dtype=torch.float64).reshape(1, c, h, w)
    cols = nn.functional.unfold(image.reshape(c, 1, h, w), (kh, kw), stride=(sh, sw))  # (C,kk,L)
    inputs = cols.permute(0, 2, 1).reshape(-1, kh * kw).numpy().astype(np.int32)
    return OrLayer(name=name, in_width=c * h * w, inputs=inputs)


def _encoder_layer(module: nn.Module, shape: tuple[int, int, int]) -> InputEncoder:
    c, h, w = shape
    thresholds = np.asarray(module.threshold_values(), dtype=np.int16)
    return InputEncoder(name="encoder", channels=c, pixels=c * h * w, thresholds=thresholds)


def _feature_encoder_layer(module: nn.Module) -> FeatureEncoder:
    """A fitted :class:`~lutnn.data.encodings.FeatureThermometer` as its IR node (the same
    integers: thresholds, and the float64 scale and offset of its fixed-point mapping)."""
    return FeatureEncoder(
        name="encoder", channels=module.channels, features=module.features, width=module.width,
        thresholds=module.thresholds.detach().cpu().numpy().astype(np.int32),
        scale=module.scale.detach().cpu().numpy().astype(np.float64),
        offset=module.offset.detach().cpu().numpy().astype(np.float64),
    )


def to_ir(model: nn.Sequential, input_shape: tuple[int, int, int] | None = None,
          *, input_bits: int | None = None, meta: dict | None = None,
          spatial: bool = False) -> Netlist:
    """Convert a trained model to a validated :class:`Netlist`.

    Args:
        model: an ``nn.Sequential`` of supported blocks (see the module docstring).
        input_shape: (C, H, W) of the images when the model starts with an encoder (or with
            a convolution on bits); ``(F,)`` for a table of F features.
        input_bits: width of the input bit vector when the model starts with a dense layer.
        meta: provenance stored in the netlist.
        spatial: emit convolutions and pools as spatial nodes (:mod:`lutnn.ir.spatial`:
            tables shared across positions, :mod:`lutnn.frontend.spatial`) and an
            ``ImageFlatten`` where the image ends, instead of unrolling them;
            ``lower_spatial`` of that netlist is the default one.

    Raises:
        LutnnError: an unsupported block (named, with its position), or real-valued weights.
    """
    from lutnn.data.encodings import ComparatorEncoder, FeatureThermometer

    modules = list(model) if isinstance(model, nn.Sequential) else [model]
    encoder: InputEncoder | FeatureEncoder | None = None
    layers: list[BitLayer] = []
    head: GroupSumHead | None = None
    shape: tuple[int, ...] | None = tuple(input_shape) if input_shape else None
    width = input_bits if input_bits is not None else None
    if shape is not None and width is None:
        width = int(np.prod(shape))

    def end_image(name: str) -> None:  # spatial: a flat reader after an image node
        if spatial and layers and isinstance(layers[-1], IMAGE_NODES):
            layers.append(ImageFlatten(name, *layers[-1].out_shape))

    for i, module in enumerate(modules):
        name = f"l{i}_{type(module).__name__.lower()}"
        if spatial and isinstance(module, (nn.Flatten, BinaryLinear, LUTLayer, GroupSum)):
            end_image(f"l{i}_flatten")
        if head is not None:
            raise LutnnError(f"block {i} ({type(module).__name__}) follows the class head")
        if isinstance(module, ComparatorEncoder):
            if i != 0 or shape is None:
                raise LutnnError("the input encoder must be the first block, with input_shape")
            encoder = _encoder_layer(module, shape)
            shape = (shape[0] * encoder.levels, shape[1], shape[2])
            width = encoder.out_width
        elif isinstance(module, FeatureThermometer):
            if i != 0 or shape is None or tuple(shape) != module.input_shape:
                raise LutnnError("the input encoder must be the first block, with input_shape "
                                 "equal to the encoder's")
            encoder = _feature_encoder_layer(module)
            width = encoder.out_width
            shape = None if module.tabular else (shape[0] * encoder.levels, *shape[1:])
        elif isinstance(module, nn.Flatten):
            shape = None
        elif isinstance(module, LoweredConv2d):
            if shape is None:
                raise LutnnError(f"block {i} (LoweredConv2d) needs an image input")
            c, h, w = shape
            slot_index = patch_indices(module, h, w)
            inner = module.inner
            if spatial:
                layers.append(conv_node(name, module, shape))
            elif isinstance(inner, BinaryLinear):
                layers.append(_threshold_rows(name, width, inner, slot_index))
            elif isinstance(inner, LUTLayer):
                layers.append(_lut_rows(name, width, inner, slot_index))
            else:
                raise LutnnError(
                    f"block {i}: LoweredConv2d with inner {type(inner).__name__} is not "
                    "supported; use BinaryLinear or LUTLayer"
                )
            ho, wo = module.output_shape(h, w)
            shape = (module.out_channels, ho, wo)
            width = module.out_channels * ho * wo
        elif isinstance(module, BinaryMaxPool2d):
            if shape is None:
                raise LutnnError(f"block {i} (BinaryMaxPool2d) needs an image input")
            build_pool = pool_node if spatial else _pool_rows
            layers.append(build_pool(name, module, shape))
            shape = (shape[0], *_pooled(module, shape[1:]))
            width = layers[-1].out_width
        elif isinstance(module, (BinaryLinear, LUTLayer)):
            dense = np.arange(width)[None, :]  # one position reading the whole vector
            build = _threshold_rows if isinstance(module, BinaryLinear) else _lut_rows
            layers.append(build(name, width, module, dense))
            width, shape = layers[-1].out_width, None
        elif isinstance(module, GroupSum):
            head = GroupSumHead(name="head", in_width=width, num_classes=module.num_classes)
        else:
            raise LutnnError(
                f"block {i} ({type(module).__name__}) is not supported by the IR; supported: "
                "encoder, Flatten, BinaryLinear, LUTLayer, LoweredConv2d, BinaryMaxPool2d, GroupSum"
            )
        if width is None:
            raise LutnnError("pass input_shape or input_bits so the input width is known")

    first_width = encoder.out_width if encoder else (layers[0].in_width if layers else width)
    netlist = Netlist(input_bits=first_width, layers=tuple(layers), encoder=encoder, head=head,
                      meta=dict(meta or {}))
    netlist.validate()
    return netlist


def _pooled(pool: BinaryMaxPool2d, hw: tuple[int, int]) -> tuple[int, int]:
    k = pool.kernel_size if isinstance(pool.kernel_size, int) else pool.kernel_size[0]
    s = pool.stride if pool.stride is not None else k
    s = s if isinstance(s, int) else s[0]
    return tuple((d - k) // s + 1 for d in hw)
