"""A foreign op chain (:mod:`lutnn.interop.graph`) as lutnn blocks: the exact mapping.

* **Input quantizer -> encoder.**  The ops before the first layer run on every pixel value
  0..255 (fed as ``to_input(pixel)``, the ``--input-range`` mapping); they must give two
  values, bit 1 for the larger, switching once at the same pixel value ``t`` everywhere:
  lutnn's encoder ``pixel >= t``.
* **Layer + BN + activation -> BinaryLinear (or a LoweredConv2d around one).**  A layer's
  weights must be 1-bit: per output ``n`` one magnitude ``alpha_n`` (``+-alpha_n``, or 0 =
  unconnected).  Its input values are ``low + bit * (high - low)``, so its output is a
  function of the XNOR count ``c`` (connected inputs whose bit agrees with the weight's
  sign) alone: ``y_n(c) = alpha_n * ((high + low) / 2 * sum(sign_n) + (high - low) / 2 *
  (2c - F_n)) + bias_n``.  Every count ``0..F_n`` is pushed through the source's own ops after
  the layer (its BatchNorm, scale, quantizer...: :attr:`Elementwise.apply`); they must give
  two values (a 1-bit activation), and bit ``[out == larger]`` as a step in ``c`` becomes a
  lutnn BatchNorm whose sign is that step (``threshold_from_outputs``, then
  :func:`batchnorm_of_step`).  Exact by construction where ``y_n(c)`` is what the source
  computes; the source sums in float32 in its own order, so :mod:`lutnn.interop.verify`
  compares the two on data.
* **Max pool -> BinaryMaxPool2d** (the max of two values is the OR of their bits), after an
  activation only.  **Flatten -> Flatten** (both channel-major).
* **Padding** of a convolution is the value 0; lutnn pads with bit 0, so a padded
  convolution is exact only when its input's low value is 0 (a ``{0, x}`` activation).
* **The last layer -> the class head.**  Its scores per class are a function of that
  class's count.  When every class has the same strictly monotone function (no per-class
  bias or BN: a plain ``QuantLinear``, or one scale for all), each class's bits are its
  XNOR agreements, one 1-input neuron per weight, whose popcount orders the classes as the
  scores do (``head: xnor``, ``fan-in`` bits per class).  Otherwise the head *ranks*: the
  distinct score values of all classes are cut where two classes must be told apart, and
  class ``c``'s bit ``j`` is ``score_c >= cut_j``, so the popcount is the score's rank
  among the cuts (``head: ranked``): exact, with equal scores still equal (lowest class
  wins the tie in both), but up to classes x (fan-in + 1) bits per class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from lutnn.errors import LutnnError
from lutnn.frontend.fold import threshold_from_outputs
from lutnn.interop.graph import Elementwise, Flatten, ForeignNet, Linear, Pool, refuse
from lutnn.models import ImportedConfig, build_imported
from lutnn.nn.binary import BinaryLinear

#: the largest head (neurons x inputs) the ranked head may build
MAX_HEAD_WEIGHTS = 50_000_000
#: pre-activations every layer's ops also see, to count its activation's output values
PROBES = np.concatenate([-np.logspace(8, -8, 100), [0.0], np.logspace(-8, 8, 100)])


@dataclass(frozen=True)
class Folded:
    """One lutnn BinaryLinear's arrays: ``sign`` int8 ``[N, S]`` over its S input slots
    (0: unconnected), BatchNorm ``mean``, ``gamma``, ``beta`` float32 ``[N]``."""

    sign: np.ndarray
    mean: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray

    @property
    def sparse(self) -> bool:
        """Some neuron reads part of its slots: the layer needs a ``connections`` mask."""
        fan = (self.sign != 0).sum(1)
        return bool(((fan > 0) & (fan < self.sign.shape[1])).any())


@dataclass(frozen=True)
class Tap:
    """Where a bit of the original is compared with a lutnn block's output: the original's
    op ``key`` (values ``low`` / ``high``) against block ``block`` of the lutnn model."""

    block: int
    key: str
    label: str
    low: float
    high: float


@dataclass
class Imported:
    """The lutnn teacher of a foreign net: its config, weights, the taps to compare, and the
    head's kind (``xnor`` or ``ranked``) and bits per class."""

    config: ImportedConfig
    model: torch.nn.Sequential
    taps: list[Tap]
    head: dict
    layers: list[str] = field(default_factory=list)


