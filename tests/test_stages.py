"""Pipeline stages (ir.passes.assign_stages) and pipeline="balanced" Verilog, no EDA tool.

Stages change where registers go, never the function: both simulators give the same bits on
the staged netlist; every stage stays within the LUT-level bound of the depth model (an op
deeper than the bound alone in its stage); the Verilog states the latency it has.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from lutnn.hdl import emit_verilog
from lutnn.hdl.emit import default_argmax
from lutnn.ir import GroupSumHead, LogicLayer, LoweredHead, LutOp, Netlist
from lutnn.ir.lowered import COMPARE_LUT_INPUTS, greater_ops, parallel_argmax_ops
from lutnn.ir.passes import assign_stages, balanced_levels, lower, minimize, parallel_argmax
from lutnn.ir.passes.stages import op_levels, stage_depths
from lutnn.sim import simulate, simulate_reference
from lutnn.sim.reference import logic_signals
from strategies import lowering_netlists as netlists
from strategies import random_inputs
from test_hdl import _mixed_net, tiny_lut_net


def _lowered_nodes(net: Netlist) -> list:
    nodes = [layer for layer in net.layers if isinstance(layer, LogicLayer)]
    return nodes + ([net.head] if isinstance(net.head, LoweredHead) else [])


def _deepest_op(node) -> int:
    return max((op_levels(op) for op in node.ops), default=0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=netlists(), levels=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_stages_keep_the_function_and_the_bound(net, levels, seed):
    lowered = minimize(lower(net))
    staged = assign_stages(lowered, levels)
    x = random_inputs(net, 70, seed)  # every encoder kind the strategy draws
    want = simulate(net, x)
    for got in (simulate(staged, x), simulate_reference(staged, x)):
        for a, b in zip(got.layer_bits, want.layer_bits, strict=True):
            assert_array_equal(a, b)
        if net.head is not None:
            assert_array_equal(got.scores, want.scores)
            assert_array_equal(got.classes, want.classes)
    for node in _lowered_nodes(staged):
        bound = max(levels, _deepest_op(node))
        assert all(d <= bound for d in stage_depths(node)), (node.name, stage_depths(node))


def test_head_stages_by_hand():
    """40 bits in 2 classes of 20: three counter levels + the adder, then one argmax level."""
    net = minimize(lower(Netlist(40, (), head=GroupSumHead("head", 40, 2))))
    assert net.head.stages == 1 and net.head.argmax_stages == ()
    one = assign_stages(net, 1).head
    # the 5-bit scores' comparison reads 10 bits: 2 LUT levels (chunk gt/eq, then merge),
    # each its own stage, then the select
    assert one.compare_depth == 2
    assert one.stages == 7 and one.argmax_stages == ((4, 5, 6),)
    assert stage_depths(one) == [1, 1, 1, 1, 1, 1, 1]
    assert assign_stages(net, 2).head.argmax_stages == ((2, 2, 3),)
    assert assign_stages(net, 100).head.stages == 1
    assert assign_stages(net, None).head.stages == 7  # a netlist without LUT layers: N = 1


def test_validation_refuses_reading_a_later_stage():
    ops = (LutOp(2, 0, (0, 1), np.array([0, 1, 1, 0], np.uint8), stage=1),
           LutOp(3, 0, (2,), np.array([1, 0], np.uint8), stage=0))
    layer = LogicLayer("l", 2, ops, np.array([3], np.int32), "test", "")
    with pytest.raises(ValueError, match="later stage"):
        layer.validate()
    with pytest.raises(ValueError, match="stage"):
        dataclasses.replace(layer, ops=(dataclasses.replace(ops[0], stage=-1),)).validate()
    head = assign_stages(minimize(lower(Netlist(40, (), head=GroupSumHead("h", 40, 2)))), 1).head
    with pytest.raises(ValueError, match="argmax level 0"):
        dataclasses.replace(head, argmax_stages=((0, 5, 6),)).validate()  # before its scores
    with pytest.raises(ValueError, match="argmax level 0"):
        dataclasses.replace(head, argmax_stages=((4, 5),)).validate()  # a compare level short
    with pytest.raises(ValueError, match="argmax level 0"):
        dataclasses.replace(head, argmax_stages=((4, 6, 5),)).validate()  # not in order
    with pytest.raises(ValueError, match="one per tree level"):
        dataclasses.replace(head, argmax_stages=((5, 5, 5), (5, 5, 5))).validate()


@pytest.mark.parametrize("width", range(1, 12))
def test_greater_ops_is_b_greater_than_a_in_luts_of_six(width):
    """Every pair of ``width``-bit numbers (a sample of them from 7 bits on): the LUT tree
    says b > a, each LUT reads at most 6 signals and level l reads only level l - 1."""
    ops = greater_ops(width)
    rng = np.random.default_rng(width)
    if width <= 6:
        a, b = (v.ravel() for v in np.meshgrid(np.arange(2**width), np.arange(2**width)))
    else:
        a, b = rng.integers(0, 2**width, (2, 5000))
        a[:50] = b[:50]  # ties
    signals = [(a >> j) & 1 for j in range(width)] + [(b >> j) & 1 for j in range(width)]
    level = [-1] * (2 * width)
    for op in ops:
        assert op.out == len(signals) and len(op.inputs) <= COMPARE_LUT_INPUTS
        assert all(level[s] == op.stage - 1 for s in op.inputs)
        signals.append(op.table[sum(signals[s] << j for j, s in enumerate(op.inputs))])
        level.append(op.stage)
    assert_array_equal(signals[-1].astype(bool), b > a)
    assert 1 + ops[-1].stage == (1 if width <= 3 else 2 if width <= 9 else 3)


def test_balanced_levels_is_the_deepest_lut_layer():
    net = _mixed_net(np.random.default_rng(0))
    assert balanced_levels(minimize(lower(net))) == 1
    with pytest.raises(ValueError, match="levels_per_stage"):
        assign_stages(minimize(lower(net)), 0)


@pytest.mark.parametrize("levels", [None, 1, 2, 3])
def test_balanced_verilog_latency_and_registers(levels):
    net = _mixed_net(np.random.default_rng(0))
    design = emit_verilog(net, pipeline="balanced", levels_per_stage=levels)
    assert design.argmax == "parallel"  # balanced's default
    staged = assign_stages(parallel_argmax(minimize(lower(net))), levels)
    inner = sum(node.stages - 1 for node in _lowered_nodes(staged))
    assert design.latency == 5 + inner  # a register after each of the 5 blocks, plus inside
    assert f"// Latency: {design.latency} clock cycle(s)" in design.text
    assert design.levels_per_stage == (levels or 1)
    assert len(design.stages) == design.latency
    assert sum(len(s) for s in design.stages) == 5 + inner
    assert design.text.count("initial st") == design.latency  # one valid bit per stage


def test_layer_and_none_text_do_not_change_with_balanced_available():
    """The golden files are the check (tests/test_hdl.py); here: no stage leaks into them."""
    for pipeline in ("layer", "none", 2):
        text = emit_verilog(_mixed_net(np.random.default_rng(0)), pipeline=pipeline).text
        assert "_p1" not in text and ".clk(clk), .x(" not in text
    assert not re.search(r"_p\d", emit_verilog(tiny_lut_net(), pipeline="balanced").text)


def test_levels_per_stage_needs_balanced():
    with pytest.raises(ValueError, match="balanced"):
        emit_verilog(tiny_lut_net(), pipeline="layer", levels_per_stage=2)


@pytest.mark.parametrize(("classes", "width"), [(2, 1), (2, 3), (3, 2), (4, 2), (5, 1),
                                                 (10, 3), (10, 7), (13, 8)])
def test_parallel_argmax_ops_is_the_lowest_index_argmax(classes, width):
    """Every pair compared at once, an AND per class, one-hot -> index: the class of
    ``np.argmax`` (lowest index on ties) on every score vector (a sample where there are too
    many, full of ties), each LUT of at most 6 inputs."""
    rng = np.random.default_rng(classes * 100 + width)
    if (2**width) ** classes <= 5000:
        grid = np.meshgrid(*[np.arange(2**width)] * classes)
        scores = np.stack([g.ravel() for g in grid], axis=1)
    else:
        scores = rng.integers(0, 2**width, (5000, classes))
        scores[:1000] = rng.integers(0, 2, (1000, classes)) * (2**width - 1)  # ties at max
        scores[1000:1100] = scores[1000:1100, :1]  # all equal
    firsts = [c * width for c in range(classes)]
    ops, bits = parallel_argmax_ops(classes, width, firsts, classes * width, classes)
    assert all(len(op.inputs) <= COMPARE_LUT_INPUTS for op in ops)
    assert len(bits) == max(1, (classes - 1).bit_length())
    x = np.stack([(scores[:, c] >> j) & 1 for c in range(classes) for j in range(width)],
                 axis=1).astype(bool)
    signals = logic_signals(ops, x)
    got = sum(signals[s].astype(np.int64) << b for b, s in enumerate(bits))
    assert_array_equal(got, np.argmax(scores, axis=1))
    with pytest.raises(ValueError, match="2 classes"):
        parallel_argmax_ops(1, width, firsts[:1], width, 1)


@pytest.mark.parametrize(("classes", "group"), [(10, 100), (10, 40), (10, 7), (4, 20), (2, 3)])
def test_parallel_argmax_stages_and_function(classes, group):
    """Staged at 1 LUT level per stage: every stage within the bound, the same classes as the
    unlowered simulator, and fewer stages than the tree (10 classes x 100 bits: 12 vs 19 head
    stages; the argmax 5 stages instead of 12)."""
    net = Netlist(classes * group, (), head=GroupSumHead("head", classes * group, classes))
    lowered = minimize(lower(net))
    parallel = assign_stages(parallel_argmax(lowered), 1)
    tree = assign_stages(lowered, 1)
    head = parallel.head
    assert head.argmax == "parallel" and head.argmax_stages == () and tree.head.argmax == "tree"
    assert max(stage_depths(head)) <= 1
    assert head.stages <= tree.head.stages
    if (classes, group) == (10, 100):
        assert (head.stages, tree.head.stages) == (12, 19)
        popcount = 1 + max(op.stage for op in head.ops[:len(lowered.head.ops)])
        assert head.stages - popcount == 5  # 2 comparison, 2 AND, 1 encoding levels
    rng = np.random.default_rng(group)
    x = (rng.random((600, classes * group)) < rng.random((600, 1))).astype(np.uint8)
    x[:100] = np.tile(x[:100, :group], classes)  # all classes tie: class 0
    x[100:200, group:2 * group] = x[100:200, :group]  # 0 and 1 tie
    want = simulate(net, x).classes
    for staged in (parallel, parallel_argmax(lowered)):  # staged, and in one stage
        assert_array_equal(simulate_reference(staged, x).classes, want)
        assert_array_equal(simulate(staged, x).classes, want)  # the packed simulator
    with pytest.raises(ValueError, match="class_bits"):
        dataclasses.replace(head, argmax_stages=((0, 0),)).validate()
    with pytest.raises(ValueError, match="class_bits"):
        dataclasses.replace(head, class_bits=head.class_bits + head.class_bits).validate()


def test_default_argmax_is_parallel_only_with_balanced():
    assert [default_argmax(p) for p in ("balanced", "layer", "none", 2)] == [
        "parallel", "tree", "tree", "tree"]
    net = _mixed_net(np.random.default_rng(0))
    assert emit_verilog(net, pipeline="layer").argmax == "tree"
    both = {a: emit_verilog(net, pipeline="balanced", argmax=a) for a in ("tree", "parallel")}
    assert both["parallel"].latency < both["tree"].latency
    assert "argmax='parallel'" in both["parallel"].text
    assert "argmax='parallel'" not in both["tree"].text
    with pytest.raises(ValueError, match="argmax"):
        emit_verilog(net, pipeline="balanced", argmax="fast")
