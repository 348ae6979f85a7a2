"""The model families by name (:data:`MODELS`) and what works on any of them: config
checking (:func:`make_config`), :func:`build_model`, :func:`config_to_dict` and the counts.

``lut-student``'s builder is here, not in :mod:`lutnn.models.lutnets`: it builds its teacher
through :data:`MODELS`, so it sits beside it (no import cycle).
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
from lutnn.models.imported import ImportedConfig, build_imported
from lutnn.models.lutnets import (
    LUTCNNConfig,
    LUTMLPConfig,
    StudentConfig,
    build_lut_cnn,
    build_lut_mlp,
)
from lutnn.models.teachers import (
    CNNConfig,
    MLPConfig,
    MobileNetConfig,
    build_cnn,
    build_mlp,
    build_mobilenet,
)
from lutnn.nn.binary import BinaryLinear
from lutnn.nn.lut import LUTLayer
from lutnn.student import build_student


@dataclass(frozen=True)
class ModelSpec:
    """A named model family: its config class and its builder."""

    config_class: type
    build: Callable[..., nn.Sequential]
    description: str
    lr: float = 1e-3  # default Adam learning rate (LUT tables like a larger one)


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
    ),
    "teacher-imported": ModelSpec(
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