def batchnorm_of_step(t: np.ndarray, invert: np.ndarray, fan: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BatchNorm ``mean``, ``gamma``, ``beta`` (``var`` 1) whose sign over the XNOR sum
    ``s = 2c - F`` is ``(c >= t) XOR invert`` (the canonical form of
    ``threshold_from_outputs``: ``t = 0`` a constant).

    ``mean = 2t - F - 1`` sits between two sums (they step by 2), so ``s - mean`` is an odd
    integer and no rounding reaches 0; ``gamma = -1`` inverts; a constant has ``gamma = 0``
    and ``beta = +-1``.

    Example:
        >>> m, g, b = batchnorm_of_step(np.array([2, 0]), np.array([False, True]),
        ...                             np.array([3, 3]))
        >>> m.tolist(), g.tolist(), b.tolist()
        ([0.0, 0.0], [1.0, 0.0], [0.0, -1.0])
    """
    step = t > 0
    mean = np.where(step, 2 * t - fan - 1, 0).astype(np.float32)
    gamma = np.where(step, np.where(invert, -1.0, 1.0), 0.0).astype(np.float32)
    beta = np.where(step, 0.0, np.where(invert, -1.0, 1.0)).astype(np.float32)
    return mean, gamma, beta


def binary_weights(op: Linear) -> tuple[np.ndarray, np.ndarray]:
    """``sign`` int8 ``[N, S]`` and ``alpha`` float64 ``[N]`` of a 1-bit layer.

    Raises:
        LutnnError: an output whose nonzero weights have more than one magnitude.
    """
    w = op.weight.reshape(op.weight.shape[0], -1)
    mag = np.abs(w)
    alpha = mag.max(axis=1) if w.size else np.zeros(w.shape[0])
    ok = (mag == alpha[:, None]) | (mag == 0)
    if not ok.all():
        n = int(np.flatnonzero(~ok.all(axis=1))[0])
        kinds = np.unique(mag[n][mag[n] > 0]).size
        raise refuse(op.label, f"its weights are not 1-bit: output {n} has {kinds} different "
                     "magnitudes; lutnn imports weights of one magnitude per output (+-alpha, "
                     "or 0)")
    return np.sign(w).astype(np.int8), alpha.astype(np.float64)


def _sums(op: Linear, sign: np.ndarray, alpha: np.ndarray, low: float, high: float
          ) -> np.ndarray:
    """The layer's output for every XNOR count: float32 ``[Fmax + 1, N]`` (count ``c`` of
    neuron ``n`` at row ``c``; rows past its fan-in repeat its full count)."""
    fan = (sign != 0).sum(1)
    count = np.minimum(np.arange(int(fan.max(initial=0)) + 1)[:, None], fan[None, :])
    s = 2.0 * count - fan[None, :]  # (Fmax + 1, N)
    y = alpha * ((high + low) / 2 * sign.sum(1) + (high - low) / 2 * s)
    if op.bias is not None:
        y = y + op.bias.astype(np.float64)
    return y.astype(np.float32)


def _run(post: list[Elementwise], y: np.ndarray, conv: bool) -> np.ndarray:
    """The source's ops after a layer on ``y`` ``[S, N]`` (as ``[S, N, 1, 1]`` after a
    convolution), as float64 ``[S, N]``."""
    value = y[:, :, None, None] if conv else y
    for op in post:
        out = np.asarray(op.apply(value))
        if out.shape != value.shape:
            raise refuse(op.label, f"changes the shape {list(value.shape)} -> "
                         f"{list(out.shape)}: lutnn imports Linear, Conv2d, MaxPool2d, Flatten "
                         "and elementwise ops (BatchNorm, scales, 1-bit quantizers) between them")
        value = out
    return value.reshape(y.shape).astype(np.float64)


def _two_values(post: list[Elementwise], label: str, *arrays: np.ndarray
                ) -> tuple[float, float]:
    for op in post:
        if op.bits is not None and op.bits > 1:
            raise refuse(op.label, f"a {op.bits}-bit activation; lutnn imports 1-bit "
                         "activations")
    values = np.unique(np.concatenate([a.ravel() for a in arrays]))
    if values.size > 2:
        raise refuse(label, f"its output takes {values.size} values, not 2: lutnn needs a "
                     "1-bit activation (one scale per layer) after every layer but the last, "
                     "before any pooling")
    return float(values[0]), float(values[-1])


def _steps(bits: np.ndarray, fan: np.ndarray, label: str) -> tuple[np.ndarray, np.ndarray]:
    """``threshold_from_outputs`` of ``bits`` ``[Fmax + 1, N]``, its error as a refusal."""
    try:
        return threshold_from_outputs(bits.T, fan)
    except ValueError as exc:
        raise refuse(label, f"{exc}; it is not a threshold of its XNOR sum") from None


def fold_layer(op: Linear, post: list[Elementwise], low: float, high: float
               ) -> tuple[Folded, float, float]:
    """A hidden layer and the ops after it as one BinaryLinear; also the two output values
    (low, high) of its activation."""
    sign, alpha = binary_weights(op)
    fan = (sign != 0).sum(1)
    conv = op.conv is not None
    if conv and any(op.conv.padding) and low != 0:
        raise refuse(op.label, f"pads with 0, which is neither of its input values {low:g} and "
                     f"{high:g}: lutnn pads with bit 0; use padding 0, or a {{0, x}} "
                     "activation before it")
    label = post[-1].label if post else op.label
    out = _run(post, _sums(op, sign, alpha, low, high), conv)
    probes = np.repeat(PROBES[:, None], sign.shape[0], axis=1).astype(np.float32)
    v0, v1 = _two_values(post, label, out, _run(post, probes, conv))
    t, invert = _steps(out == v1, fan, label)
    return Folded(sign, *batchnorm_of_step(t, invert, fan)), v0, v1


def _xnor_head(sign: np.ndarray, decreasing: bool) -> Folded:
    """One 1-input neuron per weight: class c's bit i is input i's agreement with its
    weight (its disagreement where the scores fall with the count); 0 where unconnected."""
    classes, slots = sign.shape
    rows = np.zeros((classes, slots, slots), np.int8)
    rows[:, np.arange(slots), np.arange(slots)] = sign  # (C, S, S): row (c, i) reads input i
    rows = rows.reshape(classes * slots, slots)
    fan = (rows != 0).sum(1)
    t = np.where(fan > 0, 1, 0)
    invert = np.where(fan > 0, decreasing, True)
    return Folded(rows, *batchnorm_of_step(t, invert, fan))


def rank_cuts(scores: list[np.ndarray]) -> np.ndarray:
    """The fewest cut values that separate every two scores of different classes.

    ``scores[c]`` holds the values class ``c`` can take.  Going up through the distinct
    values, a cut goes at value ``u`` when a class reaching ``u`` differs from one seen
    since the last cut; so for ``p < q`` of different classes some cut lies in ``(p, q]``,
    and equal values are never cut apart.  ``#{cuts <= score}`` then orders the classes'
    scores exactly, ties included.

    Example:
        >>> rank_cuts([np.array([0.0, 2.0]), np.array([1.0, 2.0])]).tolist()
        [1.0, 2.0]
    """
    value = np.concatenate(scores)
    owner = np.concatenate([np.full(len(s), c) for c, s in enumerate(scores)])
    cuts, seen = [], set()
    for u in np.unique(value):
        here = set(owner[value == u].tolist())
        if seen and any(a != b for a in seen for b in here):
            cuts.append(u)
            seen = here
        else:
            seen |= here
    return np.asarray(cuts, np.float64)


def _ranked_head(sign: np.ndarray, scores: np.ndarray, label: str) -> Folded:
    """Class c's bit j = ``score_c >= cut_j`` (:func:`rank_cuts`), a threshold of c's sum."""
    fan = (sign != 0).sum(1)
    per_class = []
    for c in range(sign.shape[0]):
        v = scores[: fan[c] + 1, c]
        if (np.diff(v) > 0).any() and (np.diff(v) < 0).any():
            raise refuse(label, f"class {c}'s score is not monotone in its XNOR sum, so no "
                         "popcount head can order it")
        per_class.append(v)
    cuts = rank_cuts(per_class)
    groups = max(len(cuts), 1)
    if sign.shape[0] * groups * sign.shape[1] > MAX_HEAD_WEIGHTS:
        raise refuse(label, f"its per-class scores need {groups} bits per class to rank "
                     "exactly, too large a head; fold the per-class BN or bias away")
    bits = scores[:, :, None] >= cuts[None, None, :]  # (Fmax + 1, C, cuts)
    if not len(cuts):
        bits = np.zeros((scores.shape[0], sign.shape[0], 1), bool)
    bits = bits.reshape(scores.shape[0], -1)  # column c * groups + j
    rows_fan = np.repeat(fan, groups)
    t, invert = _steps(bits, rows_fan, label)
    return Folded(np.repeat(sign, groups, axis=0), *batchnorm_of_step(t, invert, rows_fan))


def fold_head(op: Linear, post: list[Elementwise], low: float, high: float,
              num_classes: int) -> tuple[Folded, dict]:
    """The last layer and the ops after it as the head's BinaryLinear (``xnor`` or
    ``ranked``, see the module doc); also the head record."""
    if op.conv is not None:
        raise refuse(op.label, "the last layer is a convolution; lutnn's class head reads "
                     "the scores of a fully connected layer")
    if op.weight.shape[0] != num_classes:
        raise refuse(op.label, f"it gives {op.weight.shape[0]} class scores and the data has "
                     f"{num_classes} classes")
    sign, alpha = binary_weights(op)
    fan = (sign != 0).sum(1)
    label = post[-1].label if post else op.label
    scores = _run(post, _sums(op, sign, alpha, low, high), False)  # (Fmax + 1, C)
    step = np.diff(scores[:, 0])
    same = (fan == fan[0]).all() and (scores == scores[:, :1]).all() and fan[0] > 0
    if same and ((step > 0).all() or (step < 0).all()):
        folded = _xnor_head(sign, decreasing=bool((step < 0).all()))
        kind = "xnor"
    else:
        folded, kind = _ranked_head(sign, scores, label), "ranked"
    groups = folded.sign.shape[0] // num_classes
    return folded, {"kind": kind, "bits_per_class": groups, "layer": op.label}


def _encoder(prefix: list, first: Linear, input_shape: tuple[int, ...],
             to_input: Callable[[np.ndarray], np.ndarray]) -> tuple[int, float, float]:
    """The input quantizer (the ops before the first layer) as ``pixel >= t``; returns
    ``t`` and the two values it gives."""
    quant = [op for op in prefix if isinstance(op, Elementwise)]
    for op in prefix:
        if isinstance(op, Pool):
            raise refuse(op.label, "pools the raw input; lutnn's first layer reads bits, so a "
                         "1-bit input quantizer comes first")
    if not quant:
        raise refuse(first.label, "reads the raw input: lutnn's first layer reads bits; put a "
                     "1-bit input quantizer (QuantIdentity with bit_width=1, or a sign) "
                     "before it")
    label = quant[-1].label
    for op in quant:
        if op.bits is not None and op.bits > 1:
            raise refuse(op.label, f"the input quantizer has {op.bits} bits; lutnn's first "
                         "layer reads 1-bit inputs")
    pixels = np.arange(256)
    value = np.broadcast_to(to_input(pixels).reshape(256, *[1] * len(input_shape)),
                            (256, *input_shape)).copy()
    for op in prefix:
        value = value.reshape(256, -1) if isinstance(op, Flatten) else np.asarray(
            op.apply(value))
    value = value.reshape(256, -1).astype(np.float64)
    values = np.unique(value)
    if values.size != 2:
        raise refuse(label, f"the input quantizer gives {values.size} value(s) on pixels "
                     "0..255 (with this --input-range), not 2: lutnn's first layer reads bits")
    bits = value == values[1]  # (256, P)
    if (np.diff(bits.astype(np.int8), axis=0) < 0).any():
        raise refuse(label, "the input quantizer gives bit 1 to a darker pixel than bit 0; "
                     "lutnn's encoder is pixel >= threshold")
    t = 256 - bits.sum(axis=0)  # (P,) the first pixel value with bit 1
    if (t != t[0]).any():
        raise refuse(label, "the input quantizer compares pixels with different thresholds "
                     f"({int(t.min())}..{int(t.max())}); lutnn's encoder uses one")
    return int(t[0]), float(values[0]), float(values[1])


def _remap(ops: list[Elementwise], shape: tuple[int, ...], low: float, high: float
           ) -> tuple[float, float]:
    """Elementwise ops between blocks (after a pool or flatten): the new two values, which
    must keep their order."""
    both = np.stack([np.full(shape, low, np.float32), np.full(shape, high, np.float32)])
    for op in ops:
        both = np.asarray(op.apply(both))
    lo, hi = np.unique(both[0]), np.unique(both[1])
    if lo.size != 1 or hi.size != 1 or (hi[0] < lo[0]) or (hi[0] == lo[0] and high != low):
        raise refuse(ops[-1].label, "maps the bits between layers to other values per position "
                     "or swaps them; lutnn keeps bit 1 as the larger value")
    return float(lo[0]), float(hi[0])


@dataclass
class _Walk:
    """The conversion's state: the shape of the values (``[C, H, W]`` or ``[F]``), their two
    values, the layer entries, folded layers and taps so far, the next block's index."""

    shape: tuple[int, ...]
    low: float
    high: float
    block: int
    layers: list[str] = field(default_factory=list)
    folded: list[Folded] = field(default_factory=list)
    taps: list[Tap] = field(default_factory=list)


