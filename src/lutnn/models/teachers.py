"""The binary teachers: ``teacher-mlp``, ``teacher-cnn`` and ``teacher-mobilenet``, their
configs and builders (and the MobileNet's fan-in limits and neuron trees)."""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

from torch import nn

from lutnn.errors import LutnnError
from lutnn.models._shared import _conv, _count, _encoder, _encoder_bits, _image_only, _input_encoder
from lutnn.nn.binary import BinaryLinear, BinaryMaxPool2d, GroupSum, get_quantizer
from lutnn.nn.conv import LoweredConv2d


@dataclass(frozen=True)
class MLPConfig:
    """A binary MLP teacher: encoder -> BinaryLinear x len(hidden) -> BinaryLinear -> GroupSum."""

    encoder: str = "thermometer"  # "threshold" (1 bit/pixel), "thermometer", "distributive"
    levels: int = 3  # thermometer levels T (bits per pixel); ignored for "threshold"
    width: int = 8  # bits of a tabular feature in hardware (fixed point); images are 8-bit
    hidden: tuple[int, ...] = (1024, 1024)  # widths of the hidden binary layers
    group_size: int = 100  # output bits per class; class score = popcount of its group
    binary_weights: bool = True  # sign(W) in the forward pass (XNOR-Net); False: real weights
    tau: float = 10.0  # softmax temperature on the popcount scores (training only)


@dataclass(frozen=True)
class CNNConfig:
    """A binary CNN teacher on lowered convolutions: [conv3x3 -> pool2] x n -> MLP -> GroupSum."""

    encoder: str = "thermometer"  # input encoding: "threshold" or "thermometer"
    levels: int = 2  # thermometer levels T
    channels: tuple[int, ...] = (32, 64)  # output channels of each 3x3 conv (each then pooled 2x2)
    hidden: tuple[int, ...] = (512,)  # widths of the dense binary layers after the convolutions
    group_size: int = 50  # output bits per class
    binary_weights: bool = True  # XNOR-Net weights (sign) or real weights
    tau: float = 5.0  # softmax temperature on the popcount scores (training only)


@dataclass(frozen=True)
class MobileNetConfig:
    """A MobileNet-like teacher: full 3x3 conv, then [depthwise 3x3 + pointwise 1x1 -> pool].

    Depthwise layers read one channel's 3x3 window per neuron (fan-in 9); pointwise layers
    read all channels at one pixel (fan-in C): fewer connections per neuron than a full conv.
    """

    encoder: str = "thermometer"  # input encoding: "threshold" or "thermometer"
    levels: int = 2  # thermometer levels T
    stem_channels: int = 32  # output channels of the first (full) 3x3 conv, then downsampled
    channels: tuple[int, ...] = (64,)  # pointwise output channels of each dw+pw block
    hidden: tuple[int, ...] = (512,)  # widths of the dense binary layers
    group_size: int = 50  # output bits per class
    binary_weights: bool = True  # XNOR-Net weights (sign) or real weights
    tau: float = 5.0  # softmax temperature on the popcount scores (training only)
    # how the stem and each block halve the image: "pool" (OR of 2x2 bits after it) or
    # "stride" (the stem and the depthwise 3x3 convs step 2 pixels)
    downsample: str = "pool"
    # which of the stem and blocks downsample, one 0/1 per layer (stem first); () = all
    halve: tuple[int, ...] = dataclasses.field(default=(), metadata={"min": 0})
    depth_multiplier: int = 1  # 3x3 filters per channel in each depthwise conv (MobileNet's m)
    # inputs each neuron reads (0: all), at random or learned (prune_epochs): a teacher a
    # tree of 6 LUT6 (36 inputs) can copy exactly; the depthwise (fan-in 9) and stem
    # (9 x levels) are rarely above it
    max_fan_in: int = _count(0)
    # 0: off; 2..6: each pointwise and dense neuron (the head's too) is a two-level tree of
    # binary neurons, ``tree_width`` of them each connected to 6 inputs (random or learned,
    # prune_epochs), then one reading those: every neuron has at most 6 inputs, so a LUT6
    # student copies each one (max_fan_in still applies to the stem and the depthwise convs)
    tree_width: int = _count(0)
    # 0: off; 2..6: each stem and depthwise neuron is a two-level tree too: ``window_tree``
    # binary neurons connected to 6 inputs of its 3x3 window (random or learned), then one
    # reading those (where max_fan_in 6 lets a window neuron read only 6 of its 9 x channels)
    window_tree: int = _count(0)
    # 0: the limited fan-ins above are drawn at random when the model is built; P > 0: they
    # are learned, every input connected at first and the smallest |W| cut after each of the
    # first P epochs, down to the limit from epoch P on (BinaryLinear.end_epoch)
    prune_epochs: int = _count(0)
    # 0: off; H > 0: every tree neuron of the dense layers and the head (tree_width) adds an
    # MLP of H ReLUs over its <= 6 inputs (BinaryLinear's neuron_hidden): any function of
    # them rather than a threshold one, still one LUT6 in the student
    neuron_hidden: int = _count(0)
    # where neuron_hidden applies: "dense" (the dense layers and head) or "all" (also the
    # stem, depthwise and pointwise neurons: needs max_fan_in <= 6 and tree_width)
    neuron_hidden_scope: str = "dense"
    # where max_fan_in and tree_width apply: "all", "conv" (the stem, depthwise and
    # pointwise layers) or "dense" (the dense layers and head); the others read every input.
    # A diagnostic (which part of a tree teacher costs accuracy): only "all" copies exactly
    limit_scope: str = "all"
    # the binary activation's backward (lutnn.nn.binary.QUANTIZERS): "clipped_ste" passes the
    # gradient where |x| <= 1, "ste" everywhere
    activation: str = "clipped_ste"


