"""The LUT-Nets trained end to end: ``lut-mlp`` and ``lut-cnn``, their configs and builders,
and :class:`StudentConfig`, the config of ``lut-student`` (a LUT-Net mirroring a teacher),
whose builder lives in :mod:`lutnn.models.registry`: it builds the teacher by name."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from torch import nn

from lutnn.errors import LutnnError
from lutnn.models._shared import _conv, _count, _encoder, _encoder_bits, _image_only, _input_encoder
from lutnn.nn.binary import BinaryMaxPool2d, GroupSum
from lutnn.nn.lut import LUTLayer


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
