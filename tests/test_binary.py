"""Teacher layers against oracles: float layers fed sign(x), sign(w); F.conv2d; definitions."""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis.extra.numpy import arrays

from lutnn.errors import LutnnError
from lutnn.nn.binary import (
    BinaryLinear,
    BinaryMaxPool2d,
    GroupSum,
    SignSTE,
    clipped_ste_sign,
    get_quantizer,
    hard_sign,
    ste_sign,
)
from lutnn.nn.conv import LoweredConv2d

floats = arrays(np.float32, st.integers(1, 40), elements=st.floats(-3, 3, width=32))


@given(floats)
def test_sign_forward_and_zero_convention(x):
    t = torch.from_numpy(x)
    expected = np.where(x >= 0, 1.0, -1.0)  # sign(0) = +1
    for q in (ste_sign, clipped_ste_sign):
        np.testing.assert_array_equal(q(t).numpy(), expected)


@given(floats)
def test_ste_gradients(x):
    t = torch.from_numpy(x).requires_grad_()
    ste_sign(t).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.ones_like(x))
    t.grad = None
    # one STE convention for teachers and LUT layers: the gradient passes where |x| <= 1
    clipped_ste_sign(t).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), (np.abs(x) <= 1).astype(np.float32))


def test_sign_of_zero_is_plus_one_and_activation_gives_bits():
    assert hard_sign(torch.tensor([0.0])).item() == 1.0
    np.testing.assert_array_equal(SignSTE()(torch.tensor([-1.0, 0.0, 0.3])).numpy(), [0, 1, 1])


def test_unknown_quantizer_is_a_user_error():
    with pytest.raises(LutnnError, match="unknown quantizer 'sgn'.*clipped_ste, ste"):
        get_quantizer("sgn")
    with pytest.raises(LutnnError, match="unknown quantizer"):
        BinaryLinear(4, 2, quantizer="nope")


