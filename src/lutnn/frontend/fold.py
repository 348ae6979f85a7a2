"""The exact BatchNorm + sign -> integer threshold fold (the front end's one torch computation).

A binarized teacher neuron computes, in float32, ``s = sum_j w_j x_j`` over its ``F_n``
connected inputs (w, x in {-1, +1}) plus a constant ``offset`` (the contribution of padding
inputs, whose bit is 0, i.e. value -1), so ``s = 2 * count - F_n + offset`` where ``count`` is
the XNOR popcount of :class:`~lutnn.ir.ThresholdLayer`.  Then
``z = batch_norm(s)`` (eval mode) and ``bit = z >= 0`` (sign(0) = +1).  Because ``bit`` depends
on ``count`` alone and ``count`` takes only ``F_n + 1`` values, the whole neuron is
``(count >= t) XOR invert`` for some integer ``t``.

Why enumerate instead of solving ``2c - F + offset >= mean - beta * sqrt(var + eps) / gamma``:
the algebraic threshold is computed in a different order (and usually another precision) than
PyTorch's eval kernel, which evaluates ``z = s * alpha + (beta - mean * alpha)`` with
``alpha = gamma / sqrt(var + eps)``, each step rounded to float32.  Near a tie, or with a huge
mean or a tiny gamma, those roundings decide the bit, and algebra lands one count off (or on
the wrong side of z == 0).  :func:`fold_batchnorm_sign` instead pushes every count 0..F_n
through the very same ``torch.nn.functional.batch_norm`` call the teacher makes in eval (a
contiguous ``[F + 1, N]`` float32 tensor, the layout of ``BatchNorm1d`` on ``[B, N]``; the CPU
kernel computes every element with the same per-channel formula whatever the batch size or the
element's position), reads the bits, and only then finds ``t``: exact by construction for any
gamma sign, zero gamma, ties and extreme statistics.  Rounding is monotonic, so for fixed
(finite or infinite) per-channel alpha and beta the bits are still a step function of the
count; :func:`threshold_from_outputs` checks it anyway and raises if not.
"""

from __future__ import annotations

import numpy as np
import torch

_EXACT_F32 = 2**24  # integers below this are exact in float32


