"""Learnable wiring and EFD input gradients of the LUT layer, against brute-force oracles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lutnn.errors import LutnnError
from lutnn.nn.learned_wiring import LearnedWiring
from lutnn.nn.lut import LUTLayer, lut_lookup
from lutnn.nn.slopes import EFD_ALPHA, EFD_BETA, EFD_DECAY, efd_slopes, input_slopes


def _efd_brute_force(tables: torch.Tensor) -> torch.Tensor:
    """DWN's EFD written out entry by entry: G[n, x, j] = sum_a alpha beta^H (2 a_j - 1) T[n, a]."""
    n, size = tables.shape
    k = size.bit_length() - 1
    alpha = EFD_ALPHA * EFD_DECAY ** (k - 1)
    out = torch.zeros(n, size, k, dtype=torch.float64)
    for x in range(size):
        for j in range(k):
            for a in range(size):
                h = bin((a ^ x) & ~(1 << j)).count("1")
                sign = 1.0 if (a >> j) & 1 else -1.0
                out[:, x, j] += alpha * EFD_BETA**h * sign * tables[:, a].double()
    return out


@pytest.mark.parametrize("k", [1, 2, 3, 4, 6])
def test_efd_equals_brute_force(k: int) -> None:
    tables = torch.randn(3, 2**k, generator=torch.Generator().manual_seed(k))
    np.testing.assert_allclose(efd_slopes(tables).double(), _efd_brute_force(tables), atol=1e-5)


def test_efd_nearest_term_is_the_scaled_exact_slope() -> None:
    """With beta -> 0 only the two entries at distance 0 remain: alpha * exact slope."""
    import lutnn.nn.slopes as slopes

    tables = torch.randn(4, 2**5, generator=torch.Generator().manual_seed(1))
    old = slopes.EFD_BETA
    try:
        slopes.EFD_BETA = 0.0
        alpha = slopes.EFD_ALPHA * slopes.EFD_DECAY**4
        torch.testing.assert_close(efd_slopes(tables), alpha * input_slopes(tables))
    finally:
        slopes.EFD_BETA = old


def test_lookup_efd_gradient_is_a_gather_of_the_slopes() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randint(0, 2, (5, 3, 4), generator=gen).float().requires_grad_()
    tables = torch.randn(3, 16, generator=gen, requires_grad=True)
    g = torch.randn(5, 3, generator=gen)
    (lut_lookup(x, tables, "efd") * g).sum().backward()
    slopes = efd_slopes(tables.detach())  # (N, 2^k, k)
    addr = (x.detach() * 2.0 ** torch.arange(4)).sum(-1).long()  # (B, N)
    want = slopes[torch.arange(3), addr] * g.unsqueeze(-1)  # (B, N, k)
    torch.testing.assert_close(x.grad, want)
    with pytest.raises(LutnnError, match="input gradient"):
        lut_lookup(x, tables, "nope")


def test_learned_wiring_starts_from_the_given_wiring_and_selects_by_argmax() -> None:
    initial = torch.tensor([[3, 1], [0, 2]])
    for candidates in (None, 3):
        w = LearnedWiring(5, initial, candidates, seed=0)
        assert w.selected().tolist() == initial.tolist()
        with torch.no_grad():
            w.weights[0, -1] = 10.0  # slot 0 now prefers its last candidate
        last = 4 if candidates is None else int(w.candidates[0, -1])
        assert w.selected()[0, 0] == last
        x = torch.rand(7, 5).round()
        np.testing.assert_array_equal(w(x).detach(), x[:, w.selected()])


@pytest.mark.parametrize("candidates", [None, 4])
def test_learned_wiring_gradients_equal_their_definition(candidates) -> None:
    """dL/dw[s, c] = sum_b (2 x[b, cand[s, c]] - 1) g[b, s]; dL/dx = the hard gather's gradient."""
    gen = torch.Generator().manual_seed(3)
    f, initial = 6, torch.tensor([[0, 1, 2], [3, 4, 5]])
    w = LearnedWiring(f, initial, candidates, seed=1, matmul_dtype=torch.float32)
    x = torch.randint(0, 2, (8, f), generator=gen).float().requires_grad_()
    g = torch.randn(8, 2, 3, generator=gen)
    (w(x) * g).sum().backward()
    cand = torch.arange(f).expand(6, f) if candidates is None else w.candidates  # (S, C)
    gs = g.reshape(8, 6)  # (B, S)
    want_w = torch.einsum("bsc,bs->sc", 2 * x.detach()[:, cand] - 1, gs)
    torch.testing.assert_close(w.weights.grad, want_w)
    want_x = torch.zeros(8, f).index_add_(1, w.selected().flatten(), gs)
    torch.testing.assert_close(x.grad, want_x)


