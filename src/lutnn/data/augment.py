"""Training-time augmentation: random translations of images.

A LUT-Net with learned wiring reads fixed pixels, so it learns "this stroke at this pixel";
shifting each training image by a pixel or two teaches it strokes near that pixel too (the
classic MNIST augmentation).  Only training batches are moved; validation, test and the
hardware see the images as they are.

Determinism: the shift of training sample ``i`` in epoch ``e`` comes from a generator seeded
by ``(seed, e)`` (:func:`epoch_shifts`), indexed by the sample, so a resumed run and a
data-parallel one (each rank takes its part of a batch) see the same images as one
uninterrupted process.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def epoch_shifts(n: int, shift: int, seed: int, epoch: int) -> torch.Tensor:
    """int64 ``[n, 2]``: sample i's ``(dy, dx)``, each uniform in ``-shift..shift``."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 7)  # not the order's seed
    return torch.randint(-shift, shift + 1, (n, 2), generator=gen)


def translate(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Images ``x`` ``[B, C, H, W]``, image b moved ``shifts[b] = (dy, dx)`` pixels down and
    right (negative: up, left); pixels moved in from outside are 0.

    ``out[b, c, h, w] = x[b, c, h - dy, w - dx]`` where that index is inside the image, else 0.

    Example:
        >>> translate(torch.arange(4.).reshape(1, 1, 2, 2), torch.tensor([[1, 0]]))[0, 0]
        tensor([[0., 0.],
                [0., 1.]])
    """
    b, c, h, w = x.shape
    s = int(shifts.abs().max()) if len(shifts) else 0
    if s == 0:
        return x
    padded = F.pad(x, (s, s, s, s))  # (B, C, H + 2s, W + 2s)
    rows = torch.arange(h, device=x.device)[None, :] + s - shifts[:, :1].to(x.device)  # (B, H)
    cols = torch.arange(w, device=x.device)[None, :] + s - shifts[:, 1:].to(x.device)  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()
