"""Model configurations (typed dataclasses) and builders, found through :data:`MODELS`.

Every model is an ``nn.Sequential``: an input encoder (pixels 0..255 -> bits), binary layers
reading and writing bits, and a :class:`~lutnn.nn.binary.GroupSum` class head.  Keeping the
models flat and made of a few known blocks is what lets distillation and ``to_ir`` walk them.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lutnn.errors import LutnnError
from lutnn.nn.binary import BinaryLinear, BinaryMaxPool2d, GroupSum
from lutnn.nn.conv import LoweredConv2d
from lutnn.nn.lut import LUTLayer
from lutnn.student import build_student


def _count(default: int) -> int:
    """A config int that may be 0 (other int fields must be positive)."""
    return dataclasses.field(default=default, metadata={"min": 0})


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


#: inputs of each first-level neuron of a ``tree_width`` teacher (one LUT6)
TREE_FAN_IN = 6


def _encoder(name: str, levels: int) -> nn.Module:
    from lutnn.data.encodings import FEATURE_ENCODERS, get_encoder

    if name in FEATURE_ENCODERS:
        raise LutnnError(f"encoder {name!r} is available for teacher-mlp and lut-mlp")
    return get_encoder(name) if name == "threshold" else get_encoder(name, levels=levels)


def _input_encoder(cfg, input_shape: tuple[int, ...]) -> nn.Module:
    """The MLPs' encoder: on a table (``input_shape`` ``(F,)``) "threshold" / "thermometer"
    are uniform thresholds over each feature's training range (1 / ``levels`` of them);
    "distributive" puts them at training-set quantiles (tables and images)."""
    from lutnn.data.encodings import FEATURE_ENCODERS, get_encoder

    name, levels, snap = cfg.encoder, cfg.levels, getattr(cfg, "snap", 0)
    if len(input_shape) == 1 and name == "bitplanes":
        raise LutnnError("encoder 'bitplanes' takes the top bits of 8-bit pixels; a table's "
                         "features need 'threshold', 'thermometer' or 'distributive'")
    if len(input_shape) == 1 and name in ("threshold", "thermometer"):
        name, levels = "uniform", 1 if name == "threshold" else levels
    if name not in FEATURE_ENCODERS:
        if snap:
            raise LutnnError(f"snap applies to the fitted encoders ({', '.join(FEATURE_ENCODERS)})"
                             f" and tables; encoder {cfg.encoder!r} has fixed thresholds")
        return _encoder(name, levels)
    width = cfg.width if len(input_shape) == 1 else None
    return get_encoder(name, input_shape=tuple(input_shape), levels=levels, width=width,
                       snap=snap)


def _image_only(model: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise LutnnError(f"{model} is an image model and needs [C, H, W] images; this data is "
                         f"a table of {input_shape[0]} features: use teacher-mlp or lut-mlp")
    return tuple(input_shape)


def _encoder_bits(name: str, levels: int) -> int:
    return 1 if name == "threshold" else levels


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


def _conv(c_in: int, c_out: int, kernel: int, inner: nn.Module) -> LoweredConv2d:
    return LoweredConv2d(c_in, c_out, kernel, inner, padding=kernel // 2)


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

    fan, tree, prune = cfg.max_fan_in, cfg.tree_width, cfg.prune_epochs
    if tree and not 2 <= tree <= TREE_FAN_IN:
        raise LutnnError(f"teacher-mobilenet: tree_width must be 0 (off) or 2..{TREE_FAN_IN} "
                         f"(the second level reads that many neurons), got {tree}")
    if prune and not (fan or tree or cfg.window_tree):
        raise LutnnError("teacher-mobilenet: prune_epochs learns which inputs a limited fan-in "
                         "keeps; set max_fan_in, tree_width or window_tree too, or "
                         "prune_epochs 0")
    window = cfg.window_tree
    if window and not 2 <= window <= TREE_FAN_IN:
        raise LutnnError(f"teacher-mobilenet: window_tree must be 0 (off) or 2..{TREE_FAN_IN} "
                         f"(the second level reads that many neurons), got {window}")

    def window_conv(c_in: int, c_out: int, groups: int, halves: bool) -> list[nn.Module]:
        """A 3x3 conv of ``c_out`` neurons (``groups``: depthwise); with ``window_tree`` W,
        ``c_out * W`` neurons of 6 inputs, then a 1x1 conv whose neuron ``o`` reads
        neurons ``o * W .. o * W + W - 1``."""
        if not window:
            inner = BinaryLinear(c_in * 9, c_out, groups=groups, binary_weights=bw,
                                 max_fan_in=fan, prune_epochs=prune)
            return conv3x3(c_in, c_out, inner, halves)
        first = BinaryLinear(c_in * 9, c_out * window, groups=groups, binary_weights=bw,
                             max_fan_in=TREE_FAN_IN, prune_epochs=prune)
        second = BinaryLinear(c_out * window, c_out, groups=c_out, binary_weights=bw)
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
                   for lin in _neuron_layer(c * m, c_out, bw, fan, tree, prune)]
        layers += pool if halves else []
        c = c_out
    h, w = _output_size(layers, (h, w))
    widths = [c * h * w, *cfg.hidden, num_classes * cfg.group_size]
    layers.append(nn.Flatten())
    for w_in, w_out in zip(widths[:-1], widths[1:], strict=True):
        layers += _neuron_layer(w_in, w_out, bw, fan, tree, prune)
    return nn.Sequential(*layers, GroupSum(num_classes, cfg.tau))


def _neuron_layer(n_in: int, n_out: int, binary_weights: bool, max_fan_in: int,
                  tree: int, prune_epochs: int = 0) -> list[BinaryLinear]:
    """``n_out`` binary neurons over ``n_in`` inputs: one BinaryLinear, or with ``tree`` two:
    ``n_out * tree`` neurons connected to ``TREE_FAN_IN`` inputs each (random, or learned
    with ``prune_epochs``), then ``n_out`` neurons, neuron ``o`` reading first-level neurons
    ``o * tree .. o * tree + tree - 1`` (``groups = n_out``)."""
    if not tree:
        return [BinaryLinear(n_in, n_out, binary_weights=binary_weights, max_fan_in=max_fan_in,
                             prune_epochs=prune_epochs)]
    return [
        BinaryLinear(n_in, n_out * tree, binary_weights=binary_weights, max_fan_in=TREE_FAN_IN,
                     prune_epochs=prune_epochs),
        BinaryLinear(n_out * tree, n_out, groups=n_out, binary_weights=binary_weights),
    ]


@dataclass(frozen=True)
class LUTMLPConfig:
    """A LUT-Net MLP: encoder -> LUTLayer x len(layers) (random wiring) -> GroupSum."""

    # "threshold", "thermometer", "distributive" (quantiles) or "bitplanes" (images: each
    # pixel's top `levels` bits, wires in hardware)
    encoder: str = "thermometer"
    levels: int = 3  # thermometer levels T (bit planes B with "bitplanes")
    width: int = 8  # bits of a tabular feature in hardware (fixed point); images are 8-bit
    snap: int = _count(0)  # fitted encoders, tables: low threshold bits forced to 0 (cheaper)
    layers: tuple[int, ...] = (3000, 1000)  # LUT nodes per layer; the last feeds the head
    k: int = 6  # inputs per LUT
    bn: bool = False  # BatchNorm on LUT pre-activations (folded into the tables at export)
    tau: float = 3.33  # softmax temperature on the popcounts (training only): ~ group size / 30
    learned_wiring: int = _count(0)  # how many leading layers learn their wiring (DWN: first)
    candidates: int = _count(0)  # inputs each learned slot chooses from; 0 = all its inputs
    input_grad: str = "exact"  # LUT input gradient: "exact" slope or "efd" (DWN's EFD)
    # tables' init, bound and STE (lutnn.nn.lut.TABLE_RULES): "clipped" (lutnn's) or "dwn"
    table_rule: str = "clipped"


@dataclass(frozen=True)
class LUTCNNConfig:
    """A LUT-Net CNN: [lowered 3x3 conv with a LUT layer inside -> pool 2x2] x n -> LUT MLP."""

    encoder: str = "thermometer"  # input encoding: "threshold" or "thermometer"
    levels: int = 2  # thermometer levels T
    channels: tuple[int, ...] = (16, 32)  # LUT nodes (output channels) per conv position
    layers: tuple[int, ...] = (1000,)  # dense LUT layers after the convolutions
    group_size: int = 50  # bits per class: the last dense layer is num_classes * group_size
    k: int = 6  # inputs per LUT
    tau: float = 1.67  # softmax temperature on the popcounts (training only): ~ group size / 30


def build_lut_mlp(
    cfg: LUTMLPConfig, input_shape: tuple[int, ...], num_classes: int
) -> nn.Sequential:
    widths = [math.prod(input_shape) * _encoder_bits(cfg.encoder, cfg.levels), *cfg.layers]
    if widths[-1] % num_classes:
        raise LutnnError(f"the last LUT layer ({widths[-1]}) must be a multiple of the "
                         f"{num_classes} classes")
    luts = [
        LUTLayer(
            w_in, w_out, cfg.k, wiring="random", seed=i, bn=cfg.bn,
            learn_wiring=i < cfg.learned_wiring, candidates=cfg.candidates or None,
            input_grad=cfg.input_grad, table_rule=cfg.table_rule,
        )
        for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:], strict=True))
    ]
    return nn.Sequential(
        _input_encoder(cfg, input_shape), nn.Flatten(), *luts, GroupSum(num_classes, cfg.tau)
    )


def build_lut_cnn(
    cfg: LUTCNNConfig, input_shape: tuple[int, int, int], num_classes: int
) -> nn.Sequential:
    c, h, w = _image_only("lut-cnn", input_shape)
    c = c * _encoder_bits(cfg.encoder, cfg.levels)
    layers: list[nn.Module] = [_encoder(cfg.encoder, cfg.levels)]
    for i, c_out in enumerate(cfg.channels):
        inner = LUTLayer(c * 9, c_out, cfg.k, wiring="random", seed=100 + i)
        layers += [_conv(c, c_out, 3, inner), BinaryMaxPool2d(2)]
        c, h, w = c_out, h // 2, w // 2
    widths = [c * h * w, *cfg.layers, num_classes * cfg.group_size]
    luts = [
        LUTLayer(w_in, w_out, cfg.k, wiring="random", seed=i)
        for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:], strict=True))
    ]
    return nn.Sequential(*layers, nn.Flatten(), *luts, GroupSum(num_classes, cfg.tau))


@dataclass(frozen=True)
class StudentConfig:
    """A LUT-Net student distilled from a teacher (:mod:`lutnn.distill`): its architecture.

    Each teacher block becomes a tree of LUT stages per neuron; encoder, pooling, flatten and
    head are the teacher's.  The first-stage wiring (weight order or random) and the tables
    live in the state dict; built from this config alone, the first stage is wired at random
    within each neuron's inputs (what ``lutnn train --model lut-student`` trains end to end).
    """

    teacher: str = "teacher-mlp"  # model family of the teacher whose architecture it mirrors
    teacher_config: dict = dataclasses.field(default_factory=dict)  # that teacher's config
    k: int = 6  # inputs per first-stage LUT
    tree: tuple[int, ...] = (6,)  # LUTs per teacher neuron in each stage before the last one


def build_lut_student(
    cfg: StudentConfig, input_shape: tuple[int, int, int], num_classes: int
) -> nn.Sequential:
    if cfg.teacher == "lut-student" or cfg.teacher not in MODELS:
        teachers = ", ".join(sorted(n for n in MODELS if n.startswith("teacher")))
        raise LutnnError(f"lut-student: teacher must be one of: {teachers}; got {cfg.teacher!r}")
    teacher_cfg = make_config(cfg.teacher, cfg.teacher_config)
    teacher = build_model(cfg.teacher, teacher_cfg, input_shape, num_classes)
    for layer in teacher.modules():  # a pruned teacher is sized as it ends its training
        if isinstance(layer, BinaryLinear):
            layer.prune_to_limit()
    return build_student(teacher, cfg.k, cfg.tree, wiring="random")


@dataclass(frozen=True)
class ImportedConfig:
    """A binarized network brought in by ``lutnn import`` (:mod:`lutnn.interop`): a 1-bit
    threshold encoder, then its layers as lutnn blocks, then a :class:`GroupSum` head.

    Each entry of ``layers`` is one block, a kind and ``key=value`` fields:

    * ``"conv out=N kernel=KHxKW stride=SHxSW padding=PHxPW groups=G"``: a
      :class:`LoweredConv2d` around a binary-weight :class:`BinaryLinear`;
    * ``"dense out=N"``: a binary-weight :class:`BinaryLinear`;
    * either with ``sparse=1``: its neurons read only the inputs of their ``connections``
      buffer (saved with the weights: the source had zero weights);
    * ``"pool kernel=KHxKW stride=SHxSW"``: a :class:`BinaryMaxPool2d` (OR of the bits);
    * ``"flatten"``.

    The last ``dense`` layer writes the head's bits: ``out`` = classes x bits per class.
    The weights, BatchNorm thresholds and connections live in ``model.pt``.
    """

    threshold: int = 128  # input encoder: bit = pixel >= threshold (one bit per pixel)
    layers: tuple[str, ...] = ()  # the blocks after the encoder, in order (see above)
    tau: float = 1.0  # softmax temperature on the head's popcounts (training only)


def _pair_field(layer: str, fields: dict, key: str) -> tuple[int, int]:
    text = fields.get(key, "")
    parts = text.split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise LutnnError(f"teacher-imported: layer {layer!r} needs {key}=AxB (two integers), "
                         f"got {text!r}")
    return int(parts[0]), int(parts[1])


def parse_imported_layer(layer: str) -> tuple[str, dict]:
    """``"conv out=8 kernel=3x3 ..."`` -> ``("conv", {"out": 8, "kernel": (3, 3), ...})``.

    Raises:
        LutnnError: an unknown kind, a missing or malformed field.
    """
    kind, *rest = layer.split()
    fields = dict(item.partition("=")[::2] for item in rest)
    needs = {"conv": ("out", "kernel", "stride", "padding", "groups"), "dense": ("out",),
             "pool": ("kernel", "stride"), "flatten": ()}
    if kind not in needs:
        raise LutnnError(f"teacher-imported: unknown layer kind {kind!r} in {layer!r}; "
                         f"kinds: {', '.join(needs)}")
    out: dict = {"sparse": fields.get("sparse", "0") == "1"}
    for key in needs[kind]:
        if key in ("kernel", "stride", "padding"):
            out[key] = _pair_field(layer, fields, key)
        elif not fields.get(key, "").isdigit() or int(fields[key]) < 1:
            raise LutnnError(f"teacher-imported: layer {layer!r} needs {key}=N (N >= 1)")
        else:
            out[key] = int(fields[key])
    return kind, out


def build_imported(
    cfg: ImportedConfig, input_shape: tuple[int, int, int], num_classes: int
) -> nn.Sequential:
    from lutnn.data.encodings import ThresholdEncoder

    c, h, w = _image_only("teacher-imported", input_shape)
    if not cfg.layers:
        raise LutnnError("teacher-imported is written by `lutnn import`, which lists its layers; "
                         "it has no layers to train from scratch")
    layers: list[nn.Module] = [ThresholdEncoder(cfg.threshold)]
    width = None  # flat bits after a flatten, else None (an image of c x h x w)
    for spec in cfg.layers:
        kind, f = parse_imported_layer(spec)
        fan = 1 if f["sparse"] else 0  # any limit below the fan-in makes the buffer
        if kind == "conv":
            (kh, kw), (sh, sw), (ph, pw) = f["kernel"], f["stride"], f["padding"]
            inner = BinaryLinear(c * kh * kw, f["out"], binary_weights=True,
                                 groups=f["groups"], max_fan_in=fan)
            conv = LoweredConv2d(c, f["out"], (kh, kw), inner, stride=(sh, sw), padding=(ph, pw))
            c, (h, w) = f["out"], conv.output_shape(h, w)
            layers.append(conv)
        elif kind == "pool":
            (kh, kw), (sh, sw) = f["kernel"], f["stride"]
            layers.append(BinaryMaxPool2d((kh, kw), (sh, sw)))
            h, w = (h - kh) // sh + 1, (w - kw) // sw + 1
        elif kind == "flatten":
            layers.append(nn.Flatten())
            width = c * h * w
        else:
            if width is None:
                raise LutnnError(f"teacher-imported: dense layer {spec!r} reads an image; "
                                 "a flatten must come first")
            layers.append(BinaryLinear(width, f["out"], binary_weights=True, max_fan_in=fan))
            width = f["out"]
    if width is None or width % num_classes:
        raise LutnnError(f"teacher-imported: the last layer must be dense with a multiple of "
                         f"the {num_classes} classes as outputs")
    return nn.Sequential(*layers, GroupSum(num_classes, cfg.tau))


@dataclass(frozen=True)
class ModelSpec:
    """A named model family: its config class and its builder."""

    config_class: type
    build: Callable[..., nn.Sequential]
    description: str
    lr: float = 1e-3  # default Adam learning rate (LUT tables like a larger one)


MODELS: dict[str, ModelSpec] = {
    "teacher-mlp": ModelSpec(MLPConfig, build_mlp, "binary-weight MLP (exports as XNOR-Net)"),
    "teacher-cnn": ModelSpec(CNNConfig, build_cnn, "binary CNN on lowered convolutions"),
    "teacher-mobilenet": ModelSpec(
        MobileNetConfig, build_mobilenet, "MobileNet-like: depthwise + pointwise binary blocks"
    ),
    "lut-mlp": ModelSpec(LUTMLPConfig, build_lut_mlp, "LUT-Net MLP trained end to end", 1e-2),
    "lut-cnn": ModelSpec(
        LUTCNNConfig, build_lut_cnn, "LUT-Net CNN on lowered convolutions", 1e-2
    ),
    "lut-student": ModelSpec(
        StudentConfig, build_lut_student, "LUT-Net mirroring a teacher (lutnn distill)"
    ),    "teacher-imported": ModelSpec(
        ImportedConfig, build_imported, "a binarized network brought in by `lutnn import`"
    ),
}


def get_model_spec(name: str) -> ModelSpec:
    """Look up a model family; an unknown name is a user error listing the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise LutnnError(f"unknown model {name!r}; choose one of: {known}") from None


