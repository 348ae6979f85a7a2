"""Learnable wiring: each LUT input slot learns which input bit it reads.

A LUT layer with ``N`` nodes of ``k`` inputs has ``S = N*k`` input *slots*.  Slot ``s`` keeps
one real weight per *candidate* input bit, ``weights[s, c]``, and reads the candidate with the
largest weight:

    forward:   x_slot[b, s] = x[b, cand[s, argmax_c weights[s, c]]]          (hard, exact)
    backward:  dL/dweights[s, c] = sum_b (2*x[b, cand[s, c]] - 1) * dL/dx_slot[b, s]
               dL/dx[b, i]       = sum over slots s reading i of dL/dx_slot[b, s]

The weight gradient is DWN's (Bacellar et al., ICML 2024): a slot's output would move towards
``x[b, c]`` if it read candidate ``c`` instead, so the loss's slope in that direction, summed over
the batch, says how much ``c`` is worth; ``2x - 1`` centres the bits so that an input stuck at 0
and one stuck at 1 score alike.  The input gradient is the true gradient of the hard selection
(DWN uses ``softmax(weights / 0.001)``, which equals it except on exact ties); it only matters
when the layer is not the first.

Two candidate sets:

* all inputs (``candidates=None``, DWN): ``weights`` is ``[S, F]``; the weight gradient is one
  ``[S, B] @ [B, F]`` product.  Memory ``S*F`` floats (plus Adam's two moments): 28M floats for
  2,000 LUT6 over 2,352 bits.
* ``C`` candidates per slot (``candidates`` an int64 ``[S, C]`` index tensor): ``weights`` is
  ``[S, C]``; the weight gradient gathers ``[B, S, C]`` bits.  ``C = 16`` is 150x leaner than
  ``F = 2,352``.  Candidates may be random or proposed by a teacher (the inputs its neuron
  weighs most).

The hardware sees none of this: after training, :meth:`LearnedWiring.selected` is an ordinary
``[N, k]`` wiring.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LearnedWiring", "random_candidates"]


class _SelectSlots(torch.autograd.Function):
    """``x2 [B, F] -> x2[:, index] [B, S]``, with the DWN weight gradient (module docstring)."""

    @staticmethod
    def forward(ctx, x2, weights, candidates, index, matmul_dtype):
        ctx.save_for_backward(x2, candidates, index)
        ctx.in_features = x2.shape[1]
        ctx.matmul_dtype = matmul_dtype
        return x2.index_select(1, index)  # (B, S)

    @staticmethod
    def backward(ctx, grad):  # grad: (B, S)
        x2, candidates, index = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[1]:
            centred = 2.0 * x2 - 1.0  # (B, F)
            if candidates.numel() == 0:  # all inputs are candidates
                # (S, B) @ (B, F); optionally in bfloat16 (+-1 is exact there; the product
                # alone is ~7x faster on CPUs with AVX512-BF16, before the two conversions)
                dt = ctx.matmul_dtype
                if dt == grad.dtype:
                    grad_w = grad.t() @ centred
                else:
                    grad_w = (grad.t().contiguous().to(dt) @ centred.to(dt)).to(grad.dtype)
            else:
                s, c = candidates.shape
                # row gathers of the transposed bits are contiguous, unlike column gathers
                cand = centred.t().contiguous().index_select(0, candidates.flatten())  # (S*C, B)
                grad_w = (cand.view(s, c, -1) * grad.t().unsqueeze(1)).sum(-1)  # (S, C)
        if ctx.needs_input_grad[0]:
            grad_x = torch.zeros(grad.shape[0], ctx.in_features, dtype=grad.dtype,
                                 device=grad.device)
            grad_x.index_add_(1, index, grad)  # (B, F)
        return grad_x, grad_w, None, None, None


def random_candidates(
    in_features: int, initial: torch.Tensor, count: int, generator: torch.Generator
) -> torch.Tensor:
    """``[S, count]`` candidate inputs per slot: the slot's initial input first, then random ones.

    Args:
        in_features: F, the inputs to choose from.
        initial: int64 ``[S]``, each slot's input at the start (candidate 0).
        count: C, candidates per slot (``2 <= C <= F``).
        generator: random source.
    """
    s = initial.numel()
    others = torch.randint(0, in_features, (s, count - 1), generator=generator)
    return torch.cat([initial.view(-1, 1), others], dim=1)


class LearnedWiring(nn.Module):
    """Learnable input selection for the ``N*k`` slots of a LUT layer (see module docstring).

    Args:
        in_features: F, input bits of the layer.
        initial: int64 ``[N, k]``, the wiring at the start (e.g. balanced random); each slot's
            initial input gets the largest initial weight, so training starts from it.
        candidates: ``None`` to let every slot choose among all ``F`` inputs, or ``C`` to give
            each slot ``C`` candidates (its initial input and ``C - 1`` random others).
        seed: seed of the initial weights and the random candidates.
        matmul_dtype: dtype of the all-inputs weight-gradient product (``torch.float32``,
            the reference; ``torch.bfloat16`` trades a ~1% gradient error for speed).

    Example:
        >>> w = LearnedWiring(10, torch.tensor([[0, 1], [2, 3]]))
        >>> w.selected().tolist()  # starts from the given wiring
        [[0, 1], [2, 3]]
        >>> w(torch.eye(10)[:4]).shape  # (B, N, k)
        torch.Size([4, 2, 2])
    """

    candidates: torch.Tensor

    def __init__(
        self,
        in_features: int,
        initial: torch.Tensor,
        candidates: int | None = None,
        *,
        seed: int = 0,
        matmul_dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        n, k = initial.shape
        self.matmul_dtype = matmul_dtype
        self.in_features = in_features
        self.shape = (n, k)
        gen = torch.Generator().manual_seed(int(seed) + 7)
        start = initial.reshape(-1).to(torch.int64)  # (S,)
        if candidates is None or candidates >= in_features:
            cand = torch.empty(0, 0, dtype=torch.int64)  # all inputs
            weights = torch.rand(n * k, in_features, generator=gen)  # (S, F) in [0, 1)
            weights[torch.arange(n * k), start] = 1.0
        else:
            if candidates < 2:
                raise ValueError(f"LearnedWiring: candidates must be >= 2, got {candidates}")
            cand = random_candidates(in_features, start, candidates, gen)  # (S, C)
            weights = torch.rand(n * k, candidates, generator=gen)
            weights[:, 0] = 1.0
        self.register_buffer("candidates", cand)
        self.weights = nn.Parameter(weights)

    def extra_repr(self) -> str:
        c = self.candidates.shape[1] if self.candidates.numel() else self.in_features
        return f"in_features={self.in_features}, slots={self.weights.shape[0]}, candidates={c}"

    def _index(self) -> torch.Tensor:
        best = self.weights.detach().argmax(dim=1)  # (S,): lowest candidate on ties
        if self.candidates.numel() == 0:
            return best
        return self.candidates.gather(1, best.view(-1, 1)).view(-1)

    def selected(self) -> torch.Tensor:
        """The wiring the weights select now: int64 ``[N, k]`` input indices."""
        return self._index().view(self.shape)

    def forward(self, x2: torch.Tensor) -> torch.Tensor:
        """Gather ``x2 [B, F]`` into the slots: ``[B, N, k]``, gradients to weights and ``x2``."""
        out = _SelectSlots.apply(x2, self.weights, self.candidates, self._index(),
                                 self.matmul_dtype)  # (B, S)
        return out.view(-1, *self.shape)
