"""IR passes keep the function: simulate(lower(n)) == simulate(n), bit for bit, no tools."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from lutnn.ir import (
    AddOp,
    CompareOp,
    GroupSumHead,
    InputEncoder,
    LogicLayer,
    LoweredHead,
    LutLayer,
    LutOp,
    Netlist,
    OrLayer,
    ThresholdLayer,
)
from lutnn.ir.passes import lower, minimize, minimize_lut
from lutnn.sim import simulate, simulate_reference


def _threshold(name, width, n, fan_in, rng) -> ThresholdLayer:
    inputs = rng.integers(0, width, (n, fan_in)).astype(np.int32)
    weights = rng.choice(np.array([-1, 0, 1], np.int8), (n, fan_in), p=[0.4, 0.2, 0.4])
    weights[rng.random(n) < 0.1] = 0  # unconnected neurons
    connected = (weights != 0).sum(axis=1)
    # Around the connected count's middle, plus the constant cases 0 and F + 1.
    thresholds = np.where(rng.random(n) < 0.7, connected // 2 + rng.integers(-2, 3, n),
                          rng.choice([0, fan_in + 1, fan_in], n)).clip(0, fan_in + 1)
    return ThresholdLayer(name, width, inputs, weights, thresholds.astype(np.int32),
                          rng.random(n) < 0.5)


@st.composite
def netlists(draw):
    """Random netlists of every unlowered type; threshold fan-ins up to 300 reach every branch
    of the lowering (single LUT, counter tree + LUT, adder + LUT, adder + comparator)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    encoder = None
    if draw(st.booleans()):
        channels, hw = draw(st.integers(1, 2)), draw(st.integers(1, 4))
        levels = draw(st.sets(st.integers(0, 256), min_size=1, max_size=3))
        encoder = InputEncoder("enc", channels, channels * hw, np.array(sorted(levels), np.int16))
        width = encoder.out_width
    else:
        width = draw(st.integers(1, 24))
    input_bits, layers = width, []
    n_layers = draw(st.integers(1, 3))
    head = draw(st.booleans())
    classes, group = draw(st.integers(2, 5)), draw(st.integers(1, 40))
    for i in range(n_layers):
        out = classes * group if head and i == n_layers - 1 else draw(st.integers(1, 24))
        kind = draw(st.sampled_from(["lut", "threshold", "or"]))
        if kind == "lut":
            k = draw(st.integers(1, 8))
            layer = LutLayer(f"l{i}", width, rng.integers(0, width, (out, k)).astype(np.int32),
                             rng.integers(0, 2, (out, 2**k)).astype(np.uint8))
        elif kind == "threshold":
            fan_in = draw(st.sampled_from([1, 3, 6, 7, 12, 20, 40, 70, 130, 300]))
            layer = _threshold(f"l{i}", width, out, fan_in, rng)
        else:
            layer = OrLayer(f"l{i}", width,
                            rng.integers(0, width, (out, draw(st.integers(1, 4)))).astype(np.int32))
        layers.append(layer)
        width = out
    net = Netlist(input_bits, tuple(layers), encoder,
                  GroupSumHead("head", width, classes) if head else None)
    net.validate()
    return net


def random_inputs(net: Netlist, batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if net.encoder is None:
        return rng.integers(0, 2, (batch, net.input_bits)).astype(np.uint8)
    near = np.concatenate([net.encoder.thresholds + d for d in (-1, 0, 1)]).clip(0, 255)
    pool = np.concatenate([near, rng.integers(0, 256, near.size)])
    return rng.choice(pool, (batch, net.encoder.pixels)).astype(np.uint8)


def assert_same(a, b) -> None:
    assert len(a.layer_bits) == len(b.layer_bits)
    for x, y in zip(a.layer_bits, b.layer_bits, strict=True):
        assert_array_equal(x, y)
    if a.scores is None:
        assert b.scores is None
    else:
        assert_array_equal(a.scores, b.scores)
        assert_array_equal(a.classes, b.classes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=netlists(), seed=st.integers(0, 2**16))
def test_lowering_keeps_the_function(net, seed):
    x = random_inputs(net, 70, seed)  # 70: more than one packed word
    want = simulate(net, x)
    lowered = lower(net)
    assert all(isinstance(layer, (LogicLayer, OrLayer)) for layer in lowered.layers)
    assert net.head is None or isinstance(lowered.head, LoweredHead)
    assert_same(simulate(lowered, x), want)
    assert_same(simulate(minimize(lowered), x), want)
    assert_same(simulate_reference(minimize(lowered), x), want)


def test_every_threshold_branch_is_reached():
    """Fan-ins 6, 20, 40 and 64 lower to: one LUT; tree + LUT; tree + adder + LUT; + compare."""
    rng = np.random.default_rng(3)
    kinds = {}
    for fan_in in (6, 20, 40, 64):
        w = np.ones((1, fan_in), np.int8)
        layer = ThresholdLayer("t", fan_in, np.arange(fan_in, dtype=np.int32)[None], w,
                               np.array([fan_in // 2], np.int32), np.array([True]))
        net = Netlist(fan_in, (layer,))
        ops = lower(net).layers[0].ops
        kinds[fan_in] = (sum(isinstance(op, LutOp) for op in ops),
                         [type(op).__name__ for op in ops if not isinstance(op, LutOp)])
        x = rng.integers(0, 2, (200, fan_in)).astype(np.uint8)
        assert_same(simulate(lower(net), x), simulate(net, x))
    assert kinds[6] == (1, [])
    assert kinds[20][1] == [] and kinds[20][0] > 1
    assert kinds[40][1] == ["AddOp"]
    assert kinds[64][1] == ["AddOp", "CompareOp"]


def test_minimize_lut_merges_and_drops_inputs():
    assert minimize_lut([4, 5, 6], np.array([0, 0, 1, 1, 0, 0, 1, 1], np.uint8))[0] == [5]
    inputs, table = minimize_lut([2, 2], np.array([0, 1, 1, 0], np.uint8))  # x XOR x
    assert inputs == [] and table.tolist() == [0]


def test_logic_ops_by_hand():
    """AddOp wraps modulo 2**width and reads inverted terms; CompareOp inverts."""
    ops = (
        AddOp(3, 0, 2, (((0, False), (1, True)), ((2, False), None))),  # x0 + 2*~x1 + x2
        CompareOp(5, 0, 3, 2, 2, False),  # sum >= 2
        LutOp(6, 0, (), np.array([1], np.uint8)),
    )
    layer = LogicLayer("h", 3, ops, np.array([5, 6], np.int32), "test", "by hand")
    x = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], np.uint8)
    total = (x[:, 0] + 2 * (1 - x[:, 1]) + x[:, 2]) % 4
    for sim in (simulate, simulate_reference):
        out = sim(Netlist(3, (layer,)), x).output_bits
        assert_array_equal(out[:, 0], total >= 2)
        assert out[:, 1].all()


@pytest.mark.parametrize("bad", [
    (LutOp(4, 0, (0,), np.array([0, 1], np.uint8)),),  # writes 4, expected 3
    (LutOp(3, 0, (3,), np.array([0, 1], np.uint8)),),  # reads itself
    (AddOp(3, 0, 2, (((0, False),),)),),  # a row of 1 term for a 2-bit sum
])
def test_bad_logic_is_refused(bad):
    layer = LogicLayer("bad", 3, bad, np.array([3], np.int32), "test", "")
    with pytest.raises(ValueError, match="'bad'"):
        layer.validate()
