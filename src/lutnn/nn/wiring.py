"""Wiring strategies: which previous-layer bits each LUT node reads.

A wiring is an int64 tensor ``inputs`` of shape ``[N, k]``: row ``n`` lists the indices (into the
previous layer's bits) of node ``n``'s inputs ``x_0 .. x_{k-1}``; input ``j`` is address bit ``j``
(see :mod:`lutnn`).  Every strategy here returns rows without repeated indices.

Strategies with the common signature ``fn(in_features, out_features, k, *, seed=0,
generator=None, **options)`` are found through the explicit registry :data:`WIRINGS` /
:func:`get_wiring`:

* ``random``    -- balanced fan-out: every input is used once before any input is used twice.
* ``serial``    -- fixed k->1 trees: node ``n`` reads inputs ``n*k .. n*k+k-1`` (wrapping).
* ``local``     -- (alias ``gauss``) Gaussian neighbourhoods on a 2-D grid, option ``in_shape``.
* ``depthwise`` -- C x H x W input, each node reads within one channel.
* ``pointwise`` -- C x H x W input, each node reads across channels at one pixel.

:func:`weight_order` is data-driven (it reads a teacher weight matrix) and is called directly.

3-D inputs are flattened channel-major: ``index = c*H*W + h*W + w`` (``torch.flatten`` of a
``[C, H, W]`` tensor).

Example:
    >>> from lutnn.nn.wiring import get_wiring
    >>> w = get_wiring("random")(in_features=8, out_features=4, k=3, seed=0)
    >>> w.shape, w.dtype
    (torch.Size([4, 3]), torch.int64)
    >>> sorted(torch.bincount(w.flatten(), minlength=8).tolist())  # 12 slots over 8 inputs
    [1, 1, 1, 1, 2, 2, 2, 2]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from lutnn.errors import LutnnError

__all__ = [
    "WIRINGS",
    "depthwise_wiring",
    "get_wiring",
    "local_wiring",
    "pointwise_wiring",
    "random_wiring",
    "serial_wiring",
    "weight_order",
]


def _generator(seed: int, generator: torch.Generator | None) -> torch.Generator:
    if generator is not None:
        return generator
    return torch.Generator().manual_seed(int(seed))


def _check_sizes(name: str, in_features: int, out_features: int, k: int) -> None:
    for arg, val in (("in_features", in_features), ("out_features", out_features), ("k", k)):
        if not isinstance(val, (int, np.integer)) or isinstance(val, bool) or val < 1:
            raise LutnnError(f"{name} wiring: {arg} must be a positive int, got {val!r}")
    if in_features < k:
        raise LutnnError(
            f"{name} wiring: a node needs k={k} distinct inputs but there are only "
            f"in_features={in_features}; use k <= {in_features} or more inputs"
        )


def _balanced_slots(n_inputs: int, n_slots: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """``n_slots`` (a multiple of ``k``) input indices in rounds of random permutations.

    Every consecutive group of ``k`` slots (one node) holds distinct indices: where a node
    straddles two rounds, the head of the new permutation is repaired by swapping indices already
    used by that node with later ones of the same permutation (so each round stays a permutation).
    """
    assert n_slots % k == 0 and n_inputs >= k
    rounds = []
    used = 0  # slots filled so far
    while used < n_slots:
        perm = torch.randperm(n_inputs, generator=gen)
        r = used % k  # slots of the straddling node already filled from earlier rounds
        if r:
            taken = set(torch.cat(rounds)[-r:].tolist()) if rounds else set()
            head = k - r
            p = perm.tolist()
            free = [i for i in range(head, n_inputs) if p[i] not in taken]
            fi = 0
            for i in range(head):
                if p[i] in taken:  # swap with the next later position holding a fresh index
                    while p[free[fi]] in taken:
                        fi += 1
                    j = free[fi]
                    fi += 1
                    p[i], p[j] = p[j], p[i]
            perm = torch.tensor(p, dtype=torch.int64)
        rounds.append(perm)
        used += n_inputs
    return torch.cat(rounds)[:n_slots]


def random_wiring(
    in_features: int,
    out_features: int,
    k: int,
    *,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random wiring with balanced fan-out.

    The ``out_features * k`` input slots are filled, node after node, from rounds that are each a
    random permutation of all inputs, so fan-outs differ by at most one (every input is read once
    before any is read twice) and no node reads an input twice.

    Args:
        in_features: number of bits of the previous layer (>= k).
        out_features: number of LUT nodes N.
        k: inputs per node.
        seed: seed of a fresh ``torch.Generator`` (ignored when ``generator`` is given).
        generator: random source to draw from instead.

    Returns:
        int64 ``[out_features, k]``.
    """
    _check_sizes("random", in_features, out_features, k)
    gen = _generator(seed, generator)
    return _balanced_slots(in_features, out_features * k, k, gen).reshape(out_features, k)


