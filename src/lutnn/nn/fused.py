"""Fused lookup path of :class:`~lutnn.nn.lut.LUTLayer`: wiring gather, address, table lookup
and their backward in one autograd node that keeps only the addresses.

The reference lookup path is two autograd nodes: the wiring gather
``x2.index_select(1, inputs.flatten())`` (``[B, N*k]`` float) and
:func:`~lutnn.nn.lut.lut_lookup` (saves an int64 ``[B, N]`` address); its backward
materializes the slot gradient ``[B, N, k]`` float before the wiring's ``index_add_``.
:func:`fused_lookup` computes the same forward and the same gradients from ``x2 [B, F]``
directly, in a *transposed* layout (a row of ``B`` values per input bit, per node, per slot), so
that every gather and scatter moves whole contiguous rows:

* **forward**: ``x2`` once as ``uint8 [F, B]``; then per chunk of ``m`` nodes, for each input
  ``j`` a row gather of the wiring's bits, shifted and or-ed into the address ``[m, B]``, and a
  ``gather`` of the tables at it.  Saved for backward: the address alone, ``uint8 [N, B]`` for
  ``k <= 8`` (``int16`` to ``k = 15``, ``int32`` for 16), plus the tables and the wiring.
* **backward**: the table-sized slopes ``[N, 2^k, k]`` once (exact or EFD: the functions the
  reference uses), stored ``[N, k, 2^k]``; then per chunk: the table gradient by ``index_add_``
  over the flat addresses, and the input gradient by one ``gather`` of the slopes
  (``[m, k, B]``) times the output gradient, summed onto the input rows ``[F, B]`` by the wiring
  with ``index_add_``; one transpose back to ``[B, F]`` at the end.

Same arithmetic in the same order: on CPU every value and gradient equals the reference bit for
bit (tests/test_fused_lut.py, ``rtol = atol = 0``).  A table entry of node ``n`` receives its
batch in order ``b = 0, 1, ...`` in both paths, and an input bit receives its slots in order
``s = n*k + j`` (chunks run in node order); the slot gradient is the same product.  On CUDA
``index_add_`` uses atomics for repeated indices, so there neither path is bitwise
deterministic.

Peak memory of forward + backward, besides the tables: the output and its gradient, ``x2``'s
gradient twice (``[F, B]`` and its transpose), the saved ``B*N``-byte address, and per chunk
about ``m*B*(k + 5)`` floats' worth of temporaries (int64 address and flat index, output-gradient
rows, gathered slopes); the reference adds ``[B, N, k]`` float (gathered bits in forward, slot
gradient in backward) and an int64 ``[B, N]``.  ``chunk_nodes=None`` picks ``m`` so one
``[m, k, B]`` float takes at most half the ``[B, N]`` output, or
:data:`FUSED_MIN_CHUNK_BYTES`, whichever is larger.  Measured
(benchmarks/fused_lut.py, 2,000 LUT6 over 2,352 bits, EFD, grads to tables and inputs, 1 CPU
thread of a loaded 2-core machine, three runs): batch 1,024 2.1-4.1x faster at 0.60x the step
memory (43 vs 72 MB); batch 8,192 1.6-1.7x faster at 0.42x (232 vs 555 MB).

All tensor ops are device-agnostic (``index_select``, ``gather``, ``index_add_``): the same code
runs on CPU and CUDA.  Triton is not installed here (no kernel written in it).  ``torch.compile``
works on CPU (inductor) and gives the same values and gradients, but made the fused step 2.4x
slower than eager here (the reference step 1.7x faster, still 1.3x slower than fused eager;
benchmarks/results/fused_lut_compiled.json), so nothing compiles it by default.
"""

from __future__ import annotations

import torch

from lutnn.nn.slopes import INPUT_GRADIENTS, check_input_grad

__all__ = ["FUSED_MIN_CHUNK_BYTES", "address_dtype", "fused_lookup"]

#: a chunk's ``[m, k, B]`` float temporary may take half the ``[B, N]`` output's bytes, and never
#: less than this budget (so small layers run in one chunk)
FUSED_MIN_CHUNK_BYTES = 8 * 2**20


def address_dtype(k: int) -> torch.dtype:
    """The smallest dtype that holds a ``k``-bit address (saved between forward and backward)."""
    if k <= 8:
        return torch.uint8
    if k <= 15:
        return torch.int16
    return torch.int32


def _chunk_nodes(b: int, n: int, k: int, chunk: int | None) -> int:
    if chunk is None:
        budget = max(FUSED_MIN_CHUNK_BYTES, 2 * b * n)  # bytes: half of a float32 [B, N]
        chunk = budget // max(1, 4 * b * k)
    return max(1, min(n, int(chunk)))