def make_config(name: str, overrides: dict | None = None):
    """Build the config of model ``name`` with ``overrides`` (e.g. from a JSON file), checked.

    Unknown keys and values of the wrong type are user errors naming the field.
    """
    cls = get_model_spec(name).config_class
    overrides = dict(overrides or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise LutnnError(
            f"unknown config field(s) {', '.join(unknown)} for model {name!r}; "
            f"valid fields: {', '.join(sorted(fields))}"
        )
    minimum = {f.name: f.metadata.get("min", 1) for f in dataclasses.fields(cls)}
    for key, value in overrides.items():
        overrides[key] = _coerce(name, key, hints[key], value, minimum[key])
    return cls(**overrides)


def _coerce(model: str, key: str, hint, value, minimum: int = 1):
    """Check ``value`` against the field type ``hint``; lists become tuples.

    Ints must be ``>= minimum`` (1 unless the field says otherwise); floats (temperatures)
    must be finite and positive.
    """
    origin = typing.get_origin(hint)
    bad = LutnnError(
        f"config field {key!r} of model {model!r} must be {getattr(hint, '__name__', hint)}, "
        f"got {value!r}"
    )
    if origin is tuple and typing.get_args(hint)[0] is str:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise bad
        return tuple(value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value
        ):
            raise bad
        return tuple(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise bad
    elif hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise LutnnError(
                f"config field {key!r} of model {model!r} must be an int >= {minimum}, "
                f"got {value!r}"
            )
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if not (math.isfinite(value) and value > 0):
            raise LutnnError(
                f"config field {key!r} of model {model!r} must be a finite number > 0, "
                f"got {value!r}"
            )
        value = float(value)
    elif hint is str and not isinstance(value, str):
        raise bad
    elif hint is dict and not isinstance(value, dict):
        raise bad
    return value


def config_to_dict(cfg) -> dict:
    """A JSON-friendly dict of a config dataclass (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def build_model(
    name: str, cfg, input_shape: tuple[int, int, int], num_classes: int
) -> nn.Sequential:
    """Build model family ``name`` from its config for images of ``input_shape`` (C, H, W)."""
    return get_model_spec(name).build(cfg, input_shape, num_classes)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_lut_nodes(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """LUT nodes in hardware: every LUTLayer output bit for one image (conv positions count)."""
    counts: list[int] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: counts.append(out.numel()))
        for m in model.modules()
        if isinstance(m, LUTLayer)
    ]
    was_training = model.training
    try:
        model.eval()(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return sum(counts)
