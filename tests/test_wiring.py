"""Wiring strategies: property tests (ranges, distinct inputs per node, balance, determinism)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lutnn.nn.wiring as wiring_module
from lutnn.errors import LutnnError
from lutnn.nn.wiring import (
    WIRINGS,
    depthwise_wiring,
    get_wiring,
    local_wiring,
    pointwise_wiring,
    random_wiring,
    serial_wiring,
    weight_order,
)

FAST = settings(max_examples=40, deadline=None)


def check_rows(w: torch.Tensor, n: int, k: int, in_features: int) -> None:
    assert w.dtype == torch.int64 and tuple(w.shape) == (n, k)
    assert int(w.min()) >= 0 and int(w.max()) < in_features
    assert all(len(set(row)) == k for row in w.tolist()), "an input repeated within a node"


@FAST
@given(k=st.integers(1, 6), extra=st.integers(0, 40), n=st.integers(1, 60), seed=st.integers(0, 9))
def test_random_is_balanced_and_distinct(k: int, extra: int, n: int, seed: int) -> None:
    f = k + extra
    w = random_wiring(f, n, k, seed=seed)
    check_rows(w, n, k, f)
    counts = torch.bincount(w.flatten(), minlength=f)
    assert int(counts.max() - counts.min()) <= 1
    assert torch.equal(w, random_wiring(f, n, k, seed=seed))


def test_random_straddling_rounds_and_seeds() -> None:
    # in=7, k=6: almost every node straddles two rounds
    w = random_wiring(7, 50, 6, seed=0)
    check_rows(w, 50, 6, 7)
    assert not torch.equal(w, random_wiring(7, 50, 6, seed=1))
    g = torch.Generator().manual_seed(0)
    assert torch.equal(random_wiring(7, 50, 6, generator=g), w)
    with pytest.raises(LutnnError, match="k=6 distinct inputs"):
        random_wiring(5, 3, 6)


@FAST
@given(k=st.integers(1, 6), extra=st.integers(0, 30), more=st.integers(0, 10))
def test_serial(k: int, extra: int, more: int) -> None:
    f = k + extra
    n = -(-f // k) + more
    w = serial_wiring(f, n, k)
    check_rows(w, n, k, f)
    assert set(w.flatten().tolist()) == set(range(f))
    assert w[0].tolist() == list(range(k))
    counts = torch.bincount(w.flatten(), minlength=f)
    assert int(counts.max() - counts.min()) <= 1


def test_serial_errors() -> None:
    assert serial_wiring(12, 2, 6).tolist() == [list(range(6)), list(range(6, 12))]
    with pytest.raises(LutnnError, match="ceil"):
        serial_wiring(13, 2, 6)


@FAST
@given(
    c=st.integers(1, 3),
    h=st.integers(1, 8),
    w=st.integers(1, 8),
    k=st.integers(1, 6),
    n=st.integers(1, 40),
    sigma=st.sampled_from([0.01, 1.0, 3.0]),
    seed=st.integers(0, 3),
)
def test_local(c: int, h: int, w: int, k: int, n: int, sigma: float, seed: int) -> None:
    f = c * h * w
    if f < k:
        return
    shape = (c, h, w) if c > 1 else (h, w)
    wr = local_wiring(f, n, k, in_shape=shape, sigma=sigma, seed=seed)
    check_rows(wr, n, k, f)
    assert torch.equal(wr, local_wiring(f, n, k, in_shape=shape, sigma=sigma, seed=seed))


def test_local_is_local() -> None:
    w = local_wiring(28 * 28, 196, 6, in_shape=(28, 28), sigma=1.0, seed=0)
    hh, ww = w // 28, w % 28
    centre = (torch.arange(196) + 0.5) * 784 / 196
    ch, cw = centre.long() // 28, centre.long() % 28
    dist = torch.maximum((hh - ch[:, None]).abs(), (ww - cw[:, None]).abs())
    assert float(dist.float().mean()) < 2.0
    assert int(dist.max()) <= 6
    with pytest.raises(LutnnError, match="in_shape"):
        local_wiring(784, 10, 6)
    with pytest.raises(LutnnError, match="holds 783"):
        local_wiring(784, 10, 6, in_shape=(27, 29))


@FAST
@given(
    c=st.integers(1, 8),
    h=st.integers(1, 5),
    w=st.integers(1, 5),
    k=st.integers(1, 6),
    n=st.integers(1, 50),
    seed=st.integers(0, 3),
)
def test_depthwise_and_pointwise(c: int, h: int, w: int, k: int, n: int, seed: int) -> None:
    f, hw = c * h * w, h * w
    if hw >= k:
        d = depthwise_wiring(f, n, k, in_shape=(c, h, w), seed=seed)
        check_rows(d, n, k, f)
        chans = d // hw
        assert (chans == chans[:, :1]).all(), "depthwise node reads two channels"
        assert torch.equal(chans[:, 0], torch.arange(n) * c // n)
        assert torch.equal(d, depthwise_wiring(f, n, k, in_shape=(c, h, w), seed=seed))
    if c >= k:
        p = pointwise_wiring(f, n, k, in_shape=(c, h, w), seed=seed)
        check_rows(p, n, k, f)
        pix = p % hw
        assert (pix == pix[:, :1]).all(), "pointwise node reads two pixels"
        assert torch.equal(p, pointwise_wiring(f, n, k, in_shape=(c, h, w), seed=seed))


@FAST
@given(
    n_out=st.integers(1, 5),
    n_in=st.integers(1, 30),
    k=st.integers(1, 6),
    lpn=st.integers(1, 5),
    data=st.data(),
)
def test_weight_order_takes_top_abs_sets(n_out: int, n_in: int, k: int, lpn: int, data) -> None:
    if lpn * k > n_in:
        with pytest.raises(LutnnError, match="exceeds"):
            weight_order(torch.zeros(n_out, n_in), k, lpn)
        return
    # small integers make ties frequent
    vals = data.draw(st.lists(st.integers(-3, 3), min_size=n_out * n_in, max_size=n_out * n_in))
    W = torch.tensor(vals, dtype=torch.float32).reshape(n_out, n_in)
    w = weight_order(W, k, lpn)
    check_rows(w, n_out * lpn, k, n_in)
    for o in range(n_out):
        ranked = sorted(range(n_in), key=lambda i: (-abs(vals[o * n_in + i]), i))
        for l in range(lpn):
            assert w[o * lpn + l].tolist() == ranked[l * k : (l + 1) * k]
    assert torch.equal(weight_order(W.numpy(), k, lpn), w)


def test_weight_order_errors() -> None:
    with pytest.raises(LutnnError, match="2-D"):
        weight_order(np.zeros(5), 2, 1)
    with pytest.raises(LutnnError, match="NaN"):
        weight_order(np.array([[1.0, np.nan]]), 1, 1)


def test_registry() -> None:
    assert {"random", "serial", "local", "depthwise", "pointwise"} <= set(WIRINGS)
    assert get_wiring("random") is random_wiring
    with pytest.raises(LutnnError, match="known wirings: .*random"):
        get_wiring("banana")
    for name, fn in WIRINGS.items():
        opts = {"in_shape": (4, 3, 3)} if name not in ("random", "serial") else {}
        w = fn(36, 12, 3, seed=1, **opts)
        check_rows(w, 12, 3, 36)


def test_docstring_examples() -> None:
    assert doctest.testmod(wiring_module, raise_on_error=False).failed == 0