def test_weight_gradient_points_to_the_useful_input() -> None:
    """A slot reading noise, with the label available as another candidate, moves to the label.

    One LUT1 (identity table) must output the target bit; input 0 is noise, input 1 is the
    target.  Gradient descent on the wiring weights alone switches the slot to input 1.
    """
    torch.manual_seed(0)
    layer = LUTLayer(2, 1, k=1, wiring=torch.tensor([[0]]), learn_wiring=True)
    with torch.no_grad():
        layer.tables.copy_(torch.tensor([[-0.5, 0.5]]))  # identity: out = in
    opt = torch.optim.SGD([layer.learned.weights], lr=0.1)
    target = torch.randint(0, 2, (64, 1)).float()
    x = torch.cat([torch.randint(0, 2, (64, 1)).float(), target], dim=1)
    for _ in range(20):
        opt.zero_grad()
        ((layer(x) - target) ** 2).mean().backward()
        opt.step()
    assert layer.learned.selected().tolist() == [[1]]
    layer.eval()
    assert layer.inputs.tolist() == [[1]]  # the buffer the IR and eval read follows
    np.testing.assert_array_equal(layer(x), target)


def test_learned_layer_state_dict_round_trip_and_export_wiring() -> None:
    layer = LUTLayer(30, 8, k=3, learn_wiring=True, candidates=5, seed=4)
    with torch.no_grad():
        layer.learned.weights.uniform_(0, 1)  # a new selection, not yet synced
    state = layer.state_dict()  # saving syncs ``inputs`` with the weights
    assert torch.equal(state["inputs"], layer.learned.selected())
    other = LUTLayer(30, 8, k=3, learn_wiring=True, candidates=5, seed=9)
    other.load_state_dict(state)
    x = torch.randint(0, 2, (16, 30)).float()
    np.testing.assert_array_equal(other.eval()(x), layer.eval()(x))


def test_trained_learned_wiring_exports_bit_exact(tiny_npz) -> None:
    """A lut-mlp whose first layer learned its wiring: IR simulator == PyTorch on every bit."""
    from lutnn.data import load_dataset
    from lutnn.frontend import to_ir
    from lutnn.models import build_model, make_config
    from lutnn.sim import simulate
    from lutnn.train import to_tensor

    data = load_dataset(str(tiny_npz), val_size=50)
    cfg = make_config("lut-mlp", {"encoder": "thermometer", "levels": 2, "layers": [40, 30],
                                  "learned_wiring": 1, "input_grad": "efd", "tau": 1.0})
    torch.manual_seed(0)
    model = build_model("lut-mlp", cfg, data.input_shape, data.num_classes)
    start = model[2].inputs.clone()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    x, y = to_tensor(data.x_train), torch.from_numpy(data.y_train)
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    assert not torch.equal(model[2].inputs, start)  # the wiring moved
    netlist = to_ir(model, data.input_shape)
    np.testing.assert_array_equal(netlist.layers[0].inputs, model[2].inputs.numpy())
    result = simulate(netlist, data.x_test.reshape(len(data.x_test), -1))
    with torch.no_grad():
        t = to_tensor(data.x_test)
        bits = [model[1](model[0](t))]
        for layer in model[2:4]:
            bits.append(layer(bits[-1]))
        scores = model(t)
    for got, want in zip(result.layer_bits, bits, strict=True):
        np.testing.assert_array_equal(got, want.numpy().astype(bool))
    np.testing.assert_array_equal(result.classes, scores.argmax(1).numpy())


def test_bfloat16_weight_gradient_is_close_to_the_float32_one() -> None:
    """The fast all-inputs product in bfloat16 keeps the float32 gradient's values closely."""
    gen = torch.Generator().manual_seed(5)
    initial = torch.randint(0, 300, (40, 6), generator=gen)
    x = torch.randint(0, 2, (64, 300), generator=gen).float()
    g = torch.randn(64, 40, 6, generator=gen)
    grads = []
    for dtype in (torch.float32, torch.bfloat16):
        w = LearnedWiring(300, initial, None, seed=0, matmul_dtype=dtype)
        (w(x) * g).sum().backward()
        grads.append(w.weights.grad)
    scale = grads[0].abs().max()
    assert (grads[1] - grads[0]).abs().max() <= 0.02 * scale
