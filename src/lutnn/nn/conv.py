"""Lowered convolution: im2col (``unfold``) -> any inner module per patch -> col2im (reshape).

Lowering lets BatchNorm, binarization or LUTs live *inside* the convolution (the seed's point
5): the inner module sees one patch vector per output position and can be any
``[..., F] -> [..., out]`` module.  Patch vector order is unfold's: index
``c * kh * kw + i * kw + j`` for input channel ``c`` and kernel offset ``(i, j)``.
Padding inserts zeros: on bits, a padded position is bit 0 (value -1).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def _is_binary_linear(module: nn.Module) -> bool:
    from lutnn.nn.binary import BinaryLinear  # conv.py stays importable from binary.py's users

    return isinstance(module, BinaryLinear)


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


class LoweredConv2d(nn.Module):
    """Convolution as unfold -> ``inner`` -> fold back to an image.

    Args:
        in_channels: channels of the input image.
        out_channels: features the inner module writes per position.
        kernel_size, stride, padding: as in ``nn.Conv2d``.
        inner: module mapping ``[B, L, in_channels * kh * kw]`` to ``[B, L, out_channels]``.

    With ``inner = nn.Linear(C*kh*kw, out)`` this equals ``F.conv2d`` with that weight.

    Example:
        >>> import torch
        >>> conv = LoweredConv2d(1, 4, 3, padding=1, inner=nn.Linear(9, 4))
        >>> conv(torch.zeros(2, 1, 5, 5)).shape
        torch.Size([2, 4, 5, 5])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        inner: nn.Module,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.inner = inner
        self.direct = True  # a BinaryLinear inner runs as one F.conv2d (same bits, 3-10x faster)

    @property
    def patch_size(self) -> int:
        return self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"LoweredConv2d expects [B, {self.in_channels}, H, W], got {tuple(x.shape)}"
            )
        if self.direct and _is_binary_linear(self.inner) and (
                self.in_channels % self.inner.groups == 0):  # groups of whole channels
            return self.inner.conv_forward(x, self.kernel_size, self.stride, self.padding)
        return self.lowered_forward(x)

    def lowered_forward(self, x: Tensor) -> Tensor:
        """The readable path: unfold -> inner per patch -> fold (the reference of ``forward``)."""
        b, _, h, w = x.shape
        ho, wo = self.output_shape(h, w)
        cols = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)  # (B, F, L)
        y = self.inner(cols.transpose(1, 2))  # (B, L, out)
        return y.transpose(1, 2).reshape(b, self.out_channels, ho, wo)  # (B, out, Ho, Wo)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )
