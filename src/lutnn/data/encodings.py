"""Binary input encodings: each bit compares an 8-bit pixel with an integer constant.

In hardware every encoded bit is one comparator ``pixel >= threshold`` on the 8-bit pixel, so an
encoder is fully described by its increasing integer ``thresholds`` (each in 1..255).

Bit order: for input ``[B, C, H, W]`` and ``T`` thresholds the output is ``[B, C*T, H, W]`` with

    ``out[:, c*T + t] = (pixel[:, c] >= thresholds[t])``  (1.0 or 0.0, float32)

i.e. channel-major: the ``T`` bits of input channel 0 first, then those of channel 1, ...  This is
the order of :class:`lutnn.ir.layers.InputEncoder`.  Because thresholds increase, the bits of one
pixel form a thermometer code: non-increasing in ``t``.

Encoders are found by name through the explicit registry :data:`ENCODERS` / :func:`get_encoder`.
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


ENCODERS: dict[str, type[ComparatorEncoder]] = {
    "threshold": ThresholdEncoder,
    "thermometer": ThermometerEncoder,
}


def get_encoder(name: str, **kwargs: Any) -> ComparatorEncoder:
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