#: inputs of each first-level neuron of a ``tree_width`` teacher (one LUT6)
TREE_FAN_IN = 6


def _dense_stack(widths: list[int], binary_weights: bool) -> list[nn.Module]:
    return [
        BinaryLinear(w_in, w_out, binary_weights=binary_weights)
        for w_in, w_out in zip(widths[:-1], widths[1:], strict=True)
    ]


def build_mlp(cfg: MLPConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Sequential:
    in_bits = math.prod(input_shape) * _encoder_bits(cfg.encoder, cfg.levels)
    widths = [in_bits, *cfg.hidden, num_classes * cfg.group_size]
    return nn.Sequential(
        _input_encoder(cfg, input_shape),
        nn.Flatten(),
        *_dense_stack(widths, cfg.binary_weights),
        GroupSum(num_classes, cfg.tau),
    )


def build_cnn(cfg: CNNConfig, input_shape: tuple[int, int, int], num_classes: int) -> nn.Sequential:
    c, h, w = _image_only("teacher-cnn", input_shape)
    c = c * _encoder_bits(cfg.encoder, cfg.levels)
    layers: list[nn.Module] = [_encoder(cfg.encoder, cfg.levels)]
    for c_out in cfg.channels:
        inner = BinaryLinear(c * 9, c_out, binary_weights=cfg.binary_weights)
        layers += [_conv(c, c_out, 3, inner), BinaryMaxPool2d(2)]
        c, h, w = c_out, h // 2, w // 2
    widths = [c * h * w, *cfg.hidden, num_classes * cfg.group_size]
    layers += [nn.Flatten(), *_dense_stack(widths, cfg.binary_weights)]
    return nn.Sequential(*layers, GroupSum(num_classes, cfg.tau))


def _halvings(cfg: MobileNetConfig) -> tuple[int, ...]:
    """One 0/1 per layer (stem, then each block): whether it halves the image."""
    if cfg.downsample not in ("pool", "stride"):
        raise LutnnError(f"teacher-mobilenet: downsample must be 'pool' or 'stride', "
                         f"got {cfg.downsample!r}")
    layers = 1 + len(cfg.channels)
    halve = cfg.halve or (1,) * layers
    if len(halve) != layers or any(v not in (0, 1) for v in halve):
        raise LutnnError(f"teacher-mobilenet: halve needs one 0 or 1 per layer (the stem, then "
                         f"{len(cfg.channels)} block(s)): {layers} values, got {list(halve)}")
    return tuple(halve)


def _output_size(layers: list[nn.Module], size: tuple[int, int]) -> tuple[int, int]:
    """The image size after ``layers`` (convolutions and 2x2 pools) from ``size``."""
    h, w = size
    for layer in layers:
        if isinstance(layer, LoweredConv2d):
            h, w = layer.output_shape(h, w)
        elif isinstance(layer, BinaryMaxPool2d):
            h, w = h // 2, w // 2
    return h, w


def _part_limits(cfg: MobileNetConfig) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """``(max_fan_in, tree_width, neuron_hidden)`` of the convolutions and of the dense tail
    (``limit_scope``, ``neuron_hidden_scope``); refuses settings that contradict each other."""
    fan, tree, window = cfg.max_fan_in, cfg.tree_width, cfg.window_tree
    if tree and not 2 <= tree <= TREE_FAN_IN:
        raise LutnnError(f"teacher-mobilenet: tree_width must be 0 (off) or 2..{TREE_FAN_IN} "
                         f"(the second level reads that many neurons), got {tree}")
    if cfg.prune_epochs and not (fan or tree or window):
        raise LutnnError("teacher-mobilenet: prune_epochs learns which inputs a limited fan-in "
                         "keeps; set max_fan_in, tree_width or window_tree too, or "
                         "prune_epochs 0")
    if cfg.limit_scope not in ("all", "conv", "dense"):
        raise LutnnError(f"teacher-mobilenet: limit_scope must be 'all', 'conv' or 'dense', "
                         f"got {cfg.limit_scope!r}")
    conv_fan, conv_tree = (fan, tree) if cfg.limit_scope != "dense" else (0, 0)
    dense_fan, dense_tree = (fan, tree) if cfg.limit_scope != "conv" else (0, 0)
    hidden = cfg.neuron_hidden
    if cfg.neuron_hidden_scope not in ("dense", "all"):
        raise LutnnError(f"teacher-mobilenet: neuron_hidden_scope must be 'dense' or 'all', "
                         f"got {cfg.neuron_hidden_scope!r}")
    if hidden and not dense_tree:
        raise LutnnError("teacher-mobilenet: neuron_hidden gives tree neurons (<= 6 inputs) "
                         "an MLP; set tree_width too (limit_scope 'all'), or neuron_hidden 0")
    conv_hidden = hidden if cfg.neuron_hidden_scope == "all" else 0
    get_quantizer(cfg.activation)  # an unknown name is refused here, with the known ones
    if conv_hidden and not (window or 0 < conv_fan <= TREE_FAN_IN):
        raise LutnnError(f"teacher-mobilenet: neuron_hidden_scope 'all' gives the stem and "
                         f"depthwise neurons an MLP too; set max_fan_in 1..{TREE_FAN_IN} or "
                         f"window_tree")
    if window and not 2 <= window <= TREE_FAN_IN:
        raise LutnnError(f"teacher-mobilenet: window_tree must be 0 (off) or 2..{TREE_FAN_IN} "
                         f"(the second level reads that many neurons), got {window}")
    return (conv_fan, conv_tree, conv_hidden), (dense_fan, dense_tree, hidden)


def build_mobilenet(
    cfg: MobileNetConfig, input_shape: tuple[int, int, int], num_classes: int
) -> nn.Sequential:
    c, h, w = _image_only("teacher-mobilenet", input_shape)
    c = c * _encoder_bits(cfg.encoder, cfg.levels)
    bw = cfg.binary_weights
    halve = _halvings(cfg)
    stride = 2 if cfg.downsample == "stride" else 1
    pool = [BinaryMaxPool2d(2)] if cfg.downsample == "pool" else []

    def conv3x3(c_in: int, c_out: int, inner: nn.Module, halves: bool) -> list[nn.Module]:
        conv = LoweredConv2d(c_in, c_out, 3, inner, stride=stride if halves else 1, padding=1)
        return [conv]

    window, prune = cfg.window_tree, cfg.prune_epochs
    (conv_fan, conv_tree, conv_hidden), (dense_fan, dense_tree, dense_hidden) = _part_limits(cfg)
    binary = functools.partial(BinaryLinear, quantizer=cfg.activation)  # a window neuron

    def window_conv(c_in: int, c_out: int, groups: int, halves: bool) -> list[nn.Module]:
        """A 3x3 conv of ``c_out`` neurons (``groups``: depthwise); with ``window_tree`` W,
        ``c_out * W`` neurons of 6 inputs, then a 1x1 conv whose neuron ``o`` reads
        neurons ``o * W .. o * W + W - 1``."""
        if not window:
            inner = binary(c_in * 9, c_out, groups=groups, binary_weights=bw,
                           max_fan_in=conv_fan, prune_epochs=prune, neuron_hidden=conv_hidden)
            return conv3x3(c_in, c_out, inner, halves)
        first = binary(c_in * 9, c_out * window, groups=groups, binary_weights=bw,
                       max_fan_in=TREE_FAN_IN, prune_epochs=prune, neuron_hidden=conv_hidden)
        second = binary(c_out * window, c_out, groups=c_out, binary_weights=bw,
                        neuron_hidden=conv_hidden)
        return [*conv3x3(c_in, c_out * window, first, halves), _conv(c_out * window, c_out, 1,
                                                                      second)]

    layers: list[nn.Module] = [_encoder(cfg.encoder, cfg.levels)]
    layers += window_conv(c, cfg.stem_channels, 1, halve[0])
    layers += pool if halve[0] else []
    c = cfg.stem_channels
    m = cfg.depth_multiplier
    for c_out, halves in zip(cfg.channels, halve[1:], strict=True):
        # m 3x3 filters per channel (output n reads channel n // m), then 1x1 across them
        layers += window_conv(c, c * m, c, halves)
        layers += [_conv(lin.in_features, lin.out_features, 1, lin)
                   for lin in _neuron_layer(c * m, c_out, bw, conv_fan, conv_tree, prune,
                                            conv_hidden, cfg.activation)]
        layers += pool if halves else []
        c = c_out
    h, w = _output_size(layers, (h, w))
    widths = [c * h * w, *cfg.hidden, num_classes * cfg.group_size]
    layers.append(nn.Flatten())
    for w_in, w_out in zip(widths[:-1], widths[1:], strict=True):
        layers += _neuron_layer(w_in, w_out, bw, dense_fan, dense_tree, prune, dense_hidden,
                                cfg.activation)
    return nn.Sequential(*layers, GroupSum(num_classes, cfg.tau))


def _neuron_layer(n_in: int, n_out: int, binary_weights: bool, max_fan_in: int,
                  tree: int, prune_epochs: int = 0, hidden: int = 0,
                  quantizer: str = "clipped_ste") -> list[BinaryLinear]:
    """``n_out`` binary neurons over ``n_in`` inputs: one BinaryLinear, or with ``tree`` two:
    ``n_out * tree`` neurons connected to ``TREE_FAN_IN`` inputs each (random, or learned
    with ``prune_epochs``), then ``n_out`` neurons, neuron ``o`` reading first-level neurons
    ``o * tree .. o * tree + tree - 1`` (``groups = n_out``); ``hidden``: both levels'
    neurons carry an MLP of that many ReLUs (``neuron_hidden``); ``quantizer``: their binary
    activation's gradient."""
    if not tree:
        return [BinaryLinear(n_in, n_out, binary_weights=binary_weights, max_fan_in=max_fan_in,
                             prune_epochs=prune_epochs, quantizer=quantizer)]
    return [
        BinaryLinear(n_in, n_out * tree, binary_weights=binary_weights, max_fan_in=TREE_FAN_IN,
                     prune_epochs=prune_epochs, neuron_hidden=hidden, quantizer=quantizer),
        BinaryLinear(n_out * tree, n_out, groups=n_out, binary_weights=binary_weights,
                     neuron_hidden=hidden, quantizer=quantizer),
    ]
