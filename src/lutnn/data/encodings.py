"""Binary input encodings: each bit compares an 8-bit pixel with an integer constant.

In hardware every encoded bit is one comparator ``pixel >= threshold`` on the 8-bit pixel, so an
encoder is fully described by its increasing integer ``thresholds`` (each in 1..255).

Bit order: for input ``[B, C, H, W]`` and ``T`` thresholds the output is ``[B, C*T, H, W]`` with

    ``out[:, c*T + t] = (pixel[:, c] >= thresholds[t])``  (1.0 or 0.0, float32)

i.e. channel-major: the ``T`` bits of input channel 0 first, then those of channel 1, ...  This is
the order of :class:`lutnn.ir.layers.InputEncoder`.  Because thresholds increase, the bits of one
pixel form a thermometer code: non-increasing in ``t``.

Encoders are found by name through the explicit registry :data:`ENCODERS` / :func:`get_encoder`.
:class:`BitplaneEncoder` (``"bitplanes"``) is no comparator: its bits are the top bits of each
pixel (wires in hardware), in the same channel-major order.

:class:`FeatureThermometer` (``"distributive"``, ``"uniform"``) generalizes this to thresholds of
their own for every input on W-bit fixed-point values: tabular features (float tables mapped to
W bits by a per-feature offset and scale) and per-pixel distributive thermometers; it is fitted
on the training set (:func:`fit_encoders`) and exports as :class:`lutnn.ir.FeatureEncoder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from lutnn.errors import LutnnError


def _check_thresholds(values: Sequence[int]) -> list[int]:
    vals = list(values)
    if not vals:
        raise ValueError("thresholds must not be empty")
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= 255:
            raise ValueError(f"thresholds must be integers in 1..255, got {vals}")
    if any(b <= a for a, b in zip(vals[:-1], vals[1:], strict=True)):
        raise ValueError(f"thresholds must be strictly increasing, got {vals}")
    return [int(v) for v in vals]


def thermometer_thresholds(levels: int) -> list[int]:
    """Evenly spaced thresholds: ``thresholds[t] = floor(256*(t+1)/(levels+1) + 1/2)``.

    That is ``256*(t+1)/(levels+1)`` rounded half up, for ``t = 0..levels-1``; they split 0..255
    into ``levels + 1`` near-equal bins.  ``levels`` must be in 1..255 (the values are then
    strictly increasing in 1..255).

    Example:
        >>> thermometer_thresholds(1), thermometer_thresholds(3)
        ([128], [64, 128, 192])
    """
    if (
        isinstance(levels, bool)
        or not isinstance(levels, (int, np.integer))
        or not 1 <= levels <= 255
    ):
        raise ValueError(f"levels must be an integer in 1..255, got {levels!r}")
    n = int(levels) + 1
    return [(2 * 256 * (t + 1) + n) // (2 * n) for t in range(int(levels))]


class ComparatorEncoder(nn.Module):
    """Base encoder: ``out[:, c*T + t] = pixel[:, c] >= thresholds[t]``.

    Args:
        thresholds: strictly increasing integers in 1..255 (stored as an int16 buffer, so they
            are saved in the ``state_dict``).
    """

    name: str = "comparator"

    def __init__(self, thresholds: Sequence[int]) -> None:
        super().__init__()
        vals = _check_thresholds(thresholds)
        self.register_buffer("thresholds", torch.tensor(vals, dtype=torch.int16))

    @property
    def num_thresholds(self) -> int:
        """``T``, the number of bits per input channel."""
        return int(self.thresholds.numel())

    def out_channels(self, in_channels: int) -> int:
        """Output channels for ``in_channels`` input channels: ``in_channels * T``."""
        return in_channels * self.num_thresholds

    def threshold_values(self) -> np.ndarray:
        """The thresholds as a numpy int16 array ``[T]`` (the dtype of the IR's InputEncoder)."""
        return self.thresholds.detach().cpu().numpy().astype(np.int16)

    def to_config(self) -> dict[str, Any]:
        """A JSON-able dict that :func:`get_encoder` turns back into an equal encoder."""
        return {"name": "thermometer", "thresholds": self.threshold_values().tolist()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode pixels ``[B, C, H, W]`` (0..255, float or uint8) into bits ``[B, C*T, H, W]``."""
        if x.dim() != 4:
            raise ValueError(
                f"{type(self).__name__} expects pixels of shape [B, C, H, W], "
                f"got shape {tuple(x.shape)}"
            )
        b, c, h, w = x.shape
        thr = self.thresholds.to(x.device).view(1, 1, -1, 1, 1)  # (1, 1, T, 1, 1)
        bits = x.unsqueeze(2) >= thr  # (B, C, T, H, W); int16 vs float/uint8 compares exactly
        return bits.reshape(b, c * self.num_thresholds, h, w).to(torch.float32)

    def extra_repr(self) -> str:
        return f"thresholds={self.threshold_values().tolist()}"


class ThresholdEncoder(ComparatorEncoder):
    """One bit per channel: ``out[:, c] = pixel[:, c] >= threshold`` (T = 1).

    Example:
        >>> ThresholdEncoder(128)(torch.tensor([[[[127.0, 128.0]]]]))
        tensor([[[[0., 1.]]]])
    """

    name = "threshold"

    def __init__(self, threshold: int = 128) -> None:
        super().__init__([threshold])

    def to_config(self) -> dict[str, Any]:
        return {"name": "threshold", "threshold": int(self.threshold_values()[0])}


class ThermometerEncoder(ComparatorEncoder):
    """``T`` bits per channel: ``out[:, c*T + t] = pixel[:, c] >= thresholds[t]``.

    Args:
        levels: ``T``; thresholds are :func:`thermometer_thresholds` ``(T)``,
            ``floor(256*(t+1)/(T+1) + 1/2)``.  Ignored when ``thresholds`` is given.
        thresholds: explicit strictly increasing integers in 1..255.

    Example:
        >>> enc = ThermometerEncoder(levels=3)
        >>> enc.threshold_values().tolist()
        [64, 128, 192]
        >>> enc(torch.tensor([[[[100.0]]]])).flatten().tolist()
        [1.0, 0.0, 0.0]
    """

    name = "thermometer"

    def __init__(
        self, levels: int | None = None, *, thresholds: Sequence[int] | None = None
    ) -> None:
        if thresholds is None:
            if levels is None:
                raise ValueError("give ThermometerEncoder either levels or thresholds")
            thresholds = thermometer_thresholds(levels)
        elif levels is not None and levels != len(thresholds):
            raise ValueError(f"levels={levels} but {len(thresholds)} thresholds were given")
        super().__init__(thresholds)


class BitplaneEncoder(nn.Module):
    """The top ``B`` bits of every 8-bit pixel, as they are: in hardware, wires (0 LUTs).

    ``out[:, c*B + j] = (pixel[:, c] >> (7 - j)) & 1`` for ``j = 0 .. B-1``: plane 0 is the
    most significant bit (``pixel >= 128``, the 1-bit threshold encoder), plane 1 the next.
    Channel-major, as :class:`ComparatorEncoder`; exports as :class:`lutnn.ir.BitplaneEncoder`.
    Two planes hold what a thermometer at 64 / 128 / 192 holds (bit 6 = its 3 bits' XOR).

    Args:
        levels: ``B``, the top bits taken (1..8).

    Example:
        >>> BitplaneEncoder(levels=2)(torch.tensor([[[[127.0, 200.0]]]])).tolist()
        [[[[0.0, 1.0]], [[1.0, 1.0]]]]
    """

    name = "bitplanes"

    def __init__(self, levels: int = 2) -> None:
        super().__init__()
        if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels <= 8:
            raise ValueError(f"levels (the bit planes) must be an integer in 1..8, got "
                             f"{levels!r}")
        self.planes = levels

    @property
    def num_thresholds(self) -> int:
        """``B``, the bits per input channel (the other encoders' ``T``)."""
        return self.planes

    def out_channels(self, in_channels: int) -> int:
        """Output channels for ``in_channels`` input channels: ``in_channels * B``."""
        return in_channels * self.planes

    def to_config(self) -> dict[str, Any]:
        return {"name": "bitplanes", "levels": self.planes}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels ``[B, C, H, W]`` (integers 0..255, float or uint8) -> bits ``[B, C*B, H, W]``."""
        if x.dim() != 4:
            raise ValueError(f"{type(self).__name__} expects pixels of shape [B, C, H, W], "
                             f"got shape {tuple(x.shape)}")
        b, c, h, w = x.shape
        px = x.to(torch.int32).unsqueeze(2)  # (B, C, 1, H, W); pixels are whole numbers
        shifts = torch.arange(7, 7 - self.planes, -1, device=x.device).view(1, 1, -1, 1, 1)
        bits = (px >> shifts) & 1  # (B, C, planes, H, W)
        return bits.reshape(b, c * self.planes, h, w).to(torch.float32)

    def extra_repr(self) -> str:
        return f"planes={self.planes}"


IMAGE_WIDTH = 8  # pixels are 8-bit: their fixed-point mapping is the identity
TABLE_WIDTH = 8  # default bits of a tabular feature in hardware (fixed point)


class FeatureThermometer(nn.Module):
    """``T`` thresholds of its own for every input, compared on W-bit fixed-point values.

    Each input ``q`` (a tabular feature, or a pixel ``c*H*W + h*W + w``) is first mapped to
    an unsigned W-bit integer, in float64 and in this order (the mapping of
    :class:`lutnn.ir.FeatureEncoder`, which ``lutnn sim`` applies to the same floats):

        ``x_fixed[q] = clip(floor((x[q] - offset[q]) * scale[q] + 1/2), 0, 2**W - 1)``

    then ``bit = x_fixed[q] >= thresholds[q, t]``.  Bit order: a table ``[B, F]`` gives
    ``[B, F*T]`` with bit ``f*T + t``; images ``[B, C, H, W]`` give ``[B, C*T, H, W]`` with
    channel ``c*T + t`` (the order of :class:`ComparatorEncoder`).

    :meth:`fit` sets the mapping and the thresholds from the training inputs (the training
    code calls it before the first epoch; they are buffers, so saved in the state dict).
    Images keep the identity mapping (W = 8, scale 1, offset 0); a table's feature f is
    mapped from its training range, ``offset = min``, ``scale = (2**W - 1) / (max - min)``
    (1 for a constant feature).  Before :meth:`fit` the mapping is the identity and the
    thresholds are uniform.

    Args:
        input_shape: ``(F,)`` for a table, ``(C, H, W)`` for images.
        levels: ``T``, thresholds per input.
        width: W, bits per input (images: must be 8); default 8.
        snap: S, low threshold bits forced to zero (:func:`snap_thresholds`): every
            comparator then reads only the top ``W - S`` bits of its input, so with
            ``W - S <= 6`` it is at most one LUT6 (and ``x >= 2**(W-1)`` is a wire).
    """

    name: str = "feature"
    quantiles: bool = False  # thresholds at training-set quantiles (else uniform)

    def __init__(self, input_shape: Sequence[int], levels: int, width: int | None = None,
                 snap: int = 0) -> None:
        super().__init__()
        shape = tuple(int(v) for v in input_shape)
        if len(shape) not in (1, 3) or min(shape) < 1:
            raise ValueError(f"input_shape must be (F,) or (C, H, W), got {input_shape}")
        tabular = len(shape) == 1
        width = (TABLE_WIDTH if tabular else IMAGE_WIDTH) if width is None else width
        if not tabular and width != IMAGE_WIDTH:
            raise ValueError(f"images are {IMAGE_WIDTH}-bit: width must be {IMAGE_WIDTH}")
        if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= 24:
            raise ValueError(f"width must be an integer in 1..24, got {width!r}")
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels must be a positive integer, got {levels!r}")
        if levels > (1 << width) - 1:  # thresholds 1..2^W-1: more would repeat one
            raise ValueError(f"levels must be an integer in 1..{(1 << width) - 1} for "
                             f"{width}-bit inputs (the distinct thresholds there are), got "
                             f"{levels}")
        if isinstance(snap, bool) or not isinstance(snap, int) or not 0 <= snap < width:
            raise ValueError(f"snap must be an integer in 0..{width - 1} (width {width}), "
                             f"got {snap!r}")
        self.input_shape, self.width, self.snap = shape, width, snap
        self.features = int(np.prod(shape))
        self.channels = self.features if tabular else shape[0]
        uniform = snap_thresholds(np.array(uniform_thresholds(levels, width)), snap, width)
        self.register_buffer("thresholds", torch.from_numpy(
            np.tile(uniform, (self.features, 1))))  # int32 (P, T)
        self.register_buffer("scale", torch.ones(self.features, dtype=torch.float64))
        self.register_buffer("offset", torch.zeros(self.features, dtype=torch.float64))

    @property
    def tabular(self) -> bool:
        return len(self.input_shape) == 1

    @property
    def num_thresholds(self) -> int:
        """``T``, the number of bits per input."""
        return int(self.thresholds.shape[1])

    @property
    def max_value(self) -> int:
        return (1 << self.width) - 1

    def to_fixed(self, x: torch.Tensor) -> torch.Tensor:
        """float64 ``[B, P]`` fixed-point values (integers) of inputs ``x`` ``[B, *shape]``."""
        v = x.reshape(x.shape[0], self.features).to(torch.float64)
        q = torch.floor((v - self.offset) * self.scale + 0.5)  # the order the docstring states
        return q.clamp(0, self.max_value)

    @torch.no_grad()
    def fit(self, x_train: np.ndarray) -> FeatureThermometer:
        """Set the fixed-point mapping (tables) and the thresholds from training inputs.

        Args:
            x_train: ``[n, *input_shape]`` (uint8 images or float tables).
        """
        x = np.asarray(x_train).reshape(len(x_train), self.features).astype(np.float64)
        if self.tabular:
            lo, hi = x.min(axis=0), x.max(axis=0)
            spread = hi - lo
            scale = np.where(spread > 0, self.max_value / np.where(spread > 0, spread, 1), 1.0)
            self.offset.copy_(torch.from_numpy(lo))
            self.scale.copy_(torch.from_numpy(scale))
        q = self.to_fixed(torch.from_numpy(x)).numpy().astype(np.int64)  # (n, P)
        if self.quantiles:
            thr = quantile_thresholds(q, self.num_thresholds, self.max_value)
        else:
            thr = np.tile(uniform_thresholds(self.num_thresholds, self.width), (self.features, 1))
        thr = snap_thresholds(np.asarray(thr), self.snap, self.width)
        self.thresholds.copy_(torch.from_numpy(thr))
        return self

    def out_channels(self, in_channels: int) -> int:
        """Output channels of images with ``in_channels`` channels: ``in_channels * T``."""
        return in_channels * self.num_thresholds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode ``[B, *input_shape]`` into bits (see the class docstring for the order)."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{type(self).__name__} expects inputs of shape "
                             f"[B, {', '.join(map(str, self.input_shape))}], got "
                             f"{tuple(x.shape)}")
        b, t = x.shape[0], self.num_thresholds
        bits = self.to_fixed(x).unsqueeze(2) >= self.thresholds  # (B, P, T), exact integers
        if self.tabular:
            return bits.reshape(b, self.features * t).to(torch.float32)  # bit f*T + t
        c, h, w = self.input_shape
        bits = bits.reshape(b, c, h * w, t).transpose(2, 3)  # (B, C, T, HW)
        return bits.reshape(b, c * t, h, w).to(torch.float32)

    def extra_repr(self) -> str:
        return (f"input_shape={self.input_shape}, levels={self.num_thresholds}, "
                f"width={self.width}, quantiles={self.quantiles}, snap={self.snap}")


class DistributiveThermometer(FeatureThermometer):
    """:class:`FeatureThermometer` with thresholds at the training set's quantiles (DWN's
    distributive thermometer): :func:`quantile_thresholds`.

    Example:
        >>> enc = DistributiveThermometer((1,), levels=1).fit(np.array([[0.], [1.], [2.], [3.]]))
        >>> enc.thresholds.tolist(), enc(torch.tensor([[2.0], [3.0]])).flatten().tolist()
        ([[171]], [0.0, 1.0])
    """

    name = "distributive"
    quantiles = True


class UniformThermometer(FeatureThermometer):
    """:class:`FeatureThermometer` with thresholds evenly spaced over each input's
    fixed-point range (a table: its training range): :func:`uniform_thresholds`."""

    name = "uniform"


def uniform_thresholds(levels: int, width: int) -> list[int]:
    """``floor(2**W * (t+1) / (T+1) + 1/2)`` for ``t = 0..T-1``: T thresholds splitting the
    W-bit range into near-equal bins (for W = 8, :func:`thermometer_thresholds`).

    Example:
        >>> uniform_thresholds(3, 8)
        [64, 128, 192]
    """
    n, full = levels + 1, 1 << width
    return [(2 * full * (t + 1) + n) // (2 * n) for t in range(levels)]


def quantile_thresholds(q: np.ndarray, levels: int, max_value: int) -> np.ndarray:
    """int32 ``[P, T]``: threshold t of input p is one more than the value at rank
    ``floor((t+1) * n / (T+1))`` of its n sorted training values, so that bit t is
    ``x > that quantile`` (DWN's ``x > threshold``) and a feature piled up at its minimum
    still splits; at most ``max_value + 1`` (a constant 0).

    Args:
        q: int ``[n, P]`` fixed-point training values.
    """
    n = q.shape[0]
    ranks = np.minimum((np.arange(1, levels + 1) * n) // (levels + 1), n - 1)  # (T,)
    sorted_q = np.sort(q, axis=0)  # (n, P)
    thr = sorted_q[ranks].T + 1  # (P, T), non-decreasing along T
    return np.minimum(thr, max_value + 1).astype(np.int32)


def snap_thresholds(thresholds: np.ndarray, snap: int, width: int) -> np.ndarray:
    """int32 thresholds rounded to the nearest multiple of ``2**snap`` (halves round up),
    kept in ``2**snap .. 2**width`` (``2**width`` is a constant-0 bit).

    ``x >= m * 2**snap`` on a W-bit ``x`` equals ``(x >> snap) >= m``: the comparator reads
    only the top ``W - snap`` bits, which is what makes it cheap in LUTs.  Snapping keeps the
    thresholds non-decreasing (rounding is monotone); ``snap = 0`` returns them unchanged.

    Example:
        >>> snap_thresholds(np.array([1, 70, 97, 250]), 5, 8).tolist()
        [32, 64, 96, 256]
    """
    t = np.asarray(thresholds, dtype=np.int64)
    if snap == 0:
        return t.astype(np.int32)
    step = 1 << snap
    snapped = (t + step // 2) // step * step
    return np.clip(snapped, step, 1 << width).astype(np.int32)


#: encoder modules of a model's first block (``to_ir`` and distillation recognise them)
ENCODER_MODULES = (ComparatorEncoder, FeatureThermometer, BitplaneEncoder)

ENCODERS: dict[str, type[nn.Module]] = {
    "threshold": ThresholdEncoder,
    "thermometer": ThermometerEncoder,
    "bitplanes": BitplaneEncoder,
    "distributive": DistributiveThermometer,
    "uniform": UniformThermometer,
}

#: encoders with thresholds per input, fitted on the training data (tables need one)
FEATURE_ENCODERS = ("distributive", "uniform")


def is_encoder(module: nn.Module) -> bool:
    """Whether ``module`` is an input encoder (pixels or features -> bits)."""
    return isinstance(module, ENCODER_MODULES)


def fit_encoders(model: nn.Module, x_train: np.ndarray) -> None:
    """Call :meth:`FeatureThermometer.fit` on every fitted encoder of ``model`` with the
    training inputs (training code calls it once, before the first epoch)."""
    for module in model.modules():
        if isinstance(module, FeatureThermometer):
            module.fit(x_train)


def get_encoder(name: str, **kwargs: Any) -> nn.Module:
    """Build the encoder registered as ``name`` with constructor ``kwargs``.

    Raises:
        LutnnError: unknown name (the message lists the known ones) or bad arguments.

    Example:
        >>> get_encoder("thermometer", levels=2).threshold_values().tolist()
        [85, 171]
    """
    cls = ENCODERS.get(name)
    if cls is None:
        raise LutnnError(f"unknown encoder {name!r}; known encoders: {', '.join(sorted(ENCODERS))}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise LutnnError(f"bad arguments for encoder {name!r} {kwargs}: {exc}") from None