def _layer_entry(op: Linear, folded: Folded, walk: _Walk) -> str:
    sparse = " sparse=1" if folded.sparse else ""
    n = folded.sign.shape[0]
    if op.conv is None:
        if len(walk.shape) != 1:
            raise refuse(op.label, f"a fully connected layer reads an image {list(walk.shape)}; "
                         "lutnn needs a flatten before it")
        if folded.sign.shape[1] != walk.shape[0]:
            raise refuse(op.label, f"reads {folded.sign.shape[1]} inputs, the layer before "
                         f"gives {walk.shape[0]}")
        walk.shape = (n,)
        return f"dense out={n}{sparse}"
    if len(walk.shape) != 3:
        raise refuse(op.label, "a convolution reads a flat vector; lutnn convolves images")
    c, h, w = walk.shape
    _, cg, kh, kw = op.weight.shape
    (sh, sw), (ph, pw), g = op.conv.stride, op.conv.padding, op.conv.groups
    if cg * g != c:
        raise refuse(op.label, f"reads {cg * g} channels, the layer before gives {c}")
    walk.shape = (n, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)
    return (f"conv out={n} kernel={kh}x{kw} stride={sh}x{sw} padding={ph}x{pw} "
            f"groups={g}{sparse}")


def _between(op: Pool | Flatten, walk: _Walk) -> None:
    """A pool or flatten after an activation."""
    if isinstance(op, Pool):
        if len(walk.shape) != 3:
            raise refuse(op.label, "pools a flat vector; lutnn pools images")
        (kh, kw), (sh, sw) = op.kernel, op.stride
        c, h, w = walk.shape
        walk.shape = (c, (h - kh) // sh + 1, (w - kw) // sw + 1)
        walk.layers.append(f"pool kernel={kh}x{kw} stride={sh}x{sw}")
        walk.taps.append(Tap(walk.block, op.key, op.label, walk.low, walk.high))
        walk.block += 1
    elif len(walk.shape) == 3:  # a flatten of an image (of a flat vector it changes nothing)
        walk.shape = (int(np.prod(walk.shape)),)
        walk.layers.append("flatten")
        walk.block += 1


def convert(net: ForeignNet, input_shape: tuple[int, ...], num_classes: int,
            to_input: Callable[[np.ndarray], np.ndarray]) -> Imported:
    """The lutnn teacher of ``net`` for images of ``input_shape`` (see the module doc).

    Raises:
        LutnnError: an op that cannot map exactly, named, with the reason.
    """
    ops = list(net.ops)
    first = next((i for i, op in enumerate(ops) if isinstance(op, Linear)), None)
    if first is None:
        raise LutnnError("the network has no Linear or Conv2d layer to import")
    threshold, low, high = _encoder(ops[:first], ops[first], input_shape, to_input)
    flat = any(isinstance(op, Flatten) for op in ops[:first])
    walk = _Walk(shape=(int(np.prod(input_shape)),) if flat else tuple(input_shape),
                 low=low, high=high, block=2 if flat else 1, layers=["flatten"] if flat else [])
    walk.taps.append(Tap(0, ops[first - 1].key, ops[first - 1].label, low, high))
    i, head = first, None
    while i < len(ops):
        op = ops[i]
        if isinstance(op, Linear):
            j = i + 1
            while j < len(ops) and isinstance(ops[j], Elementwise):
                j += 1
            post = ops[i + 1:j]
            if j == len(ops):
                head, record = fold_head(op, post, walk.low, walk.high, num_classes)
                walk.layers.append(_layer_entry(op, head, walk))
                walk.folded.append(head)
                break
            folded, v0, v1 = fold_layer(op, post, walk.low, walk.high)
            walk.layers.append(_layer_entry(op, folded, walk))
            walk.folded.append(folded)
            walk.taps.append(Tap(walk.block, ops[j - 1].key, ops[j - 1].label, v0, v1))
            walk.low, walk.high, walk.block, i = v0, v1, walk.block + 1, j
            continue
        if isinstance(op, Elementwise):
            j = i
            while j < len(ops) and isinstance(ops[j], Elementwise):
                j += 1
            walk.low, walk.high = _remap(ops[i:j], walk.shape, walk.low, walk.high)
            i = j
            continue
        _between(op, walk)
        i += 1
    if head is None:
        raise refuse(ops[-1].label, "the network ends here, not in a fully connected layer "
                     "giving class scores")
    groups = head.sign.shape[0] // num_classes
    config = ImportedConfig(threshold=threshold, layers=tuple(walk.layers),
                            tau=max(1.0, groups / 30))
    model = build_imported(config, tuple(input_shape), num_classes)
    _load(model, walk.folded)
    return Imported(config, model.eval(), walk.taps, record, list(walk.layers))


@torch.no_grad()
def _load(model: torch.nn.Sequential, folded: list[Folded]) -> None:
    """Each BinaryLinear of ``model`` (in order) takes its folded arrays."""
    linears = [m for m in model.modules() if isinstance(m, BinaryLinear)]
    assert len(linears) == len(folded), (len(linears), len(folded))
    for layer, f in zip(linears, folded, strict=True):
        sign = torch.from_numpy(f.sign.astype(np.float32))
        layer.weight.copy_(torch.where(sign == 0, 1.0, sign))  # sign(0) = +1, masked or constant
        if layer.connections is not None:
            layer.connections.copy_(sign.abs())
        layer.bn.running_mean.copy_(torch.from_numpy(f.mean))
        layer.bn.running_var.fill_(1.0)
        layer.bn.weight.copy_(torch.from_numpy(f.gamma))
        layer.bn.bias.copy_(torch.from_numpy(f.beta))
