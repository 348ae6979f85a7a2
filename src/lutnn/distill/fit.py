"""Fitting LUT stages to teacher bits: the closed-form majority fit and local gradient training.

Conventions (see :mod:`lutnn`): bits are {0, 1}; a LUT with inputs ``x_0 .. x_{k-1}`` reads
entry ``address = sum(x_j << j)``.  A *stage* is ``M`` LUTs with wiring ``[M, k]`` (indices
into the stage's input bits) and tables ``[M, 2^k]``: one level of the student's LUT trees
(:mod:`lutnn.student`), not a pipeline stage of the hardware.

**Closed form.**  For a fixed wiring, the table that agrees with a target bit on the most
training rows is, address by address, the majority target bit among the rows that hit that
address (the agreement count is a sum over addresses of ``n_1[a]`` or ``n_0[a]``, each chosen
independently).  :func:`count_addresses` accumulates ``n_0, n_1`` chunk by chunk;
:func:`majority_tables` turns them into tables.  Ties and unseen addresses do not change the
training agreement, so a rule decides them: ``"majority"`` gives the LUT's overall majority
target bit (the bit it would output knowing nothing), ``"nearest"`` the majority among the seen
addresses at the smallest Hamming distance (count-weighted; a tie falls back to the overall
majority).  The real table values carry a confidence, ``|2 p - 1|`` with ``p = n_1 / (n_0 +
n_1)`` (at least :data:`MIN_MAGNITUDE`), so that fine-tuning later flips uncertain entries first.

**Local training.**  :func:`tree_preactivation` runs a tree of stages on bits with the
multilinear LUT (exact at bit inputs) and straight-through bits between stages, so the tables
can be trained by gradient against the teacher's bits or pre-activation (:data:`LOCAL_LOSSES`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lutnn.errors import LutnnError
from lutnn.nn.lut import binarize_ste, lut_lookup

__all__ = [
    "LOCAL_LOSSES",
    "MIN_MAGNITUDE",
    "UNSEEN_RULES",
    "address_bits",
    "count_addresses",
    "majority_tables",
    "partial_sum_tables",
    "signed_tables",
    "stage_addresses",
    "stage_bits",
    "tree_preactivation",
]

#: smallest |value| of a fitted table entry (ties and unseen addresses get exactly this)
MIN_MAGNITUDE = 0.05

UNSEEN_RULES = ("majority", "nearest")
#: elements of one (LUTs, 2^k, 2^k) temporary of the "nearest" rule (~16 MB in int64)
NEAREST_CHUNK = 1 << 21


def stage_addresses(x: torch.Tensor, wiring: torch.Tensor) -> torch.Tensor:
    """LUT addresses of a stage: bits ``[R, F]`` (any int or float dtype) -> int64 ``[R, M]``."""
    addr = torch.zeros(x.shape[0], wiring.shape[0], dtype=torch.int64)
    for j in range(wiring.shape[1]):
        addr.bitwise_or_(x[:, wiring[:, j]].to(torch.int64) << j)
    return addr


def stage_bits(x: torch.Tensor, wiring: torch.Tensor, table_bits: torch.Tensor) -> torch.Tensor:
    """Hard LUT outputs: bits ``[R, F]`` -> uint8 ``[R, M]``; ``table_bits`` bool ``[M, 2^k]``."""
    addr = stage_addresses(x, wiring)
    m, size = table_bits.shape
    addr += torch.arange(m, dtype=torch.int64) * size  # flat index into the tables
    return table_bits.reshape(-1)[addr].to(torch.uint8)


def count_addresses(
    counts: torch.Tensor, addr: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Add one chunk to ``counts`` int64 ``[M, 2^k, 2]``: rows hitting each address, by target.

    Args:
        counts: accumulator, updated in place and returned.
        addr: int64 ``[R, M]`` addresses.
        target: ``[R, M]`` target bits (0/1) of each LUT on each row.
    """
    m, size, _ = counts.shape
    idx = addr + torch.arange(m, dtype=torch.int64) * size  # (R, M)
    idx = idx.mul_(2).add_(target.to(torch.int64))
    counts.view(-1).add_(torch.bincount(idx.reshape(-1), minlength=m * size * 2))
    return counts


