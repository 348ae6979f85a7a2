"""LUT layer: every computation of the multilinear LUT against the others, and the layer's
eval semantics against an independent numpy lookup."""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest
import torch
from torch import nn

import lutnn.nn.lut as lut_module
from lutnn.errors import LutnnError
from lutnn.nn.lut import (
    LUTLayer,
    binarize_ste,
    lut_address,
    lut_chunked,
    lut_lookup,
    lut_multilinear,
    lut_naive,
)


def all_addresses(k: int) -> torch.Tensor:
    """[2^k, k] bits: row a holds the bits of address a (bit j = input j)."""
    a = torch.arange(2**k)
    return ((a[:, None] >> torch.arange(k)) & 1).float()


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
def test_multilinear_at_bits_is_the_lookup_exhaustive(k: int) -> None:
    n = 5
    g = torch.Generator().manual_seed(k)
    tables = torch.randn(n, 2**k, generator=g)
    x = all_addresses(k)[:, None, :].expand(2**k, n, k)  # (2^k, N, k): every address per node
    want = tables.t()  # want[a, n] = tables[n, a]
    assert torch.equal(lut_address(x), torch.arange(2**k)[:, None].expand(2**k, n))
    for fn in (lut_multilinear, lut_naive, lut_lookup, lut_chunked):
        assert torch.equal(fn(x, tables), want), fn.__name__


def test_reference_equals_naive_on_soft_inputs() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(7, 3, 11, 6, generator=g, dtype=torch.float64)  # extra leading dim
    tables = torch.randn(11, 64, generator=g, dtype=torch.float64)
    torch.testing.assert_close(lut_multilinear(x, tables), lut_naive(x, tables))


def _grads(fn, x, tables, grad_out):
    x = x.clone().requires_grad_(True)
    tables = tables.clone().requires_grad_(True)
    y = fn(x, tables)
    y.backward(grad_out)
    return y.detach(), x.grad, tables.grad


def test_lookup_equals_reference_values_and_gradients() -> None:
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(33, 9, 6, generator=g) < 0.5).float()
    tables = torch.randn(9, 64, generator=g)
    grad_out = torch.randn(33, 9, generator=g)
    y0, gx0, gt0 = _grads(lut_multilinear, x, tables, grad_out)
    y1, gx1, gt1 = _grads(lut_lookup, x, tables, grad_out)
    assert torch.equal(y0, y1)
    torch.testing.assert_close(gx1, gx0, rtol=0, atol=1e-6)
    torch.testing.assert_close(gt1, gt0, rtol=0, atol=1e-5)


def test_chunked_equals_reference_values_and_gradients() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 5, 10, 4, generator=g, dtype=torch.float64)
    tables = torch.randn(10, 16, generator=g, dtype=torch.float64)
    grad_out = torch.randn(2, 5, 10, generator=g, dtype=torch.float64)
    ref = _grads(lut_multilinear, x, tables, grad_out)
    for chunk in (1, 3, 10, None):  # uneven chunks, one chunk, automatic
        got = _grads(lambda a, b, c=chunk: lut_chunked(a, b, chunk_nodes=c), x, tables, grad_out)
        for r, o in zip(ref, got, strict=True):
            torch.testing.assert_close(o, r)


class _Pre(nn.Module):
    def __init__(self, layer: LUTLayer) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer.preactivation(x)


@pytest.mark.parametrize("bn", [False, True])
def test_gradcheck_preactivation(bn: bool) -> None:
    layer = LUTLayer(7, 5, k=3, seed=3, bn=bn).double().train()
    pre = _Pre(layer)
    g = torch.Generator().manual_seed(3)
    x = torch.rand(4, 7, generator=g, dtype=torch.float64, requires_grad=True)  # soft: chunked
    tables = torch.randn(5, 8, generator=g, dtype=torch.float64, requires_grad=True)

    def f(x, tables):
        return torch.func.functional_call(pre, {"layer.tables": tables}, (x,))

    assert torch.autograd.gradcheck(f, (x, tables))
    # the lookup path (bit inputs) is linear in the tables
    bits = (torch.rand(4, 7, generator=g) < 0.5).double()
    assert torch.autograd.gradcheck(lambda t: f(bits, t), (tables,))