def threshold_from_outputs(
    bits_by_count: np.ndarray, fan_in: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Find ``t`` and ``invert`` with ``out(count) = (count >= t) XOR invert`` for each neuron.

    Canonical form: a neuron whose output changes once at count ``c`` gets ``t = c`` (1..F_n),
    ``invert = False`` if it rises (0 -> 1) and ``True`` if it falls; a constant neuron gets
    ``t = 0`` with ``invert = False`` for constant 1 and ``invert = True`` for constant 0
    (``t = 0`` never depends on the fan-in, so it stays valid after padding).

    Args:
        bits_by_count: bool [N, F + 1]; entry ``[n, c]`` is neuron n's output for count c.
        fan_in: int [N], each in 0..F: neuron n's outputs are read for counts 0..fan_in[n]
            only (the rest are ignored).  None: every neuron has fan-in F.

    Returns:
        thresholds int32 [N] (each in 0..fan_in[n]) and invert bool [N].

    Raises:
        ValueError: wrong shapes, or a neuron's output is not a step function of the count
            (the message names the first such neuron).

    Example:
        >>> t, inv = threshold_from_outputs(np.array([[0, 0, 1], [1, 0, 0], [0, 0, 0]], bool))
        >>> t.tolist(), inv.tolist()
        ([2, 1, 0], [False, True, True])
    """
    bits = np.asarray(bits_by_count)
    if bits.ndim != 2 or bits.shape[1] < 1:
        raise ValueError(f"bits_by_count must be [N, F + 1] with F >= 0, got shape {bits.shape}")
    if bits.dtype != np.bool_:
        if not np.isin(bits, (0, 1)).all():
            raise ValueError("bits_by_count must hold bools (or 0/1)")
        bits = bits.astype(np.bool_)
    n, width = bits.shape
    if fan_in is None:
        fan = np.full(n, width - 1, dtype=np.int64)
    else:
        fan = np.asarray(fan_in).astype(np.int64)
        if fan.shape != (n,) or (n and (fan.min() < 0 or fan.max() > width - 1)):
            raise ValueError(f"fan_in must be [{n}] integers in 0..{width - 1}")
    valid = np.arange(1, width)[None, :] <= fan[:, None]  # (N, F): count c >= 1 is read
    change = (bits[:, 1:] != bits[:, :-1]) & valid  # (N, F): output differs from count c - 1
    n_changes = change.sum(axis=1)
    bad = np.flatnonzero(n_changes > 1)
    if bad.size:
        i = int(bad[0])
        row = "".join("1" if b else "0" for b in bits[i, : fan[i] + 1])
        more = f" (and {bad.size - 1} more)" if bad.size > 1 else ""
        raise ValueError(
            f"neuron {i}: output is not a step function of the count (outputs for counts "
            f"0..{fan[i]}: {row}){more}"
        )
    first = bits[:, 0]
    step = n_changes == 1
    where = change.argmax(axis=1) + 1 if width > 1 else np.zeros(n, np.int64)  # first change
    thresholds = np.where(step, where, 0).astype(np.int32)
    invert = np.where(step, first, ~first)
    return thresholds, invert


def _per_neuron(name: str, value, n: int, dtype: torch.dtype, device) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(value) if not torch.is_tensor(value) else value)
    t = t.detach().to(device=device, dtype=dtype)
    if t.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {tuple(t.shape)}")
    return t.contiguous()


def fold_batchnorm_sign(
    fan_in,
    offset,
    running_mean,
    running_var,
    weight,
    bias,
    eps: float,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Fold eval-mode BatchNorm + sign after a ±1 dot product into integer thresholds.

    For neuron n: ``s = 2 * count - fan_in[n] + offset[n]``; ``z = batch_norm(s)``;
    ``bit = z >= 0``.  Every count 0..fan_in[n] is evaluated through
    ``torch.nn.functional.batch_norm(..., training=False)`` (see the module docstring for why),
    so the result equals the teacher bit for bit.

    Exactness condition: ``s`` must be what the teacher feeds the BatchNorm.  That holds exactly
    when ``offset`` is an integer (the ±1 contributions of padding inputs) and the teacher's
    dot product has no float bias, since every partial sum is then an exact integer.  A
    non-integer ``offset`` is added in one float32 rounding, ``float32(2c - F) + offset``; fold
    a Linear bias into ``running_mean`` instead to stay exact.

    Args:
        fan_in: int [N], connected inputs per neuron (the count runs over 0..fan_in[n]).
        offset: [N], constant added to the dot product (0 without padding).
        running_mean, running_var: [N] BatchNorm statistics.
        weight, bias: [N] BatchNorm affine parameters (gamma, beta), or None (affine=False).
        eps: the BatchNorm eps.
        dtype: the dtype the teacher evaluates the BatchNorm in.
        device: the device whose kernel the teacher uses (CPU by default).

    Returns:
        thresholds int32 [N] and invert bool [N], in the canonical form of
        :func:`threshold_from_outputs` (negative gamma gives ``invert``; zero gamma a constant).

    Example:
        >>> t, inv = fold_batchnorm_sign([4], [0], [0.0], [1.0], [-1.0], [0.0], 1e-5)
        >>> t.tolist(), inv.tolist()  # z >= 0 iff s = 2c - 4 <= 0 iff not (c >= 3)
        ([3], [True])
    """
    fan = np.asarray(fan_in)
    if fan.ndim != 1 or not np.issubdtype(fan.dtype, np.integer) or (fan.size and fan.min() < 0):
        raise ValueError(f"fan_in must be a 1-D array of non-negative integers, got {fan!r}")
    fan = fan.astype(np.int64)
    n = fan.shape[0]
    f_max = int(fan.max()) if n else 0
    if 2 * f_max >= _EXACT_F32:
        raise ValueError(f"fan-in {f_max} too large for an exact float32 count")
    off = _per_neuron("offset", offset, n, dtype, device)
    mean = _per_neuron("running_mean", running_mean, n, dtype, device)
    var = _per_neuron("running_var", running_var, n, dtype, device)
    gamma = None if weight is None else _per_neuron("weight", weight, n, dtype, device)
    beta = None if bias is None else _per_neuron("bias", bias, n, dtype, device)

    counts = torch.arange(f_max + 1, dtype=dtype, device=device)[:, None]  # (F + 1, 1)
    fan_t = torch.as_tensor(fan, dtype=dtype, device=device)[None, :]  # (1, N)
    s = (2 * counts - fan_t) + off[None, :]  # (F + 1, N): exact integers, then + offset
    with torch.no_grad():
        z = torch.nn.functional.batch_norm(
            s.contiguous(), mean, var, gamma, beta, training=False, momentum=0.0, eps=eps
        )  # (F + 1, N)
    bits = (z >= 0).T.cpu().numpy()  # (N, F + 1); NaN gives 0, as in the teacher
    return threshold_from_outputs(bits, fan)
