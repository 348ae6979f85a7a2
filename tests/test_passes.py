"""IR passes keep the function: simulate(lower(n)) == simulate(n) and simulate(prune(n)) ==
simulate(n), bit for bit, no tools."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from lutnn.hdl import emit_verilog
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
from lutnn.ir.passes import lower, minimize, minimize_lut, prune, prune_with_report
from lutnn.sim import simulate, simulate_reference
from strategies import lowering_netlists as netlists
from strategies import random_inputs


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


# -- prune ------------------------------------------------------------------------------------


def _permuted_lut(inputs: np.ndarray, table: np.ndarray, perm: np.ndarray):
    """The same LUT with its slots reordered: new slot i is old slot perm[i]."""
    a = np.arange(table.size)
    return inputs[perm], table[sum(((a >> i) & 1) << int(p) for i, p in enumerate(perm))]


@st.composite
def prunable_netlists(draw):
    """:func:`netlists` with something to prune in every layer: constant LUTs, LUTs that
    ignore an input, duplicates (LUTs with their slots permuted, threshold and OR rows
    copied) and constant threshold neurons."""
    net = draw(netlists())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    layers = []
    for layer in net.layers:
        n = layer.out_width
        inputs = layer.inputs.copy()
        if isinstance(layer, LutLayer):
            tables = layer.tables.copy()
            for i in np.flatnonzero(rng.random(n) < 0.2):
                tables[i] = rng.integers(0, 2)
            for i in np.flatnonzero(rng.random(n) < 0.2):  # ignore slot j
                j, a = rng.integers(layer.k), np.arange(layer.table_size)
                tables[i] = tables[i][a & ~(1 << j)]
            for i in np.flatnonzero(rng.random(n) < 0.3):
                src = rng.integers(n)
                inputs[i], tables[i] = _permuted_lut(inputs[src], tables[src],
                                                     rng.permutation(layer.k))
            layer = LutLayer(layer.name, layer.in_width, inputs, tables)
        elif isinstance(layer, ThresholdLayer):
            w, t = layer.weights.copy(), layer.thresholds.copy()
            for i in np.flatnonzero(rng.random(n) < 0.3):
                src, perm = rng.integers(n), rng.permutation(layer.fan_in)
                inputs[i], w[i], t[i] = inputs[src][perm], w[src][perm], t[src]
            layer = ThresholdLayer(layer.name, layer.in_width, inputs, w, t, layer.invert.copy())
        else:
            for i in np.flatnonzero(rng.random(n) < 0.3):
                inputs[i] = rng.permutation(inputs[rng.integers(n)])
            layer = OrLayer(layer.name, layer.in_width, inputs)
        layers.append(layer)
    out = Netlist(net.input_bits, tuple(layers), net.encoder, net.head)
    out.validate()
    return out


def assert_same_outputs(a, b) -> None:
    """Classes, scores and output bits (pruning changes the inner layers' widths)."""
    assert_array_equal(a.output_bits, b.output_bits)
    if a.scores is None:
        assert b.scores is None
    else:
        assert_array_equal(a.scores, b.scores)
        assert_array_equal(a.classes, b.classes)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=st.one_of(netlists(), prunable_netlists()), seed=st.integers(0, 2**16))
def test_prune_keeps_the_function(net, seed):
    x = random_inputs(net, 70, seed)
    want = simulate(net, x)
    pruned, report = prune_with_report(net)
    pruned.validate()
    assert_same_outputs(simulate(pruned, x), want)
    assert_same_outputs(simulate_reference(pruned, x), want)
    assert_same_outputs(simulate(minimize(lower(pruned)), x), want)  # what the emitter reads
    for entry, before, after in zip(report.layers, net.layers, pruned.layers, strict=True):
        assert (entry.before, entry.after) == (before.out_width, after.out_width)
        assert entry.before - entry.after == sum(entry.removed.values())
    assert pruned.layers[-1].out_width == net.layers[-1].out_width  # read by position
    again, second = prune_with_report(pruned)  # a fixed point: nothing left to remove
    assert [layer.out_width for layer in again.layers] == [
        layer.out_width for layer in pruned.layers]
    assert all(sum(e.removed.values()) == 0 for e in second.layers)


def _exhaustive(width: int) -> np.ndarray:
    a = np.arange(2**width)
    return ((a[:, None] >> np.arange(width)) & 1).astype(np.uint8)


def _lut(name, width, inputs, tables) -> LutLayer:
    return LutLayer(name, width, np.array(inputs, np.int32), np.array(tables, np.uint8))


XOR, AND, OR2, ONE = [0, 1, 1, 0], [0, 0, 0, 1], [0, 1, 1, 1], [1, 1, 1, 1]


def _check_pruned(net: Netlist) -> tuple[Netlist, dict]:
    pruned, report = prune_with_report(net)
    x = _exhaustive(net.input_bits)
    assert_same_outputs(simulate(pruned, x), simulate(net, x))
    return pruned, report.as_dict()


def test_prune_folds_a_constant_lut_into_its_consumers():
    a = _lut("a", 2, [[0, 1], [0, 1], [0, 1]], [XOR, ONE, AND])
    b = _lut("b", 3, [[0, 1], [1, 2]], [AND, OR2])  # x0^x1 AND 1; 1 OR (x0&x1)
    pruned, report = _check_pruned(Netlist(2, (a, b)))
    assert pruned.layers[0].out_width == 1  # the AND was read only by a constant
    assert report["layers"][0]["removed"] == {"constant": 1, "duplicate": 0, "dead": 1}
    assert (pruned.layers[1].tables[1] == 1).all()  # 1 OR anything: a constant last bit
    assert report["layers"][1]["constant_outputs"] == 1
    assert report["lut_nodes_before"] == 5 and report["lut_nodes_after"] == 3


