"""Helpers every model family shares: the input encoders, the lowered convolution and the
config field for ints that may be 0.  Private to :mod:`lutnn.models` (re-exported there)."""

from __future__ import annotations

import dataclasses

from torch import nn

from lutnn.errors import LutnnError
from lutnn.nn.conv import LoweredConv2d


def _count(default: int) -> int:
    """A config int that may be 0 (other int fields must be positive)."""
    return dataclasses.field(default=default, metadata={"min": 0})


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


def _conv(c_in: int, c_out: int, kernel: int, inner: nn.Module) -> LoweredConv2d:
    return LoweredConv2d(c_in, c_out, kernel, inner, padding=kernel // 2)
