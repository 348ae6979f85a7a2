"""Fused lookup kernel (lutnn.nn.fused) against the reference lookup path of LUTLayer.

Same operations in the same order, so on CPU forward values and every gradient (tables, input
bits, learned-wiring weights, BatchNorm) must be equal bit for bit: rtol = atol = 0 throughout.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lutnn.errors import LutnnError
from lutnn.nn.fused import address_dtype, fused_lookup
from lutnn.nn.lut import LUTLayer, lut_lookup

EXACT = {"rtol": 0.0, "atol": 0.0}


def _bits(shape, gen) -> torch.Tensor:
    return (torch.rand(*shape, generator=gen) < 0.5).float()


def _run(layer: nn.Module, x: torch.Tensor, grad_out: torch.Tensor, pre: bool = True):
    """Output and grads of one forward + backward: output, input, then every parameter."""
    x = x.clone().requires_grad_(True)
    y = layer.preactivation(x) if pre else layer(x)
    y.backward(grad_out)
    grads = {name: p.grad for name, p in layer.named_parameters()}
    return y.detach(), x.grad, grads


def _pair(**kw) -> tuple[LUTLayer, LUTLayer]:
    ref = LUTLayer(**kw, kernel="reference")
    fused = LUTLayer(**kw, kernel="fused")
    fused.load_state_dict(ref.state_dict())
    return ref.train(), fused.train()


def _assert_same(a, b) -> None:
    ya, xa, ga = a
    yb, xb, gb = b
    torch.testing.assert_close(yb, ya, **EXACT)
    torch.testing.assert_close(xb, xa, **EXACT)
    assert ga.keys() == gb.keys()
    for name in ga:
        if ga[name] is None:
            assert gb[name] is None, name
        else:
            torch.testing.assert_close(gb[name], ga[name], **EXACT, msg=name)


@pytest.mark.parametrize("input_grad", ["exact", "efd"])
@pytest.mark.parametrize("seed", range(6))
def test_fused_layer_equals_reference_random_shapes(input_grad: str, seed: int) -> None:
    gen = torch.Generator().manual_seed(100 + seed)
    k = 2 + seed % 5  # 2..6
    f = int(torch.randint(k, 90, (1,), generator=gen))
    n = int(torch.randint(1, 70, (1,), generator=gen))
    b = int(torch.randint(1, 150, (1,), generator=gen))
    bn = bool(seed % 2)
    ref, fused = _pair(in_features=f, out_features=n, k=k, seed=seed, bn=bn,
                       input_grad=input_grad)
    x = _bits((b, f), gen)
    grad_out = torch.randn(b, n, generator=gen)
    _assert_same(_run(ref, x, grad_out), _run(fused, x, grad_out))
    # the layer output (clipped STE after the pre-activation) too
    _assert_same(_run(ref, x, grad_out, pre=False), _run(fused, x, grad_out, pre=False))


@pytest.mark.parametrize("input_grad", ["exact", "efd"])
@pytest.mark.parametrize("candidates", [None, 5])
@pytest.mark.parametrize("k", [2, 4, 6])
def test_fused_layer_with_learned_wiring(input_grad: str, candidates, k: int) -> None:
    """kernel="fused" with learned wiring (the reference lookup after LearnedWiring's gather)."""
    gen = torch.Generator().manual_seed(k)
    f, n, b = 41, 23, 57
    ref, fused = _pair(in_features=f, out_features=n, k=k, seed=k, input_grad=input_grad,
                       learn_wiring=True, candidates=candidates)
    x = _bits((b, f), gen)
    grad_out = torch.randn(b, n, generator=gen)
    a, c = _run(ref, x, grad_out), _run(fused, x, grad_out)
    assert c[2]["learned.weights"] is not None
    _assert_same(a, c)


@pytest.mark.parametrize("input_grad", ["exact", "efd"])
@pytest.mark.parametrize("chunk_nodes", [1, 3, 16, 1000, None])
def test_fused_lookup_equals_gather_then_lookup(input_grad: str, chunk_nodes) -> None:
    """The function itself, any chunking, wiring with repeated inputs (duplicate indices)."""
    gen = torch.Generator().manual_seed(7)
    b, f, n, k = 37, 9, 31, 5
    inputs = torch.randint(0, f, (n, k), generator=gen)  # repeats within and across nodes
    tables = torch.randn(n, 2**k, generator=gen)
    x = _bits((b, f), gen)
    grad_out = torch.randn(b, n, generator=gen)

    def ref(x2, t):
        return lut_lookup(x2.index_select(1, inputs.flatten()).view(b, n, k), t, input_grad)

    def fused(x2, t):
        return fused_lookup(x2, t, inputs, input_grad, chunk_nodes=chunk_nodes)

    outs = []
    for fn in (ref, fused):
        x2 = x.clone().requires_grad_(True)
        t = tables.clone().requires_grad_(True)
        y = fn(x2, t)
        y.backward(grad_out)
        outs.append((y.detach(), x2.grad, t.grad))
    for want, got in zip(*outs, strict=True):
        torch.testing.assert_close(got, want, **EXACT)


def test_fused_lookup_float64_and_partial_grads() -> None:
    gen = torch.Generator().manual_seed(3)
    b, f, n, k = 20, 12, 8, 3
    inputs = torch.randint(0, f, (n, k), generator=gen)
    tables = torch.randn(n, 2**k, generator=gen, dtype=torch.float64)
    x = _bits((b, f), gen).double()
    gathered = x.index_select(1, inputs.flatten()).view(b, n, k)
    torch.testing.assert_close(fused_lookup(x, tables, inputs), lut_lookup(gathered, tables),
                               **EXACT)
    # tables only (first layer: the input bits need no gradient), then inputs only
    t = tables.clone().requires_grad_(True)
    fused_lookup(x, t, inputs).sum().backward()
    t_ref = tables.clone().requires_grad_(True)
    lut_lookup(gathered, t_ref).sum().backward()
    torch.testing.assert_close(t.grad, t_ref.grad, **EXACT)
    x2 = x.clone().requires_grad_(True)
    fused_lookup(x2, tables, inputs).sum().backward()
    x_ref = x.clone().requires_grad_(True)
    lut_lookup(x_ref.index_select(1, inputs.flatten()).view(b, n, k), tables).sum().backward()
    torch.testing.assert_close(x2.grad, x_ref.grad, **EXACT)


@pytest.mark.parametrize("k", [1, 7, 8, 9])
def test_fused_address_widths(k: int) -> None:
    """Every address of a node reached (exhaustive), up to the uint8 -> int16 switch."""
    assert address_dtype(k) == (torch.uint8 if k <= 8 else torch.int16)
    a = torch.arange(2**k)
    x = ((a[:, None] >> torch.arange(k)) & 1).float()  # (2^k, k): row a = bits of a
    tables = torch.randn(3, 2**k, generator=torch.Generator().manual_seed(k))
    inputs = torch.arange(k).expand(3, k).contiguous()
    torch.testing.assert_close(fused_lookup(x, tables, inputs), tables.t(), **EXACT)


def test_fused_training_steps_equal_reference() -> None:
    """Two stacked layers (hidden layer gets input gradients), Adam, a few steps: same tables."""
    gen = torch.Generator().manual_seed(0)
    x = _bits((64, 30), gen)
    target = torch.randn(64, 12, generator=gen)
    nets = []
    for kernel in ("reference", "fused"):
        net = nn.Sequential(
            LUTLayer(30, 40, k=6, seed=1, bn=True, kernel=kernel, input_grad="efd",
                     learn_wiring=True),
            LUTLayer(40, 12, k=4, seed=2, kernel=kernel),
        )
        opt = torch.optim.Adam(net.parameters(), lr=0.05)
        for _ in range(5):
            opt.zero_grad()
            ((net(x) - target) ** 2).mean().backward()
            opt.step()
        nets.append(net)
    for (name, p), (_, q) in zip(nets[0].state_dict().items(), nets[1].state_dict().items(),
                                 strict=True):
        torch.testing.assert_close(q, p, **EXACT, msg=name)


def test_fused_kernel_option_and_errors() -> None:
    layer = LUTLayer(10, 4, k=3, kernel="fused")
    assert "kernel='fused'" in repr(layer)
    assert "kernel" not in repr(LUTLayer(10, 4, k=3))
    with pytest.raises(LutnnError, match="unknown LUT kernel"):
        LUTLayer(10, 4, k=3, kernel="triton")
    x = torch.rand(5, 10)  # soft inputs: "auto" falls back to chunked, the kernel is not used
    torch.testing.assert_close(layer.train()(x), LUTLayer(10, 4, k=3).train()(x), **EXACT)
    layer.eval()  # eval is the hard lookup, whatever the kernel
    bits = (x < 0.5).float()
    torch.testing.assert_close(layer(bits), LUTLayer(10, 4, k=3).eval()(bits), **EXACT)
    inputs = torch.zeros(4, 3, dtype=torch.int64)
    with pytest.raises(ValueError, match="x2 must be"):
        fused_lookup(bits[None], layer.tables, inputs)
    with pytest.raises(ValueError, match="needs tables"):
        fused_lookup(bits, layer.tables[:, :4], inputs)
    with pytest.raises(ValueError, match="int64"):
        fused_lookup(bits, layer.tables, inputs.int())
    with pytest.raises(LutnnError, match="unknown LUT input gradient"):
        fused_lookup(bits, layer.tables, inputs, "nope")


def test_fused_leading_dims() -> None:
    gen = torch.Generator().manual_seed(5)
    ref, fused = _pair(in_features=16, out_features=9, k=4, seed=5)
    x = _bits((3, 7, 16), gen)
    grad_out = torch.randn(3, 7, 9, generator=gen)
    _assert_same(_run(ref, x, grad_out), _run(fused, x, grad_out))


@pytest.mark.slow
def test_fused_lookup_under_torch_compile() -> None:
    """torch.compile of the fused path (inductor, CPU: needs a C++ compiler) gives the same
    values and gradients; skipped where compiling is not possible."""
    gen = torch.Generator().manual_seed(11)
    b, f, n, k = 33, 20, 12, 4
    inputs = torch.randint(0, f, (n, k), generator=gen)
    tables = torch.randn(n, 2**k, generator=gen)
    x = _bits((b, f), gen)
    grad_out = torch.randn(b, n, generator=gen)

    def step(fn):
        x2 = x.clone().requires_grad_(True)
        t = tables.clone().requires_grad_(True)
        y = fn(x2, t)
        y.backward(grad_out)
        return y.detach(), x2.grad, t.grad

    def eager(x2, t):
        return fused_lookup(x2, t, inputs, "efd")

    try:
        compiled = step(torch.compile(eager))
    except Exception as err:  # no C++ compiler, unsupported platform, ...
        pytest.skip(f"torch.compile unavailable here: {type(err).__name__}: {err}"[:300])
    (y_want, *grads_want), (y_got, *grads_got) = step(eager), compiled
    torch.testing.assert_close(y_got, y_want, **EXACT)  # table reads: no arithmetic
    # inductor may reorder the float sums of index_add (seen: 56 of 660 input-gradient
    # entries 1 ulp apart), so gradients agree to float32 rounding, not bit for bit; the
    # eager kernel (the one LUTLayer uses) is exact, tested above
    for want, got in zip(grads_want, grads_got, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_fused_lookup_float32_bits_float64_tables() -> None:
    """The input gradient is summed in the inputs' dtype, as autograd does for the reference."""
    gen = torch.Generator().manual_seed(13)
    b, f, n, k = 50, 7, 40, 3  # few inputs: many slots sum onto each input bit
    inputs = torch.randint(0, f, (n, k), generator=gen)
    tables = torch.randn(n, 2**k, generator=gen, dtype=torch.float64)
    x = _bits((b, f), gen)
    grad_out = torch.randn(b, n, generator=gen, dtype=torch.float64)
    outs = []
    for fused in (False, True):
        x2 = x.clone().requires_grad_(True)
        if fused:
            y = fused_lookup(x2, tables, inputs, "efd")
        else:
            y = lut_lookup(x2.index_select(1, inputs.flatten()).view(b, n, k), tables, "efd")
        y.backward(grad_out)
        outs.append((y.detach(), x2.grad))
    assert outs[1][1].dtype == torch.float32
    for want, got in zip(*outs, strict=True):
        torch.testing.assert_close(got, want, **EXACT)