@pytest.mark.parametrize("binary_weights", [True, False])
@pytest.mark.parametrize("groups", [1, 3])
def test_binary_linear_equals_float_layer_fed_signs(binary_weights, groups):
    """Oracle: Linear on sign(x) (and sign(w)), then BatchNorm1d, then sign, as bits."""
    torch.manual_seed(0)
    layer = BinaryLinear(12, 6, binary_weights=binary_weights, groups=groups)
    with torch.no_grad():
        layer.bn.running_mean.uniform_(-2, 2)
        layer.bn.running_var.uniform_(0.5, 2)
        layer.bn.weight.uniform_(-1, 1)
        layer.bn.bias.uniform_(-1, 1)
    layer.eval()
    bits = torch.randint(0, 2, (50, 12)).float()
    x = torch.where(bits > 0, 1.0, -1.0)
    w = torch.where(layer.weight >= 0, 1.0, -1.0) if binary_weights else layer.weight
    conv_w = w.reshape(6, 12 // groups, 1)  # a grouped 1-D conv of length 1 is a grouped linear
    s = F.conv1d(x.unsqueeze(-1), conv_w, groups=groups).squeeze(-1)
    z = F.batch_norm(s, layer.bn.running_mean, layer.bn.running_var, layer.bn.weight,
                     layer.bn.bias, False, 0.0, layer.bn.eps)
    np.testing.assert_array_equal(layer(bits).detach().numpy(), (z >= 0).float().numpy())


def test_binary_linear_accepts_leading_dims_and_checks_width():
    layer = BinaryLinear(8, 4).eval()
    assert layer(torch.zeros(2, 5, 8)).shape == (2, 5, 4)
    with pytest.raises(ValueError, match=r"expects inputs \[..., 8\], got \(2, 7\)"):
        layer(torch.zeros(2, 7))
    with pytest.raises(ValueError, match="divisible by groups"):
        BinaryLinear(8, 4, groups=3)


def test_binary_linear_keeps_linear_signature():
    import inspect

    params = list(inspect.signature(BinaryLinear.__init__).parameters)
    assert params[:6] == list(inspect.signature(torch.nn.Linear.__init__).parameters)


def test_clip_parameters_bounds_latent_weights():
    layer = BinaryLinear(4, 2, binary_weights=True)
    with torch.no_grad():
        layer.weight.mul_(10)
    layer.clip_parameters()
    assert layer.weight.abs().max() <= 1.0


@pytest.mark.parametrize("stride,padding,kernel", [(1, 0, 3), (1, 1, 3), (2, 1, 3), (1, 0, 1)])
def test_lowered_conv_with_linear_inner_equals_conv2d(stride, padding, kernel):
    torch.manual_seed(1)
    inner = torch.nn.Linear(3 * kernel * kernel, 5)
    conv = LoweredConv2d(3, 5, kernel, inner, stride=stride, padding=padding)
    x = torch.randn(2, 3, 9, 8)
    expected = F.conv2d(x, inner.weight.view(5, 3, kernel, kernel), inner.bias,
                        stride=stride, padding=padding)
    torch.testing.assert_close(conv(x), expected, rtol=1e-5, atol=1e-5)


def test_lowered_conv_shape_errors():
    conv = LoweredConv2d(2, 4, 3, torch.nn.Linear(18, 4))
    with pytest.raises(ValueError, match=r"expects \[B, 2, H, W\]"):
        conv(torch.zeros(1, 3, 5, 5))


def test_depthwise_binary_layer_reads_one_channel_per_neuron():
    """groups = C inside a lowered conv: output channel c depends on input channel c only."""
    torch.manual_seed(2)
    dw = LoweredConv2d(4, 4, 3, BinaryLinear(36, 4, groups=4, binary_weights=True), padding=1)
    dw.eval()
    x = torch.randint(0, 2, (1, 4, 6, 6)).float()
    y = dw(x)
    x2 = x.clone()
    x2[:, 2] = 1 - x2[:, 2]  # flip every bit of channel 2
    y2 = dw(x2)
    changed = (y != y2).flatten(2).any(-1).squeeze(0)
    assert not changed[[0, 1, 3]].any()


def test_binary_max_pool_is_or_and_group_sum_is_popcount():
    bits = torch.randint(0, 2, (3, 2, 4, 4)).float()
    pooled = BinaryMaxPool2d(2)(bits)
    windows = bits.unfold(2, 2, 2).unfold(3, 2, 2).reshape(3, 2, 2, 2, 4)
    np.testing.assert_array_equal(pooled.numpy(), windows.amax(-1).numpy())
    head = GroupSum(3, tau=2.0)
    out_bits = torch.tensor([[1, 1, 0, 0, 1, 1.0], [0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(head(out_bits).numpy(), [[1.0, 0.0, 1.0], [0, 0, 0]])
    assert head(out_bits).argmax(1).tolist() == [0, 0]  # ties: lowest class index
    with pytest.raises(ValueError, match="GroupSum expects"):
        head(torch.zeros(2, 7))


@settings(deadline=None, max_examples=20)
@given(st.integers(0, 2**31 - 1))
def test_xnor_popcount_identity(seed):
    """sum(w * x) over ±1 equals 2 * popcount(xnor(w, x)) - F: what the hardware computes."""
    rng = np.random.default_rng(seed)
    w = rng.choice([-1, 1], size=37)
    x = rng.choice([-1, 1], size=37)
    assert (w * x).sum() == 2 * np.sum((w > 0) == (x > 0)) - 37


@pytest.mark.parametrize("groups,stride,padding", [(1, 1, 1), (4, 2, 1), (4, 1, 0), (1, 2, 0)])
@pytest.mark.parametrize("binary_weights,neuron_hidden", [(True, 0), (False, 0), (False, 3)])
@pytest.mark.parametrize("kernel", [3, 1])
def test_conv_forward_equals_the_lowered_path(groups, stride, padding, binary_weights,
                                              neuron_hidden, kernel):
    """LoweredConv2d's one-conv2d path (BinaryLinear inner) == unfold -> inner -> fold:
    the same bits in training and eval mode, gradients to float64 rounding; 3x3 and 1x1
    kernels; with neuron MLPs (connected to 6 inputs, the MLP's output weights random) too."""
    import copy

    from lutnn.nn.conv import LoweredConv2d

    torch.manual_seed(0)
    inner = BinaryLinear(4 * kernel**2, 8, groups=groups, binary_weights=binary_weights,
                         max_fan_in=6 if neuron_hidden else 0, neuron_hidden=neuron_hidden)
    if neuron_hidden:
        with torch.no_grad():
            inner.hidden_out.normal_()
    # float64: BatchNorm over a neuron of one binary input amplifies float32 rounding
    conv = LoweredConv2d(4, 8, kernel, inner, stride=stride, padding=padding).double()
    x = torch.randint(0, 2, (3, 4, 7, 6)).double()
    runs = []
    for direct in (False, True):
        c = copy.deepcopy(conv)
        c.direct = direct
        out = c.train()(x)
        (out * torch.arange(out.numel()).reshape(out.shape)).sum().backward()
        runs.append((out.detach(), c.eval()(x), [p.grad for p in c.parameters()]))
    (lo_train, lo_eval, lo_grads), (d_train, d_eval, d_grads) = runs
    torch.testing.assert_close(d_train, lo_train, rtol=0, atol=0)
    torch.testing.assert_close(d_eval, lo_eval, rtol=0, atol=0)
    for a, b in zip(d_grads, lo_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("max_fan_in,groups", [(6, 1), (0, 4)])
def test_neuron_mlp_on_every_address_equals_the_layer(max_fan_in, groups):
    """neuron_hidden: each neuron adds an MLP of its <= 6 connected inputs to its sum.
    neuron_preactivation, given its inputs in any order and every address of them, equals
    the layer's eval pre-activation of full input vectors carrying those bits (the oracle:
    every other input random, since a neuron reads only its connected ones); and the MLP
    changes some output bits (it is not a threshold function of the sum)."""
    torch.manual_seed(0)
    in_features = 20 if max_fan_in else 16  # groups 4: 4 inputs per neuron
    layer = BinaryLinear(in_features, 8, groups=groups, max_fan_in=max_fan_in,
                         neuron_hidden=5).eval()
    with torch.no_grad():
        layer.hidden_out.normal_(0.0, 2.0)
        layer.bn.running_mean.normal_()
    slots = layer.neuron_inputs()  # (8, k) ascending, group-local
    k = slots.shape[1]
    shuffled = slots[:, torch.randperm(k)]  # the LUT's own input order
    address = torch.arange(2**k)
    bits = ((address[:, None] >> torch.arange(k)) & 1).float()  # (A, k): bit j = input j
    neurons = torch.arange(8)
    z = layer.neuron_preactivation(neurons, shuffled, bits.expand(8, -1, -1))  # (8, A)
    per_group = in_features // groups
    base = neurons // (8 // groups) * per_group
    x = torch.randint(0, 2, (8, 2**k, in_features)).float()
    x[neurons[:, None, None], torch.arange(2**k)[None, :, None],
      (shuffled + base[:, None])[:, None, :]] = bits
    full = layer.preactivation(x)  # (8, A, 8): every neuron on each neuron's vectors
    torch.testing.assert_close(z, full[neurons, :, neurons], rtol=0, atol=1e-5)
    plain = layer.bn(layer.linear_sum(x).reshape(-1, 8) - layer._hidden_sum(
        2 * x - 1).reshape(-1, 8)).reshape(full.shape)
    assert ((plain >= 0) != (full >= 0)).any()


def test_neuron_mlp_waits_for_pruning_and_needs_small_fan_in():
    """A pruned layer's MLP adds nothing until its neurons are down to max_fan_in inputs;
    a neuron of more than 6 inputs cannot carry one."""
    layer = BinaryLinear(30, 4, max_fan_in=6, prune_epochs=2, neuron_hidden=3)
    assert layer.neuron_inputs() is None
    layer.end_epoch(2)
    assert layer.neuron_inputs().shape == (4, 6)
    with pytest.raises(ValueError, match="at most 6 inputs"):
        BinaryLinear(30, 4, neuron_hidden=3)