def test_prune_merges_duplicates_in_any_slot_order():
    implies = [1, 0, 1, 1]  # ~x0 | x1 over (x0, x1); the same function over (x1, x0):
    swapped = [1, 1, 0, 1]
    a = _lut("a", 2, [[0, 1], [1, 0], [0, 1]], [implies, swapped, XOR])
    b = _lut("b", 3, [[0, 2], [1, 2]], [AND, AND])
    pruned, report = _check_pruned(Netlist(2, (a, b)))
    assert pruned.layers[0].out_width == 2
    assert report["layers"][0]["removed"] == {"constant": 0, "duplicate": 1, "dead": 0}
    assert pruned.layers[1].inputs[0].tolist() == pruned.layers[1].inputs[1].tolist()


def test_prune_removes_dead_nodes_and_reindexes():
    a = _lut("a", 3, [[0, 1], [1, 2], [0, 2]], [XOR, AND, OR2])
    b = _lut("b", 3, [[2, 2], [0, 2]], [[0, 1, 0, 1], AND])  # node 1 of a: never read
    pruned, report = _check_pruned(Netlist(3, (a, b), head=GroupSumHead("h", 2, 2)))
    assert pruned.layers[0].out_width == 2 and pruned.layers[1].in_width == 2
    assert report["layers"][0]["removed"]["dead"] == 1
    assert pruned.layers[1].inputs.max() <= 1


def test_prune_drops_reads_a_table_ignores():
    """Node 1 of ``a`` is read only through a slot ``b``'s table ignores: it goes."""
    a = _lut("a", 2, [[0, 1], [0, 1]], [XOR, AND])
    b = _lut("b", 2, [[0, 1]], [[0, 1, 0, 1]])  # depends on slot 0 only
    pruned, report = _check_pruned(Netlist(2, (a, b)))
    assert pruned.layers[0].out_width == 1 and report["layers"][0]["removed"]["dead"] == 1


def test_prune_threshold_and_or_layers():
    ones = np.ones((3, 2), np.int8)
    t = ThresholdLayer("t", 3, np.array([[0, 1], [1, 0], [1, 2]], np.int32), ones,
                       np.array([2, 2, 0], np.int32), np.zeros(3, bool))  # AND, AND, const 1
    o = OrLayer("o", 3, np.array([[0, 2], [1, 1], [0, 0]], np.int32))  # 1, t1, t0
    c = _lut("c", 3, [[0, 1], [1, 2]], [XOR, AND])
    pruned, report = _check_pruned(Netlist(3, (t, o, c)))
    # t1 is t0, so o1 is o2; o0 is a constant 1 the LUTs fold, and with it t2 goes
    assert [layer.out_width for layer in pruned.layers] == [1, 1, 2]
    for i in (0, 1):
        assert report["layers"][i]["removed"] == {"constant": 1, "duplicate": 1, "dead": 0}
    # Last, the OR layer keeps every bit; a constant OR keeps reading its constant input
    pruned, report = _check_pruned(Netlist(3, (t, o)))
    assert pruned.layers[0].out_width == 2 and report["layers"][1]["constant_outputs"] == 1
    assert report["layers"][0]["removed"] == {"constant": 0, "duplicate": 1, "dead": 0}


def test_prune_folds_constants_into_threshold_rows():
    a = _lut("a", 2, [[0, 1], [0, 1], [0, 1]], [ONE, XOR, AND])
    w = np.array([[1, 1, 1], [-1, 1, 1]], np.int8)
    t = ThresholdLayer("t", 3, np.array([[0, 1, 2], [0, 1, 2]], np.int32), w,
                       np.array([3, 2], np.int32), np.array([False, True]))
    pruned, report = _check_pruned(Netlist(2, (a, t)))
    assert report["layers"][0]["removed"]["constant"] == 1
    assert (pruned.layers[1].weights != 0).sum(axis=1).tolist() == [2, 2]
    assert pruned.layers[1].thresholds.tolist() == [2, 2]  # the always-1 slot counted once


def test_prune_constant_encoder_bits():
    enc = InputEncoder("enc", 1, 2, np.array([0, 100, 256], np.int16))  # bits 0,1: always 1
    a = _lut("a", 6, [[0, 2], [2, 4], [3, 5]], [AND, AND, XOR])  # bits 4, 5: always 0
    pruned = prune(Netlist(6, (a,), enc))
    assert (pruned.layers[0].tables[1] == 0).all()
    x = np.array([[p, q] for p in (0, 99, 100, 255) for q in (0, 100, 200)], np.uint8)
    assert_same_outputs(simulate(pruned, x), simulate(Netlist(6, (a,), enc), x))


def test_prune_leaves_a_clean_net_as_it_was():
    """Nothing to prune (every LUT on its full support, every node read): the same Verilog."""
    a = _lut("a", 3, [[0, 1], [1, 2], [2, 0]], [XOR, AND, OR2])
    b = _lut("b", 3, [[0, 1], [1, 2], [2, 0], [0, 2]], [XOR, AND, OR2, XOR])
    net = Netlist(3, (a, b), head=GroupSumHead("h", 4, 2))
    pruned, report = prune_with_report(net)
    assert report.lut_nodes_after == report.lut_nodes_before == 7
    assert emit_verilog(pruned).text == emit_verilog(net).text


def test_prune_refuses_the_lowered_form():
    net = Netlist(3, (_lut("a", 3, [[0, 1]], [XOR]),))
    with pytest.raises(ValueError, match="unlowered"):
        prune(lower(net))
