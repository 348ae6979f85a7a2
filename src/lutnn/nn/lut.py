"""The LUT layer: N k-input lookup tables over the previous layer's bits.

Address convention (see :mod:`lutnn`): a node with inputs ``x_0 .. x_{k-1}`` reads entry
``address = sum(x_j << j)`` of its table; input 0 is the least significant address bit.

Training relaxes a table ``T[n, :]`` (2^k reals) to its *multilinear* extension

    y[b, n] = sum_a T[n, a] * prod_j (x_j if bit j of a else 1 - x_j),

which equals ``T[n, address]`` at bit inputs and is differentiable in ``x`` and ``T``.  Three
ways to compute it, all giving the same values and gradients (tests/test_lut.py):

* :func:`lut_multilinear` -- the readable definition (successive halving over the inputs).
* :func:`lut_lookup` -- bit inputs only: a gather whose backward is the multilinear gradient at
  those points.  What :class:`LUTLayer` uses in training, since hidden layers carry bits.
* :func:`lut_chunked` -- soft inputs: :func:`lut_multilinear`, checkpointed over chunks of nodes.

:func:`lut_naive` materializes all 2^k products; it is only a test oracle and benchmark baseline.

Peak memory of one forward + backward, in elements (4 bytes each in float32, int64 counts 2),
for ``x`` of shape ``[B, N, k]``, besides the tables:

* naive:     about ``4 * B*N*2^k``
* multilinear: about ``2 * B*N*2^k`` (every halving level keeps its input for backward)
* chunked:   about ``B*N*k + 2 * B*c*2^k`` (the input and its grad, plus one chunk of ``c``
  nodes)
* lookup:    about ``B*N*(k + 4) + N*2^k*(k + 2)``: gathered bits and their grad, the int64
  address, the output, plus table-sized slopes and table grad; no ``B * 2^k`` term at all.

Measured (benchmarks/lut_layer.py, one LUT layer N=4096, k=6, batch 256, 2352 input bits,
training step with grads to tables and inputs, 1 CPU thread of a shared, loaded 2-core machine,
three runs): peak memory naive 1070 MB, multilinear 561 MB, chunked 177 MB, lookup 44 MB (1/24 of
naive); time per step naive 4.1-5.5 s, multilinear 2.3-2.8 s, chunked 1.3-1.6 s,
lookup 0.115-0.158 s (29-36x faster than naive).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from lutnn.errors import LutnnError
from lutnn.nn.binary import ste_bits
from lutnn.nn.fused import fused_lookup
from lutnn.nn.learned_wiring import LearnedWiring
from lutnn.nn.slopes import INPUT_GRADIENTS, check_input_grad, efd_slopes
from lutnn.nn.wiring import get_wiring

__all__ = [
    "IMPLEMENTATIONS",
    "INPUT_GRADIENTS",
    "KERNELS",
    "MAX_LUT_INPUTS",
    "LUTLayer",
    "TABLE_RULES",
    "binarize_identity_ste",
    "binarize_ste",
    "efd_slopes",
    "is_binary",
    "lut_address",
    "lut_chunked",
    "lut_lookup",
    "lut_multilinear",
    "lut_naive",
]

#: most bytes one chunk's ``B*c*2^k`` tensor of :func:`lut_chunked` may take when
#: ``chunk_nodes`` is not given (the fused kernel's floor is
#: :data:`lutnn.nn.fused.FUSED_MIN_CHUNK_BYTES`, another budget)
CHUNKED_MAX_BYTES = 64 * 2**20

#: the most inputs a :class:`LUTLayer` node may have (tables of up to 2^16 entries; the IR and
#: export hold k <= 8)
MAX_LUT_INPUTS = 16


def _check_lut_args(x: torch.Tensor, tables: torch.Tensor) -> int:
    if tables.dim() != 2:
        raise ValueError(f"tables must be [N, 2^k], got shape {tuple(tables.shape)}")
    if x.dim() < 2:
        raise ValueError(f"x must be [..., N, k], got shape {tuple(x.shape)}")
    n, k = x.shape[-2], x.shape[-1]
    if n != tables.shape[0] or tables.shape[1] != 2**k:
        raise ValueError(
            f"x [..., N, k] = {tuple(x.shape)} needs tables [N, 2^k] = [{n}, {2**k}], "
            f"got {tuple(tables.shape)}"
        )
    return k


def lut_naive(x: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """Multilinear LUT by materializing all 2^k address weights (test oracle / baseline only).

    Args:
        x: ``[..., N, k]`` in [0, 1].
        tables: ``[N, 2^k]``.

    Returns:
        ``[..., N]``.
    """
    k = _check_lut_args(x, tables)
    p = torch.ones_like(x[..., :1])  # (..., N, 1): weights of the addresses over no bits yet
    for j in range(k):  # p[..., a] for a < 2^(j+1): new bit j is the most significant so far
        xj = x[..., j : j + 1]
        p = torch.cat([p * (1 - xj), p * xj], dim=-1)  # (..., N, 2^(j+1))
    return (p * tables).sum(-1)


def lut_multilinear(x: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """Multilinear LUT, the readable definition: successive halving over the inputs.

    Address bit ``k-1`` splits each table into halves ``[bit=0 | bit=1]``; interpolating the two
    halves with ``x_{k-1}`` leaves a table over ``k-1`` inputs, and so on down to bit 0.  The
    ``[..., N, 2^k]`` product tensor of :func:`lut_naive` is never formed; the largest
    intermediate is ``[..., N, 2^(k-1)]``.  ``torch.lerp`` is exact at ``x in {0, 1}``, so at
    bit inputs the result is exactly ``tables[n, address]``.

    Peak memory of forward + backward: about ``2 * B*N*2^k`` elements (``B`` = product of the
    leading dims), since each level keeps its input table for backward.

    Args:
        x: ``[..., N, k]`` in [0, 1].
        tables: ``[N, 2^k]``.

    Returns:
        ``[..., N]``.

    Example:
        >>> T = torch.tensor([[0., 1., 2., 3.]])           # one node, k = 2
        >>> lut_multilinear(torch.tensor([[[1., 0.]]]), T)  # address 1
        tensor([[1.]])
        >>> lut_multilinear(torch.tensor([[[0.5, 1.]]]), T)  # halfway between T[2] and T[3]
        tensor([[2.5000]])
    """
    k = _check_lut_args(x, tables)
    t = tables  # (N, 2^k), broadcast against the batch from the first level on
    for j in range(k - 1, -1, -1):
        h = 2**j
        t = torch.lerp(t[..., :h], t[..., h:], x[..., j : j + 1])  # (..., N, 2^j)
    return t.squeeze(-1)


def lut_address(x: torch.Tensor) -> torch.Tensor:
    """int64 addresses ``sum(x_j << j)`` of bit inputs ``x [..., k]`` (values in {0, 1})."""
    k = x.shape[-1]
    dtype = torch.float64 if k > 24 else x.dtype if x.is_floating_point() else torch.float32
    powers = 2.0 ** torch.arange(k, dtype=dtype, device=x.device)
    return (x.to(dtype) @ powers).long()  # exact: sums of distinct powers of two


def is_binary(x: torch.Tensor) -> bool:
    """True when every element of ``x`` is exactly 0 or 1."""
    return bool(((x == 0) | (x == 1)).all())


class _Lookup(torch.autograd.Function):
    """``y = T[n, address]``; input gradient from table-sized slopes (exact or EFD)."""

    @staticmethod
    def forward(
        ctx, x: torch.Tensor, tables: torch.Tensor, input_grad: str = "exact"
    ) -> torch.Tensor:
        k = x.shape[-1]
        n = tables.shape[0]
        node_base = torch.arange(n, device=x.device) << k  # (N,)
        flat = lut_address(x) + node_base  # (..., N): index into tables.flatten()
        ctx.save_for_backward(flat, tables)
        ctx.input_grad = input_grad
        return tables.flatten().take(flat)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        flat, tables = ctx.saved_tensors
        grad_x = grad_t = None
        if ctx.needs_input_grad[1]:
            grad_t = torch.zeros_like(tables).flatten()
            grad_t = grad_t.index_add_(0, flat.flatten(), grad.flatten()).view_as(tables)
        if ctx.needs_input_grad[0]:
            # exact: d y / d x_j = T[addr | 1<<j] - T[addr & ~(1<<j)]; one row gather of
            # the table-sized slopes [N*2^k, k] either way
            slopes = INPUT_GRADIENTS[ctx.input_grad](tables).flatten(0, 1)  # (N*2^k, k)
            grad_x = slopes.index_select(0, flat.flatten()).view(*flat.shape, -1)
            grad_x = grad_x.mul_(grad.unsqueeze(-1))  # (..., N, k)
        return grad_x, grad_t, None


def lut_lookup(x: torch.Tensor, tables: torch.Tensor, input_grad: str = "exact") -> torch.Tensor:
    """Memory-lean LUT for bit inputs: a gather with the multilinear gradient.

    Forward is ``tables[n, address]``; backward gives exactly the gradients of
    :func:`lut_multilinear` at the bit point: ``dL/dT[n, a]`` adds ``grad[b, n]`` for every
    ``b`` addressing ``a``, and ``dL/dx_j = grad * (T[addr | 1<<j] - T[addr & ~(1<<j)])``.
    Only the int64 address is saved.

    Peak memory of forward + backward: about ``B*N*(k + 4) + N*2^k*(k + 2)`` elements
    (gathered bits, their gradient, the int64 address, the output; the table-sized slopes of
    :func:`~lutnn.nn.slopes.input_slopes` and the table gradient): no ``B * 2^k`` term.

    Args:
        x: ``[..., N, k]`` with values exactly in {0, 1} (not checked here; see
            :func:`is_binary`).  Non-bit values give wrong results.
        tables: ``[N, 2^k]``.
        input_grad: ``"exact"`` (the multilinear gradient above) or ``"efd"``
            (:func:`efd_slopes`, DWN's extended finite difference).

    Returns:
        ``[..., N]``.
    """
    _check_lut_args(x, tables)
    check_input_grad(input_grad)
    return _Lookup.apply(x, tables, input_grad)


def lut_chunked(
    x: torch.Tensor, tables: torch.Tensor, chunk_nodes: int | None = None
) -> torch.Tensor:
    """:func:`lut_multilinear` for soft inputs with bounded memory (checkpoint per node chunk).

    The nodes are split into chunks of ``c`` nodes; each chunk runs under
    ``torch.utils.checkpoint`` so nothing ``2^k``-sized is kept between forward and backward,
    and backward recomputes one chunk at a time.  Peak memory of forward + backward: about
    ``B*N*k + 2 * B*c*2^k`` elements.  ``chunk_nodes=None`` picks ``c`` so one chunk's
    ``B*c*2^k`` tensor takes at most :data:`CHUNKED_MAX_BYTES`.

    Args:
        x: ``[..., N, k]`` in [0, 1].
        tables: ``[N, 2^k]``.
        chunk_nodes: nodes per chunk (``c``).

    Returns:
        ``[..., N]``, equal to :func:`lut_multilinear` (values and gradients).
    """
    k = _check_lut_args(x, tables)
    n = tables.shape[0]
    if chunk_nodes is None:
        per_node = max(1, x[..., 0, 0].numel()) * 2**k * x.element_size()
        chunk_nodes = max(1, CHUNKED_MAX_BYTES // per_node)
    if chunk_nodes >= n:
        return lut_multilinear(x, tables)
    xs = torch.split(x, chunk_nodes, dim=-2)
    ts = torch.split(tables, chunk_nodes, dim=0)
    if torch.is_grad_enabled() and (x.requires_grad or tables.requires_grad):
        ys = [
            checkpoint(lut_multilinear, xc, tc, use_reentrant=False)
            for xc, tc in zip(xs, ts, strict=True)
        ]
    else:
        ys = [lut_multilinear(xc, tc) for xc, tc in zip(xs, ts, strict=True)]
    return torch.cat(ys, dim=-1)


def binarize_ste(y: torch.Tensor) -> torch.Tensor:
    """Bits ``[y >= 0]`` (sign(0) = +1) with the clipped straight-through gradient.

    The one STE convention of :mod:`lutnn.nn.binary` (:func:`~lutnn.nn.binary.ste_bits`
    with ``"clipped_ste"``): ``d bit / d y = 1/2`` where ``|y| <= 1``, 0 elsewhere.
    """
    return ste_bits(y)


class _IdentitySTE(torch.autograd.Function):
    """Bits ``[y >= 0]`` forward, the gradient passed unchanged backward (DWN's STE)."""

    @staticmethod
    def forward(ctx, y: torch.Tensor) -> torch.Tensor:
        return (y >= 0).to(y.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def binarize_identity_ste(y: torch.Tensor) -> torch.Tensor:
    """Bits ``[y >= 0]`` with the plain straight-through gradient ``d bit / d y = 1``.

    DWN's (``STEFunction``: ``y > 0``; the two differ only at ``y == 0``, which its tables,
    clamped to [-1, 1] from a uniform(-1, 1) start, do not reach).

    Example:
        >>> y = torch.tensor([-3.0, 0.0, 0.5], requires_grad=True)
        >>> bits = binarize_identity_ste(y); bits.sum().backward()
        >>> bits.tolist(), y.grad.tolist()
        ([0.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    """
    return _IdentitySTE.apply(y)


#: how a LUT layer's tables start, are bounded and pass gradient to them:
#: ``"clipped"`` (lutnn's): uniform(-0.1, 0.1) start, the clipped STE (slope 1/2 where
#: ``|y| <= 1``), nothing clamped; ``"dwn"`` (DWN's LUTLayer): uniform(-1, 1) start, tables
#: clamped to [-1, 1] after every optimizer step (:meth:`LUTLayer.clip_parameters`), the
#: identity STE (:func:`binarize_identity_ste`)
TABLE_RULES = ("clipped", "dwn")


#: LUTLayer implementations: how the training pre-activation is computed.
IMPLEMENTATIONS: dict[str, Callable[..., torch.Tensor]] = {
    "multilinear": lut_multilinear,
    "lookup": lut_lookup,
    "chunked": lut_chunked,
    "naive": lut_naive,  # test / benchmark baseline only
}


#: earlier names of :data:`IMPLEMENTATIONS` entries, still accepted (``"reference"`` was
#: :func:`lut_multilinear`'s; "reference" now names only the unfused lookup kernel)
IMPLEMENTATION_ALIASES = {"reference": "multilinear"}

#: kernels of the lookup path: ``"reference"`` (gather + :func:`lut_lookup`) or ``"fused"``
#: (:func:`lutnn.nn.fused.fused_lookup`, same values and gradients, saves only the addresses)
KERNELS = ("reference", "fused")


class LUTLayer(nn.Module):
    """N learnable k-input LUTs over bits: ``bits [..., in_features] -> bits [..., N]``.

    Node ``n`` reads the bits ``x[..., inputs[n, j]]``, ``j < k`` (``inputs`` is the wiring,
    input ``j`` = address bit ``j``), and outputs bit ``1`` iff its pre-activation ``y >= 0``.

    * **Training** (``module.train()``): ``y`` is the multilinear extension of the real table
      ``tables[n]`` at the inputs (equal to ``tables[n, address]`` at bit inputs), followed by
      ``BatchNorm1d`` over the N nodes when ``bn=True``.  The bit has a *clipped*
      straight-through gradient (:func:`binarize_ste`): ``d bit / d y = 1/2`` for ``|y| <= 1``,
      else 0.  Clipped rather than identity: it stops pushing an entry once it is decided with
      margin, so tables stay bounded (``|T| <= 1 + lr``) without weight decay and stay flippable,
      and its range matches BatchNorm's unit scale.  Measured (MNIST, 12k training images
      thresholded at 128, 784 -> 2000 -> 1000 LUT6 nodes, popcount of 100 bits per class, Adam
      lr 1e-2, batch 100, 3 epochs, 5k test images): clipped 90.2%, identity 90.0% (equal within
      noise), but with identity max |T| grew to 4.6 and kept growing.
    * **Eval** (``module.eval()``): the hard lookup ``table_bits()[n, address]``, exactly what
      the hardware LUT computes; inputs must be bits.  No gradient.

    Implementations (training only; all give the same values and gradients):
    ``"auto"`` (default: ``"lookup"`` when the inputs are exactly bits, else ``"chunked"``),
    ``"lookup"`` (:func:`lut_lookup`, O(B*N*k) memory), ``"chunked"`` (:func:`lut_chunked`),
    ``"multilinear"`` (:func:`lut_multilinear`; ``"reference"`` is its old name),
    ``"naive"`` (:func:`lut_naive`, baseline only).
    Peak memory of forward + backward with the lookup path: about
    ``B*N*(k + 4) + N*2^k*(k + 2)`` elements; see :mod:`lutnn.nn.lut` for the others.

    Table init: ``uniform(-0.1, 0.1)`` i.i.d. per entry, so each node starts as a random
    Boolean function (random signs) whose entries all sit inside the STE's clip range and close
    to the decision boundary: every entry receives gradient from the first step, and an entry's
    bit flips after a few optimizer steps (Adam, lr 1e-2) once the gradient agrees.  A large
    init (``uniform(-1, 1)``) makes the first flips slow: same MNIST run as above, 86.1% vs
    90.2% (``uniform(-0.01, 0.01)``: 90.2%).  An all-zero init would make every node the
    constant 1 (sign(0) = +1).

    Args:
        in_features: number of input bits F.
        out_features: number of LUT nodes N.
        k: inputs per LUT (address bits), 1..:data:`MAX_LUT_INPUTS` (16).
        wiring: a registered wiring name (:data:`lutnn.nn.wiring.WIRINGS`, built with
            ``seed``; those that need options such as ``in_shape`` must be passed as a tensor)
            or an int tensor ``[N, k]`` of input indices.
        seed: seed of the wiring and of the table init (reproducible without global RNG).
        bn: BatchNorm1d over the N pre-activations (folded into :meth:`table_bits`).
        implementation: see above.
        learn_wiring: learn which input each slot reads (:class:`LearnedWiring`), starting
            from ``wiring``; ``inputs`` always holds the current selection.
        candidates: with ``learn_wiring``, inputs each slot may choose from (``None``: all).
        input_grad: gradient of the lookup path w.r.t. the inputs: ``"exact"`` (the
            multilinear slope) or ``"efd"`` (:func:`efd_slopes`); ``"efd"`` needs the lookup
            path (bit inputs).
        kernel: how the lookup path runs: ``"reference"`` (the wiring gather, then
            :func:`lut_lookup`) or ``"fused"`` (:func:`lutnn.nn.fused.fused_lookup`: one autograd
            node that saves only the ``uint8`` addresses; bit-identical values and gradients on
            CPU).  Only used when the implementation resolves to ``"lookup"`` and the wiring
            is fixed (with ``learn_wiring`` in training, the reference lookup runs).
        table_rule: ``"clipped"`` (the init and STE described above) or ``"dwn"`` (DWN's:
            uniform(-1, 1) init, tables clamped to [-1, 1] after every step, identity STE);
            see :data:`TABLE_RULES`.

    Example: one LUT learns XOR, which no single binary perceptron can (tests/test_lut.py).

        >>> xor = LUTLayer(2, 1, k=2, wiring=torch.tensor([[0, 1]]))
        >>> x = torch.tensor([[0., 0.], [1., 0.], [0., 1.], [1., 1.]])
        >>> target = torch.tensor([[0.], [1.], [1.], [0.]])
        >>> opt = torch.optim.Adam(xor.parameters(), lr=0.05)
        >>> for _ in range(20):
        ...     opt.zero_grad()
        ...     ((xor(x) - target) ** 2).mean().backward()
        ...     opt.step()
        >>> xor.eval()(x).flatten().tolist()
        [0.0, 1.0, 1.0, 0.0]
        >>> xor.table_bits().int().tolist()  # address = x0 + 2*x1
        [[0, 1, 1, 0]]
    """

    inputs: torch.Tensor

    def __init__(
        self,
        in_features: int,
        out_features: int,
        k: int = 6,
        *,
        wiring: str | torch.Tensor = "random",
        seed: int = 0,
        bn: bool = False,
        implementation: str = "auto",
        learn_wiring: bool = False,
        candidates: int | None = None,
        input_grad: str = "exact",
        kernel: str = "reference",
        table_rule: str = "clipped",
    ) -> None:
        super().__init__()
        for arg, val in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(val, int) or isinstance(val, bool) or val < 1:
                raise ValueError(f"LUTLayer: {arg} must be a positive int, got {val!r}")
        if not isinstance(k, int) or not 1 <= k <= MAX_LUT_INPUTS:
            raise ValueError(f"LUTLayer: k must be an int in 1..{MAX_LUT_INPUTS}, got {k!r}")
        implementation = IMPLEMENTATION_ALIASES.get(implementation, implementation)
        if implementation != "auto" and implementation not in IMPLEMENTATIONS:
            known = ", ".join(["auto", *IMPLEMENTATIONS])
            raise LutnnError(f"unknown LUT implementation {implementation!r}; known: {known}")
        check_input_grad(input_grad)
        if kernel not in KERNELS:
            raise LutnnError(f"unknown LUT kernel {kernel!r}; known: {', '.join(KERNELS)}")
        if table_rule not in TABLE_RULES:
            raise LutnnError(f"unknown LUT table rule {table_rule!r}; known: "
                             f"{', '.join(TABLE_RULES)}")
        self.table_rule = table_rule
        self.kernel = kernel
        self.input_grad = input_grad
        self.in_features = in_features
        self.out_features = out_features
        self.k = k
        self.implementation = implementation
        if isinstance(wiring, str):
            inputs = get_wiring(wiring)(in_features, out_features, k, seed=seed)
        else:
            inputs = torch.as_tensor(wiring)
        self._check_wiring(inputs)
        self.register_buffer("inputs", inputs.to(torch.int64).clone())
        gen = torch.Generator().manual_seed(int(seed) + 1)
        scale = 1.0 if table_rule == "dwn" else 0.1  # uniform(-scale, scale)
        self.tables = nn.Parameter(
            torch.rand(out_features, 2**k, generator=gen) * (2 * scale) - scale)
        self.bn = nn.BatchNorm1d(out_features) if bn else None
        self.learned = (
            LearnedWiring(in_features, self.inputs, candidates, seed=seed) if learn_wiring else None
        )

    def _check_wiring(self, inputs: torch.Tensor) -> None:
        want = (self.out_features, self.k)
        if inputs.dtype.is_floating_point or inputs.dtype == torch.bool or inputs.is_complex():
            raise ValueError(f"LUTLayer: wiring must be an int tensor, got {inputs.dtype}")
        if tuple(inputs.shape) != want:
            raise ValueError(
                f"LUTLayer: wiring must have shape [out_features, k] = {list(want)}, "
                f"got {list(inputs.shape)}"
            )
        if inputs.numel() and (inputs.min() < 0 or inputs.max() >= self.in_features):
            raise ValueError(
                f"LUTLayer: wiring indices must lie in [0, {self.in_features}), got "
                f"[{int(inputs.min())}, {int(inputs.max())}]"
            )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, k={self.k}, "
            f"bn={self.bn is not None}, implementation={self.implementation!r}, "
            f"input_grad={self.input_grad!r}"
            + (f", kernel={self.kernel!r}" if self.kernel != "reference" else "")
            + (f", table_rule={self.table_rule!r}" if self.table_rule != "clipped" else "")
        )

    @torch.no_grad()
    def clip_parameters(self) -> None:
        """With the ``"dwn"`` table rule, clamp the tables to [-1, 1] (the training loop calls
        this after every optimizer step, :func:`lutnn.training.loop.clip_parameters`)."""
        if self.table_rule == "dwn":
            self.tables.clamp_(-1.0, 1.0)

    @torch.no_grad()
    def _sync_wiring(self) -> None:
        """Copy the learned selection into ``inputs`` (what eval, export and the IR read)."""
        if self.learned is not None:
            self.inputs.copy_(self.learned.selected())

    def train(self, mode: bool = True):
        self._sync_wiring()
        return super().train(mode)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        self._sync_wiring()  # the saved ``inputs`` match the saved wiring weights
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _flatten(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"LUTLayer expected input [..., {self.in_features}] (bits), got {list(x.shape)}"
            )
        if not x.is_floating_point():
            x = x.float()
        return x.reshape(-1, self.in_features)

    def _gather(self, x2: torch.Tensor) -> torch.Tensor:
        if self.learned is not None and self.training:
            return self.learned(x2)  # (B, N, k), gradients reach the wiring weights
        # index_select (backward: index_add) is much faster on CPU than x2[:, self.inputs]
        return x2.index_select(1, self.inputs.flatten()).view(-1, *self.inputs.shape)  # (B,N,k)

    def _multilinear(self, x2: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
        impl = self.implementation
        if impl == "auto":
            impl = "lookup" if is_binary(x2) else "chunked"
        elif impl == "lookup" and not is_binary(x2):
            raise ValueError("LUTLayer(implementation='lookup') needs inputs exactly in {0, 1}")
        if impl == "lookup" and self.kernel == "fused":
            return self._fused(x2, tables)
        if self.input_grad == "exact":
            return IMPLEMENTATIONS[impl](self._gather(x2), tables)  # (B, N)
        if impl != "lookup":
            raise ValueError(f"LUTLayer(input_grad={self.input_grad!r}) needs bit inputs")
        return lut_lookup(self._gather(x2), tables, self.input_grad)  # (B, N)

    def _fused(self, x2: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
        if self.learned is not None and self.training:
            # the slots come from LearnedWiring's own autograd node ([B, N*k] float either
            # way): nothing to fuse, so the reference lookup (measured faster here)
            return lut_lookup(self._gather(x2), tables, self.input_grad)
        return fused_lookup(x2, tables, self.inputs, self.input_grad)  # (B, N)

    def _bn_eval(self, y: torch.Tensor) -> torch.Tensor:
        """BatchNorm with running statistics (the eval / hardware semantics), y: (M, N)."""
        bn = self.bn
        assert bn is not None
        return nn.functional.batch_norm(
            y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
        )

    def folded_tables(self) -> torch.Tensor:
        """Real ``[N, 2^k]`` tables with eval-mode BatchNorm applied (``tables`` if no BN)."""
        if self.bn is None:
            return self.tables
        return self._bn_eval(self.tables.t()).t()

    @torch.no_grad()
    def table_bits(self) -> torch.Tensor:
        """bool ``[N, 2^k]``: the truth tables the hardware uses, ``bit = folded_tables() >= 0``.

        With BN, uses the running statistics (as eval forward does), whatever the module mode.
        Entry ``[n, a]`` is node ``n``'s output for address ``a = sum(x_j << j)``.
        """
        return self.folded_tables() >= 0

    def preactivation(self, bits: torch.Tensor) -> torch.Tensor:
        """Pre-activation ``y [..., N]`` (output bit = ``y >= 0``), differentiable.

        In training mode: multilinear table value, then train-mode BN if ``bn``.  In eval mode:
        the same with eval-mode BN, computed on bit inputs as a lookup into
        :meth:`folded_tables` so that ``preactivation(x) >= 0`` equals ``forward(x)`` exactly.
        """
        x2 = self._flatten(bits)
        lead = bits.shape[:-1]
        if self.training or self.bn is None:
            y = self._multilinear(x2, self.tables)
            if self.bn is not None:
                y = self.bn(y)
        elif is_binary(x2):
            y = lut_lookup(self._gather(x2), self.folded_tables())
        else:
            y = self._bn_eval(self._multilinear(x2, self.tables))
        return y.reshape(*lead, self.out_features)

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        """Output bits ``[..., N]`` (float {0, 1}) of input bits ``[..., in_features]``."""
        if self.training:
            y = self.preactivation(bits)
            return binarize_identity_ste(y) if self.table_rule == "dwn" else binarize_ste(y)
        x2 = self._flatten(bits)
        if not is_binary(x2):
            raise ValueError("LUTLayer in eval mode needs bit inputs (values exactly 0 or 1)")
        addr = lut_address(self._gather(x2))  # (B, N)
        node = torch.arange(self.out_features, device=addr.device)
        out = self.table_bits()[node, addr]  # (B, N) bool
        return out.to(bits.dtype if bits.is_floating_point() else torch.float32).reshape(
            *bits.shape[:-1], self.out_features
        )
