"""Input gradients of a LUT's lookup path: table-sized slopes ``[N, 2^k, k]``, exact or EFD.

Both lookup kernels (:func:`lutnn.nn.lut.lut_lookup` and :func:`lutnn.nn.fused.fused_lookup`)
read the gradient of a node's output with respect to its input bit ``j`` at address ``a`` from
``S[n, a, j]``, computed once per step from the tables alone.  :data:`INPUT_GRADIENTS` names the
rules; this module depends on torch only, so both kernels import it without importing each
other.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lutnn.errors import LutnnError

__all__ = [
    "EFD_ALPHA",
    "EFD_BETA",
    "EFD_DECAY",
    "INPUT_GRADIENTS",
    "check_input_grad",
    "efd_slopes",
    "input_slopes",
]


def input_slopes(tables: torch.Tensor) -> torch.Tensor:
    """``S[n, a, j] = T[n, a | 1<<j] - T[n, a & ~(1<<j)]``: the slope of the multilinear LUT
    in ``x_j`` at address ``a`` (it is linear in each input).  Shape ``[N, 2^k, k]``."""
    n, size = tables.shape
    k = size.bit_length() - 1
    slopes = []
    for j in range(k):
        t = tables.view(n, 2 ** (k - 1 - j), 2, 2**j)  # (N, high bits, bit j, low bits)
        d = (t[:, :, 1:] - t[:, :, :1]).expand(-1, -1, 2, -1)  # same slope for bit j = 0, 1
        slopes.append(d.reshape(n, size))
    return torch.stack(slopes, dim=-1)


#: EFD constants (DWN, Bacellar et al. 2024): ``alpha = EFD_ALPHA * EFD_DECAY**(k-1)``,
#: ``beta = EFD_BETA``.
EFD_ALPHA, EFD_DECAY, EFD_BETA = 0.5, 0.75, 1.0 / 3.0


def _efd_kernel(k: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """``M[a, x, j] = alpha * beta^H_j(a, x) * (2*bit_j(a) - 1)``, shape ``[2^k, 2^k, k]``.

    ``H_j(a, x) = popcount((a ^ x) & ~(1 << j))`` is the Hamming distance between table entry
    ``a`` and address ``x`` with bit ``j`` ignored.  See :func:`efd_slopes`.
    """
    size = 2**k
    a = torch.arange(size, device=device)
    diff = a.view(-1, 1) ^ a.view(1, -1)  # (a, x)
    bits = (a.view(-1, 1) >> torch.arange(k, device=device)) & 1  # (a, j)
    masked = diff.unsqueeze(-1) & ~(1 << torch.arange(k, device=device))  # (a, x, j)
    dist = torch.zeros_like(masked)
    for b in range(k):
        dist += (masked >> b) & 1
    alpha = EFD_ALPHA * EFD_DECAY ** (k - 1)
    sign = (2 * bits - 1).unsqueeze(1)  # (a, 1, j)
    return (alpha * EFD_BETA ** dist.to(dtype)) * sign.to(dtype)


def efd_slopes(tables: torch.Tensor) -> torch.Tensor:
    """Extended finite-difference input gradients (DWN's EFD), shape ``[N, 2^k, k]``.

    ``G[n, x, j] = sum_a alpha * beta^H_j(a, x) * (2*bit_j(a) - 1) * T[n, a]``: every table
    entry votes for input ``j`` at address ``x`` with the sign of its own bit ``j``, weighted by
    how far it is from ``x`` on the *other* inputs.  The two entries at distance 0 give
    ``alpha * (T[x | 1<<j] - T[x & ~(1<<j)])``, the exact finite difference of
    :func:`input_slopes`; the rest lets an input's gradient see table entries that the
    current address does not neighbour.  It depends only on the table, so it is one
    ``[N, 2^k] @ [2^k, 2^k * k]`` product per step, table-sized like the exact slopes.
    """
    n, size = tables.shape
    k = size.bit_length() - 1
    kernel = _efd_kernel(k, tables.device, tables.dtype).reshape(size, size * k)  # (a, x*j)
    return (tables @ kernel).view(n, size, k)


#: input-gradient rules of the lookup path: name -> tables [N, 2^k] -> slopes [N, 2^k, k]
INPUT_GRADIENTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "exact": input_slopes,
    "efd": efd_slopes,
}


def check_input_grad(input_grad: str) -> None:
    """Refuse an input-gradient rule that :data:`INPUT_GRADIENTS` does not name.

    Raises:
        LutnnError: ``input_grad`` is unknown (the message lists the known ones).
    """
    if input_grad not in INPUT_GRADIENTS:
        known = ", ".join(INPUT_GRADIENTS)
        raise LutnnError(f"unknown LUT input gradient {input_grad!r}; known: {known}")