def majority_tables(
    counts: torch.Tensor, unseen: str = "majority"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tables from address counts ``[M, 2^k, 2]``: ``(bits bool [M, 2^k], values [M, 2^k])``.

    ``bits[m, a]`` is the majority target among the rows that hit address ``a`` of LUT ``m``;
    ties and unseen addresses follow ``unseen`` (see the module docstring).  ``values`` are the
    real tables with ``values >= 0`` exactly where ``bits``.

    Example:
        >>> c = torch.tensor([[[3, 1], [0, 2], [0, 0], [1, 1]]])  # 1 LUT, k=2
        >>> majority_tables(c)[0].int().tolist()  # overall 4 zeros vs 4 ones: majority is 1
        [[0, 1, 1, 1]]
    """
    if unseen not in UNSEEN_RULES:
        raise LutnnError(f"unknown unseen-address rule {unseen!r}; choose one of: "
                         + ", ".join(UNSEEN_RULES))
    n0, n1 = counts[..., 0].double(), counts[..., 1].double()  # (M, A)
    total = n0 + n1
    overall = n1.sum(1) >= n0.sum(1)  # (M,) the LUT's overall majority (sign(0) = +1)
    decided = n1 != n0
    fill = overall[:, None].expand_as(decided).clone()  # (M, A) bit of ties / unseen addresses
    if unseen == "nearest":
        size = counts.shape[1]
        a = torch.arange(size)
        dist = _popcount(a[:, None] ^ a[None, :])  # (A, A) Hamming distances
        seen = total > 0  # (M, A)
        big = size.bit_length() + 1
        step = max(1, NEAREST_CHUNK // (size * size))
        for m0 in range(0, len(seen), step):  # LUTs in chunks: (m, A, A) temporaries
            sl = slice(m0, m0 + step)
            d = torch.where(seen[sl, None, :], dist[None], big)  # (m, A, A)
            nearest = d == d.min(-1, keepdim=True).values  # seen addresses at min distance
            v1 = (nearest * n1[sl, None, :]).sum(-1)
            v0 = (nearest * n0[sl, None, :]).sum(-1)
            fill[sl] = torch.where(v1 != v0, v1 > v0, fill[sl])
        fill = torch.where(seen.any(1, keepdim=True), fill, overall[:, None])
    bits = torch.where(decided, n1 > n0, fill)
    p = torch.where(total > 0, n1 / total.clamp(min=1), 0.5)
    magnitude = (2 * p - 1).abs().clamp(min=MIN_MAGNITUDE).float()
    values = torch.where(bits, magnitude, -magnitude)
    return bits, values


def _popcount(x: torch.Tensor) -> torch.Tensor:
    count = torch.zeros_like(x)
    while bool(x.any()):
        count += x & 1
        x = x >> 1
    return count


def partial_sum_tables(
    weights: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, share: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """First-stage tables from the teacher's weights alone: the sign of the partial sum.

    LUT ``m`` of teacher neuron ``o`` reads inputs ``S``; its entry for address ``a`` (inputs
    ``x_j`` = bits of ``a``) is ``[scale_o * sum_j w_j (2 x_j - 1) + share_m * offset_o >= 0]``:
    the teacher's eval pre-activation ``z = scale * (w . x) + offset`` restricted to the LUT's
    inputs, with the constant split over the LUTs in proportion ``share_m = sum_S |w| /
    sum_all |w|``.

    Args:
        weights: ``[M, k]`` the teacher weights of each LUT's inputs.
        scale, offset: ``[M]`` the neuron's BatchNorm scale and constant (per LUT).
        share: ``[M]``.

    Returns:
        ``(bits bool [M, 2^k], values [M, 2^k])`` as :func:`majority_tables`.
    """
    m, k = weights.shape
    x = address_bits(k).to(weights.dtype) * 2 - 1  # (A, k)
    z = scale[:, None] * (weights @ x.t()) + (share * offset)[:, None]  # (M, A)
    return signed_tables(z)


def address_bits(k: int) -> torch.Tensor:
    """int64 ``[2^k, k]``: the input bits of every address of a k-input LUT (row ``a``,
    column ``j``: bit ``j`` of ``a``, LUT input ``j``)."""
    return (torch.arange(2**k)[:, None] >> torch.arange(k)[None, :]) & 1


def signed_tables(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Tables from pre-activations ``z [M, 2^k]``: bits ``z >= 0`` and values of that sign,
    ``|z|`` scaled to at most 1 per LUT (at least :data:`MIN_MAGNITUDE`)."""
    bits = z >= 0
    norm = z.abs().amax(1, keepdim=True).clamp(min=1e-12)
    magnitude = (z.abs() / norm).clamp(min=MIN_MAGNITUDE).float()
    return bits, torch.where(bits, magnitude, -magnitude)


def tree_preactivation(
    x: torch.Tensor, wirings: list[torch.Tensor], tables: list[torch.Tensor]
) -> torch.Tensor:
    """Real output ``[R, M_last]`` of a tree of stages on bits ``x [R, F]`` (differentiable).

    Each stage looks its tables up with the multilinear gradient (:func:`lut_lookup`); between
    stages the bits carry the clipped straight-through gradient (:func:`binarize_ste`).  The
    last stage's table values are returned unbinarized: ``>= 0`` is the output bit.
    """
    h = x
    y = x
    for s, (wiring, table) in enumerate(zip(wirings, tables, strict=True)):
        y = lut_lookup(h[:, wiring], table)  # (R, M_s)
        if s + 1 < len(tables):
            h = binarize_ste(y)
    return y


def _hinge(y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    sign = (z >= 0).to(y.dtype) * 2 - 1
    return torch.relu(1 - y * sign).square().mean()


def _mse(y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return (y - z.clamp(-1, 1)).square().mean()


#: local losses of the ``train`` method: the student's last-stage value ``y`` against the
#: teacher's pre-activation ``z``: ``hinge`` on the teacher's bits (squared hinge, margin 1),
#: ``mse`` to ``z`` clipped to [-1, 1]
LOCAL_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "hinge": _hinge,
    "mse": _mse,
}