def numpy_lookup(table_bits: np.ndarray, inputs: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Independent oracle: out[b, n] = table_bits[n, sum_j bits[b, inputs[n, j]] << j]."""
    out = np.zeros((bits.shape[0], inputs.shape[0]), dtype=np.float32)
    for b, n in itertools.product(range(bits.shape[0]), range(inputs.shape[0])):
        addr = sum(int(bits[b, inputs[n, j]]) << j for j in range(inputs.shape[1]))
        out[b, n] = table_bits[n, addr]
    return out


@pytest.mark.parametrize("bn", [False, True])
def test_eval_forward_equals_numpy_lookup(bn: bool) -> None:
    layer = LUTLayer(20, 12, k=4, seed=4, bn=bn)
    g = torch.Generator().manual_seed(4)
    if bn:  # non-trivial statistics, a negative scale, and an exact tie at zero
        with torch.no_grad():
            layer.bn.running_mean.copy_(torch.randn(12, generator=g) * 0.05)
            layer.bn.running_var.copy_(torch.rand(12, generator=g) + 0.5)
            layer.bn.weight.copy_(torch.randn(12, generator=g))
            layer.bn.bias.copy_(torch.randn(12, generator=g) * 0.1)
            layer.bn.bias[0] = 0.0
            layer.bn.running_mean[0] = 0.0
            layer.tables[0, 0] = 0.0
        assert layer.bn.weight.min() < 0
    bits = (torch.rand(3, 5, 20, generator=g) < 0.5).float()  # leading dims (B, L, F)
    layer.eval()
    tb = layer.table_bits()
    assert tb.dtype == torch.bool and tb.shape == (12, 16)
    if bn:
        assert bool(tb[0, 0])  # BN(0) = 0 -> sign(0) = +1
    out = layer(bits)
    assert out.shape == (3, 5, 12) and out.dtype == torch.float32
    want = numpy_lookup(tb.numpy(), layer.inputs.numpy(), bits.reshape(-1, 20).numpy())
    np.testing.assert_array_equal(out.reshape(-1, 12).numpy(), want)
    # eval pre-activation agrees with the hard output bit for bit
    assert torch.equal(layer.preactivation(bits) >= 0, out.bool())
    # table_bits is the eval semantics whatever the mode
    layer.train()
    assert torch.equal(layer.table_bits(), tb)


def test_train_forward_is_sign_of_preactivation_with_clipped_ste() -> None:
    layer = LUTLayer(30, 8, k=6, seed=5, bn=True).train()
    g = torch.Generator().manual_seed(5)
    bits = (torch.rand(16, 30, generator=g) < 0.5).float()
    with torch.no_grad():
        y = layer.preactivation(bits)
    out = layer(bits)
    assert torch.equal(out, (y >= 0).float())
    y = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], requires_grad=True)
    b = binarize_ste(y)
    assert b.tolist() == [0, 0, 0, 1, 1, 1, 1]
    b.sum().backward()
    assert y.grad.tolist() == [0, 0.5, 0.5, 0.5, 0.5, 0.5, 0]


def test_auto_uses_lookup_for_bits_and_chunked_for_soft(monkeypatch) -> None:
    calls = []
    for name in ("lookup", "chunked"):
        fn = lut_module.IMPLEMENTATIONS[name]

        def spy(x, t, _n=name, _f=fn):
            calls.append(_n)
            return _f(x, t)

        monkeypatch.setitem(lut_module.IMPLEMENTATIONS, name, spy)
    layer = LUTLayer(10, 4, k=3).train()
    layer(torch.ones(2, 10))
    layer(torch.full((2, 10), 0.3))
    assert calls == ["lookup", "chunked"]


def test_lut_learns_xor_but_no_binary_perceptron_can() -> None:
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    target = torch.tensor([0.0, 1.0, 1.0, 0.0])
    layer = LUTLayer(2, 1, k=2, wiring=torch.tensor([[0, 1]]), seed=0)
    opt = torch.optim.Adam(layer.parameters(), lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        ((layer(x).squeeze(-1) - target) ** 2).mean().backward()
        opt.step()
    assert torch.equal(layer.eval()(x).squeeze(-1), target)
    # sign(w1 v1 + w2 v2 + b), exhaustively over a grid, for bits and for +-1 values
    grid = torch.linspace(-2, 2, 41)
    w1, w2, b = torch.meshgrid(grid, grid, grid, indexing="ij")
    for v in (x, 2 * x - 1):
        s = w1[..., None] * v[:, 0] + w2[..., None] * v[:, 1] + b[..., None]  # (41,41,41,4)
        assert not ((s >= 0).float() == target).all(-1).any()


def test_shape_and_argument_errors() -> None:
    layer = LUTLayer(10, 4, k=3)
    with pytest.raises(ValueError, match=r"expected input \[\.\.\., 10\].*\[2, 9\]"):
        layer(torch.zeros(2, 9))
    with pytest.raises(ValueError, match=r"\[4, 3\].*\[4, 2\]"):
        LUTLayer(10, 4, k=3, wiring=torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="indices"):
        LUTLayer(10, 1, k=2, wiring=torch.tensor([[0, 10]]))
    with pytest.raises(LutnnError, match="known"):
        LUTLayer(10, 4, k=3, implementation="cuda")
    with pytest.raises(LutnnError, match="known wirings"):
        LUTLayer(10, 4, k=3, wiring="nope")
    with pytest.raises(ValueError, match="bit inputs"):
        layer.eval()(torch.full((1, 10), 0.5))
    with pytest.raises(ValueError, match=r"tables \[N, 2\^k\]"):
        lut_multilinear(torch.zeros(2, 3, 4), torch.zeros(3, 8))


def test_docstring_examples() -> None:
    assert doctest.testmod(lut_module, raise_on_error=False).failed == 0


def test_implementation_names_and_the_k_limit() -> None:
    """``"multilinear"`` names :func:`lut_multilinear` (``"reference"``, its old name, still
    works); k is limited to ``MAX_LUT_INPUTS`` by the layer and by distillation alike."""
    from lutnn.nn.lut import MAX_LUT_INPUTS
    from lutnn.student import check_tree

    x = torch.ones(2, 10)
    layers = [LUTLayer(10, 4, k=3, seed=1, implementation=name).train()
              for name in ("multilinear", "reference")]
    assert layers[1].implementation == "multilinear"
    assert torch.equal(layers[0](x), layers[1](x))
    assert MAX_LUT_INPUTS == 16
    LUTLayer(20, 1, k=MAX_LUT_INPUTS)
    with pytest.raises(ValueError, match=r"1\.\.16, got 17"):
        LUTLayer(20, 1, k=MAX_LUT_INPUTS + 1)
    with pytest.raises(LutnnError, match=r"1\.\.16, got 17"):
        check_tree((2,), MAX_LUT_INPUTS + 1)


def test_dwn_table_rule_init_clamp_and_identity_ste() -> None:
    """``table_rule="dwn"`` is DWN's LUTLayer: uniform(-1, 1) tables, clamped to [-1, 1] by
    ``clip_parameters``, and each table entry's gradient is the plain sum of the output
    gradients of the samples addressing it (identity STE, no 1/2, no clip)."""
    layer = LUTLayer(12, 5, k=3, seed=2, table_rule="dwn").train()
    t = layer.tables.detach()
    assert t.abs().max() <= 1 and t.max() - t.min() > 1  # spread over (-1, 1), not (-.1, .1)
    g = torch.Generator().manual_seed(3)
    bits = (torch.rand(9, 12, generator=g) < 0.5).float()
    w = torch.randn(9, 5, generator=g)
    out = layer(bits)
    (out * w).sum().backward()
    address = lut_address(bits[:, layer.inputs])  # (B, N)
    want = torch.zeros(5, 8)
    for b in range(9):  # the oracle: scatter-add, DWN's luts_grad
        for n in range(5):
            want[n, address[b, n]] += w[b, n]
    torch.testing.assert_close(layer.tables.grad, want, rtol=0, atol=0)
    with torch.no_grad():
        layer.tables.mul_(3)
    layer.clip_parameters()
    assert layer.tables.abs().max() == 1
    clipped = LUTLayer(12, 5, k=3, seed=2)
    with torch.no_grad():
        clipped.tables.mul_(30)
    before = clipped.tables.detach().clone()
    clipped.clip_parameters()  # the default rule bounds nothing
    assert torch.equal(clipped.tables, before)
    with pytest.raises(LutnnError, match="unknown LUT table rule 'x'; known: clipped, dwn"):
        LUTLayer(12, 5, k=3, table_rule="x")