def serial_wiring(
    in_features: int,
    out_features: int,
    k: int,
    *,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fixed k->1 trees: node ``n`` reads inputs ``(n*k + j) mod in_features``, ``j < k``.

    With ``out_features = ceil(in_features / k)`` (the usual k->1 reduction) every input is read,
    and the last node, when ``in_features`` is not a multiple of ``k``, is padded by wrapping to
    the first inputs (distinct from its own).  More nodes keep wrapping around (fan-outs differ by
    at most one).  Fewer nodes would leave inputs unread, which raises.  ``seed`` and
    ``generator`` are accepted for the common signature and ignored.

    Example:
        >>> serial_wiring(5, 2, 3).tolist()
        [[0, 1, 2], [3, 4, 0]]
    """
    del seed, generator
    _check_sizes("serial", in_features, out_features, k)
    need = math.ceil(in_features / k)
    if out_features < need:
        raise LutnnError(
            f"serial wiring: {out_features} nodes x k={k} cannot read all {in_features} inputs; "
            f"use out_features >= ceil({in_features}/{k}) = {need}"
        )
    slots = torch.arange(out_features * k, dtype=torch.int64) % in_features
    return slots.reshape(out_features, k)


def _grid_shape(name: str, in_features: int, in_shape: Sequence[int] | None, ndim: tuple[int, ...]):
    if in_shape is None:
        raise LutnnError(
            f"{name} wiring needs in_shape ({' or '.join(str(d) + '-D' for d in ndim)}, e.g. "
            f"(C, H, W)); build it with lutnn.nn.wiring.{name}_wiring(..., in_shape=...) and "
            "pass the tensor as `wiring=`"
        )
    shape = tuple(int(s) for s in in_shape)
    if len(shape) not in ndim or min(shape) < 1:
        raise LutnnError(f"{name} wiring: in_shape must be {ndim}-D positive, got {in_shape!r}")
    if math.prod(shape) != in_features:
        raise LutnnError(
            f"{name} wiring: in_shape {shape} holds {math.prod(shape)} bits but "
            f"in_features={in_features}"
        )
    return shape if len(shape) == 3 else (1, *shape)


def local_wiring(
    in_features: int,
    out_features: int,
    k: int,
    *,
    in_shape: Sequence[int] | None = None,
    sigma: float = 1.5,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Local ("gauss") wiring: each node reads k distinct inputs near its position on the grid.

    Node ``n`` sits at pixel ``floor((n + 0.5) * H*W / N)`` in raster order (nodes spread evenly
    over the grid; several per pixel when N > H*W).  Its inputs are drawn as that position plus
    a rounded Gaussian offset (std ``sigma`` pixels, per axis), clamped to the grid, in a uniformly
    drawn channel; duplicates are redrawn.  If 64 draws do not give k distinct inputs (tiny
    ``sigma``), the rest are the nearest unread inputs (by squared distance, then index).

    Args:
        in_shape: ``(C, H, W)`` or ``(H, W)``, flattened channel-major; product = in_features.
        sigma: neighbourhood std in pixels (> 0; use a small value for very local wiring).
    """
    _check_sizes("local", in_features, out_features, k)
    c, h, w = _grid_shape("local", in_features, in_shape, (2, 3))
    if not sigma > 0:
        raise LutnnError(f"local wiring: sigma must be > 0, got {sigma!r}")
    gen = _generator(seed, generator)
    hw = h * w
    pix = ((torch.arange(out_features, dtype=torch.float64) + 0.5) * hw / out_features).long()
    ch, cw = pix // w, pix % w
    # squared distance of every input to every pixel is only built lazily, for the fallback
    yy = torch.arange(in_features) % hw // w
    xx = torch.arange(in_features) % w
    out = torch.empty(out_features, k, dtype=torch.int64)
    for n in range(out_features):
        chosen: list[int] = []
        for _ in range(64):
            need = k - len(chosen)
            off = torch.randn(2, 4 * need, generator=gen) * sigma
            hh = (ch[n] + off[0].round().long()).clamp(0, h - 1)
            ww = (cw[n] + off[1].round().long()).clamp(0, w - 1)
            cc = torch.randint(0, c, (4 * need,), generator=gen)
            for idx in (cc * hw + hh * w + ww).tolist():
                if idx not in chosen:
                    chosen.append(idx)
                    if len(chosen) == k:
                        break
            if len(chosen) == k:
                break
        if len(chosen) < k:
            d2 = (yy - ch[n]) ** 2 + (xx - cw[n]) ** 2
            d2[torch.tensor(chosen, dtype=torch.int64)] = torch.iinfo(torch.int64).max
            order = torch.argsort(d2, stable=True)
            chosen += order[: k - len(chosen)].tolist()
        out[n] = torch.tensor(chosen, dtype=torch.int64)
    return out


def depthwise_wiring(
    in_features: int,
    out_features: int,
    k: int,
    *,
    in_shape: Sequence[int] | None = None,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Depthwise wiring for a ``(C, H, W)`` input: every node reads within one channel.

    Node ``n`` reads channel ``floor(n * C / N)`` (contiguous blocks of nodes per channel, so a
    channel-major output keeps channels apart); inside the channel, the block's inputs are
    :func:`random_wiring` over the channel's ``H*W`` bits (balanced, distinct per node).
    With N < C some channels are not read.  Needs ``H*W >= k``.
    """
    _check_sizes("depthwise", in_features, out_features, k)
    c, h, w = _grid_shape("depthwise", in_features, in_shape, (3,))
    if h * w < k:
        raise LutnnError(f"depthwise wiring: a channel has H*W={h * w} bits < k={k}")
    gen = _generator(seed, generator)
    chan = torch.arange(out_features) * c // out_features
    out = torch.empty(out_features, k, dtype=torch.int64)
    for ci in range(c):
        rows = (chan == ci).nonzero().flatten()
        if len(rows):
            out[rows] = random_wiring(h * w, len(rows), k, generator=gen) + ci * h * w
    return out


def pointwise_wiring(
    in_features: int,
    out_features: int,
    k: int,
    *,
    in_shape: Sequence[int] | None = None,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pointwise wiring for a ``(C, H, W)`` input: every node reads k channels at one pixel.

    Node ``n`` sits at pixel ``floor(n * H*W / N)`` (contiguous blocks of nodes per pixel); the
    block's channels are :func:`random_wiring` over the ``C`` channels (balanced, distinct per
    node), i.e. indices ``c*H*W + pixel``.  Needs ``C >= k``.
    """
    _check_sizes("pointwise", in_features, out_features, k)
    c, h, w = _grid_shape("pointwise", in_features, in_shape, (3,))
    if c < k:
        raise LutnnError(f"pointwise wiring: C={c} channels < k={k}")
    gen = _generator(seed, generator)
    hw = h * w
    pix = torch.arange(out_features) * hw // out_features
    out = torch.empty(out_features, k, dtype=torch.int64)
    for p in pix.unique().tolist():
        rows = (pix == p).nonzero().flatten()
        out[rows] = random_wiring(c, len(rows), k, generator=gen) * hw + p
    return out


def weight_order(W: torch.Tensor | np.ndarray, k: int, luts_per_neuron: int) -> torch.Tensor:
    """Wire LUTs to a teacher neuron's largest-|w| inputs (BinaryBrain's ``argsort(-|W|)``).

    For teacher neuron ``o`` (row of ``W``), inputs are ranked by decreasing ``|W[o, i]|``, ties
    broken by the lower index; LUT ``l`` of that neuron reads ranks ``l*k .. l*k+k-1`` (input 0 =
    the higher rank).  The LUTs of neuron ``o`` are rows ``o*luts_per_neuron ..
    (o+1)*luts_per_neuron - 1`` of the result.

    Args:
        W: teacher weights ``[out, in]`` (finite).
        k: inputs per LUT.
        luts_per_neuron: LUTs per teacher neuron; ``luts_per_neuron * k <= in``.

    Returns:
        int64 ``[out * luts_per_neuron, k]``.

    Example:
        >>> weight_order(torch.tensor([[0.1, -3.0, 2.0, 0.0]]), k=2, luts_per_neuron=2).tolist()
        [[1, 2], [0, 3]]
    """
    w = W.detach().cpu().numpy() if isinstance(W, torch.Tensor) else np.asarray(W)
    if w.ndim != 2:
        raise LutnnError(f"weight_order: W must be 2-D [out, in], got shape {tuple(w.shape)}")
    if not np.all(np.isfinite(w)):
        raise LutnnError("weight_order: W holds NaN or infinite values")
    n_out, n_in = w.shape
    if k < 1 or luts_per_neuron < 1:
        raise LutnnError(
            f"weight_order: k and luts_per_neuron must be >= 1, got {k}, {luts_per_neuron}"
        )
    if luts_per_neuron * k > n_in:
        raise LutnnError(
            f"weight_order: luts_per_neuron * k = {luts_per_neuron} * {k} exceeds the "
            f"{n_in} inputs of W"
        )
    order = np.argsort(-np.abs(w.astype(np.float64)), axis=1, kind="stable")
    order = order[:, : luts_per_neuron * k]
    return torch.from_numpy(order.reshape(n_out * luts_per_neuron, k).astype(np.int64))


#: name -> strategy with the common signature ``fn(in_features, out_features, k, *, seed,
#: generator, **options)``.  Explicit; nothing registers itself at import time.
WIRINGS: dict[str, Callable[..., torch.Tensor]] = {
    "random": random_wiring,
    "serial": serial_wiring,
    "local": local_wiring,
    "gauss": local_wiring,
    "depthwise": depthwise_wiring,
    "pointwise": pointwise_wiring,
}


def get_wiring(name: str) -> Callable[..., torch.Tensor]:
    """The wiring strategy registered under ``name`` (raises :class:`LutnnError` if unknown)."""
    try:
        return WIRINGS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(WIRINGS))
        raise LutnnError(f"unknown wiring {name!r}; known wirings: {known}") from None
