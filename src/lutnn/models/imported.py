"""``teacher-imported``: a binarized network brought in by ``lutnn import``, its config, the
parser of its layer strings and its builder."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from lutnn.errors import LutnnError
from lutnn.models._shared import _image_only
from lutnn.nn.binary import BinaryLinear, BinaryMaxPool2d, GroupSum
from lutnn.nn.conv import LoweredConv2d


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
