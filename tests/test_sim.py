"""The packed simulator against the reference definitions, bit for bit, plus hand-checked nets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from lutnn.ir import GroupSumHead, InputEncoder, LutLayer, Netlist, OrLayer, ThresholdLayer
from lutnn.sim import pack_bits, simulate, simulate_reference, unpack_bits
from lutnn.sim import packed as packed_mod
from strategies import lut_layer, threshold_layer
from strategies import netlists as shared_netlists
from strategies import random_inputs as _inputs


def _lut(name, in_width, n, k, rng):
    return lut_layer(name, in_width, n, k, rng, constant_tables=True)


def _threshold(name, in_width, n, f, rng):
    return threshold_layer(name, in_width, n, f, rng)


def _or(name, in_width, n, m, rng):
    return OrLayer(name, in_width, rng.integers(0, in_width, size=(n, m)).astype(np.int32))


def netlists():
    """A random valid netlist of every layer type (no layers at all, too; some constant LUT
    tables), with or without encoder and head."""
    return shared_netlists(layers=(0, 4), width=(1, 40), out=(1, 70), group=(1, 6),
                           fan_in=st.integers(1, 20), or_fan_in=(1, 5), channels=(1, 3),
                           pixels=(1, 10), constant_tables=True)


def _assert_same(a, b) -> None:
    assert len(a.layer_bits) == len(b.layer_bits)
    for x, y in zip(a.layer_bits, b.layer_bits, strict=True):
        assert x.dtype == np.bool_ and y.dtype == np.bool_
        assert_array_equal(x, y)
    if b.scores is None:
        assert a.scores is None and a.classes is None
    else:
        assert a.scores.dtype == np.int32 and a.classes.dtype == np.int64
        assert_array_equal(a.scores, b.scores)
        assert_array_equal(a.classes, b.classes)


@settings(max_examples=150, deadline=None)
@given(net=netlists(), batch=st.integers(0, 200), seed=st.integers(0, 2**32 - 1))
def test_packed_matches_reference(net, batch, seed):
    x = _inputs(net, batch, seed)
    ref = simulate_reference(net, x)
    _assert_same(simulate(net, x), ref)
    short = simulate(net, x, keep_layers=False)
    assert len(short.layer_bits) == 1
    assert_array_equal(short.output_bits, ref.output_bits)
    if ref.scores is not None:
        assert_array_equal(short.classes, ref.classes)


def test_small_chunks_match_reference(monkeypatch):
    """Chunk boundaries (nodes, samples, weight matrix) do not change any bit."""
    monkeypatch.setattr(packed_mod, "LUT_CHUNK_WORDS", 7)
    monkeypatch.setattr(packed_mod, "THRESHOLD_SAMPLES", 50)
    monkeypatch.setattr(packed_mod, "THRESHOLD_MATRIX_ENTRIES", 100)
    rng = np.random.default_rng(0)
    layers = (
        _lut("a", 30, 40, 6, rng),
        _threshold("b", 40, 33, 9, rng),
        _or("c", 33, 20, 3, rng),
        _lut("d", 20, 12, 3, rng),
    )
    net = Netlist(30, layers, head=GroupSumHead("h", 12, 4))
    x = rng.integers(0, 2, size=(301, 30)).astype(np.bool_)
    _assert_same(simulate(net, x), simulate_reference(net, x))


@pytest.mark.parametrize("batch", [0, 1, 63, 64, 65, 200])
def test_pack_roundtrip(batch):
    bits = np.random.default_rng(batch).random((batch, 7)) < 0.5
    words = pack_bits(bits)
    assert words.dtype == np.uint64 and words.shape == (7, -(-batch // 64))
    assert_array_equal(unpack_bits(words, batch), bits)


def test_pack_layout():
    bits = np.zeros((130, 2), dtype=bool)
    bits[0, 0] = bits[63, 0] = bits[64, 1] = bits[129, 1] = True
    words = pack_bits(bits)
    assert words[0].tolist() == [1 | (1 << 63), 0, 0]
    assert words[1].tolist() == [0, 1, 2]


def test_lut_address_bit_order():
    """Input 0 is the least significant address bit: table one-hot at address 1 = in0 & ~in1."""
    layer = LutLayer("l", 2, np.array([[0, 1]], np.int32), np.array([[0, 1, 0, 0]], np.uint8))
    x = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.uint8)
    for sim in (simulate, simulate_reference):
        assert sim(Netlist(2, (layer,)), x).output_bits[:, 0].tolist() == [0, 1, 0, 0]


def test_threshold_semantics():
    """count = matches of connected inputs (weight 0 ignored); (count >= t) XOR invert."""
    layer = ThresholdLayer(
        "t",
        3,
        inputs=np.array([[0, 1, 2], [0, 1, 2], [0, 0, 2], [0, 1, 2]], np.int32),
        weights=np.array([[1, -1, 0], [1, 1, 1], [1, 1, -1], [0, 0, 0]], np.int8),
        thresholds=np.array([2, 3, 2, 0], np.int32),
        invert=np.array([False, True, False, True]),
    )
    x = np.array([[1, 0, 1], [1, 1, 1], [0, 1, 0]], np.uint8)
    # neuron 0: counts 2,1,0 -> >=2; neuron 1: counts 2,3,1 -> not(>=3);
    # neuron 2: x0 twice, counts 2,2,1 -> >=2 ; neuron 3: no inputs, t=0 -> 1, inverted -> 0.
    expected = [[1, 1, 1, 0], [0, 0, 1, 0], [0, 1, 0, 0]]
    for sim in (simulate, simulate_reference):
        assert sim(Netlist(3, (layer,)), x).output_bits.astype(int).tolist() == expected


def test_encoder_layout_and_extremes():
    """bit[(c*T + t)*HW + p] = pixel[c*HW + p] >= thr[t]; thresholds 0 and 256 are constants."""
    enc = InputEncoder("e", 2, 4, np.array([0, 100, 256], np.int16))  # C=2, HW=2, T=3
    x = np.array([[0, 255, 100, 99]], np.uint8)
    expected = [1, 1, 0, 1, 0, 0] + [1, 1, 1, 0, 0, 0]
    for sim in (simulate, simulate_reference):
        r = sim(Netlist(12, (), encoder=enc), x)
        assert r.layer_bits[0][0].astype(int).tolist() == expected


def test_head_ties_go_to_lowest_class():
    head = GroupSumHead("h", 6, 3)
    x = np.array([[1, 0, 0, 1, 1, 0], [0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]], np.uint8)
    for sim in (simulate, simulate_reference):
        r = sim(Netlist(6, (), head=head), x)
        assert r.scores.tolist() == [[1, 1, 1], [0, 2, 2], [0, 0, 0]]
        assert r.classes.tolist() == [0, 1, 0]


def test_bad_inputs_are_rejected():
    net = Netlist(2, (_or("o", 2, 1, 2, np.random.default_rng(0)),))
    with pytest.raises(ValueError, match="bits"):
        simulate(net, np.zeros((3, 5), np.uint8))
    with pytest.raises(ValueError, match="0 or 1"):
        simulate(net, np.full((3, 2), 2, np.uint8))
    enc_net = Netlist(2, (), encoder=InputEncoder("e", 1, 2, np.array([1], np.int16)))
    with pytest.raises(ValueError, match="uint8 pixels"):
        simulate(enc_net, np.zeros((3, 2), np.int64))