class _FusedLookup(torch.autograd.Function):
    """``y[b, n] = T[n, sum_j x2[b, inputs[n, j]] << j]``; see the module docstring."""

    @staticmethod
    def forward(ctx, x2, tables, inputs, input_grad, chunk):
        n, k = inputs.shape
        b = x2.shape[0]
        m = _chunk_nodes(b, n, k, chunk)
        bits = torch.empty(x2.shape[1], b, dtype=torch.uint8, device=x2.device)
        bits.copy_(x2.t())  # (F, B): a row per input bit, so the wiring gathers whole rows
        addr = torch.empty(n, b, dtype=address_dtype(k), device=x2.device)  # (N, B)
        y_t = torch.empty(n, b, dtype=tables.dtype, device=x2.device)
        for n0 in range(0, n, m):
            wires = inputs[n0 : n0 + m]
            a = bits.index_select(0, wires[:, 0]).to(addr.dtype)  # (m, B)
            for j in range(1, k):
                a |= bits.index_select(0, wires[:, j]).to(addr.dtype) << j
            addr[n0 : n0 + m] = a
            torch.gather(tables[n0 : n0 + m], 1, a.to(torch.int64), out=y_t[n0 : n0 + m])
        ctx.save_for_backward(addr, tables, inputs)
        ctx.in_features = x2.shape[1]
        ctx.input_grad = input_grad
        ctx.chunk = m
        ctx.x_dtype = x2.dtype
        return y_t.t().contiguous()  # (B, N)

    @staticmethod
    def backward(ctx, grad):
        addr, tables, inputs = ctx.saved_tensors
        n, b = addr.shape
        k = inputs.shape[1]
        m = ctx.chunk
        need_x, need_t = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_x_t = grad_t = slopes = None
        if need_t:
            grad_t = torch.zeros_like(tables)
        if need_x:
            # (N, k, 2^k): one contiguous row of 2^k slopes per slot
            slopes = INPUT_GRADIENTS[ctx.input_grad](tables).transpose(1, 2).contiguous()
            # in the input's dtype, as autograd casts the reference's slot gradient before its
            # index_add_ (differs from grad.dtype only for float32 bits into float64 tables)
            grad_x_t = torch.zeros(ctx.in_features, b, dtype=ctx.x_dtype, device=grad.device)
        for n0 in range(0, n, m):
            a = addr[n0 : n0 + m].to(torch.int64)  # (m, B)
            g = grad[:, n0 : n0 + m].t().contiguous()  # (m, B)
            if need_t:  # a node's entries get its batch in order b = 0, 1, ... as in reference
                gt = grad_t[n0 : n0 + m]
                flat = a + (torch.arange(a.shape[0], device=a.device) << k).unsqueeze(1)
                gt.view(-1).index_add_(0, flat.view(-1), g.reshape(-1))
            if need_x:  # slot s = n*k + j: (m*k, B) rows, summed onto input rows in slot order
                gs = slopes[n0 : n0 + m].gather(2, a.unsqueeze(1).expand(-1, k, -1))
                gs.mul_(g.unsqueeze(1))  # (m, k, B): d y / d slot bit, times the output grad
                gs = gs.view(-1, b).to(ctx.x_dtype)
                grad_x_t.index_add_(0, inputs[n0 : n0 + m].reshape(-1), gs)
        grad_x = None
        if grad_x_t is not None:
            grad_x = grad_x_t.t().contiguous()
        return grad_x, grad_t, None, None, None


def fused_lookup(
    x2: torch.Tensor,
    tables: torch.Tensor,
    inputs: torch.Tensor,
    input_grad: str = "exact",
    chunk_nodes: int | None = None,
) -> torch.Tensor:
    """LUT outputs ``[B, N]`` of bit inputs ``x2 [B, F]`` through the wiring ``inputs [N, k]``.

    Equal (values and gradients) to ``lut_lookup(x2.index_select(1, inputs.flatten())
    .view(B, N, k), tables, input_grad)``, without its ``[B, N, k]`` float intermediates.

    Args:
        x2: ``[B, F]`` float with values exactly in {0, 1} (not checked here).
        tables: ``[N, 2^k]``.
        inputs: int64 ``[N, k]`` wiring, entries in ``[0, F)``.
        input_grad: ``"exact"`` or ``"efd"`` (:data:`lutnn.nn.slopes.INPUT_GRADIENTS`).
        chunk_nodes: LUTs per chunk (``None``: from :data:`FUSED_MIN_CHUNK_BYTES`); only memory and
            speed depend on it, never the result.
    """
    if x2.dim() != 2:
        raise ValueError(f"fused_lookup: x2 must be [B, F], got shape {tuple(x2.shape)}")
    if inputs.dim() != 2 or inputs.dtype != torch.int64:
        raise ValueError(f"fused_lookup: inputs must be int64 [N, k], got {inputs.dtype} "
                         f"{tuple(inputs.shape)}")
    n, k = inputs.shape
    if tables.shape != (n, 2**k):
        raise ValueError(f"fused_lookup: inputs [N, k] = {(n, k)} needs tables [N, 2^k] = "
                         f"[{n}, {2**k}], got {tuple(tables.shape)}")
    check_input_grad(input_grad)
    return _FusedLookup.apply(x2, tables, inputs, input_grad, chunk_nodes)
