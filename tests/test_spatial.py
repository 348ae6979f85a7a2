"""Spatial IR nodes (shared-table convolutions, pooling, flatten): the simulators on them, their
unrolled lowering, the frontend's spatial form, save/load and validation errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from torch import nn

from lutnn.frontend import to_ir
from lutnn.ir import (
    GroupSumHead,
    ImageFlatten,
    InputEncoder,
    LutConv,
    LutLayer,
    Netlist,
    OrPool,
    ThresholdLayer,
    XnorConv,
    load_netlist,
    netlist_summary,
    save_netlist,
)
from lutnn.ir.dispatch import MissingEntryError
from lutnn.ir.passes import lower, lower_spatial
from lutnn.ir.spatial import SPATIAL_LAYERS
from lutnn.models import build_model, make_config
from lutnn.nn.binary import BinaryLinear
from lutnn.nn.lut import LUTLayer
from lutnn.sim import simulate, simulate_reference
from lutnn.student import build_student

GEOMETRY = ("kernel_rows", "kernel_cols", "stride_rows", "stride_cols", "pad_rows", "pad_cols")


# ----------------------------------------------------------------------------- random nets


def _conv_geometry(draw, shape, pad_ok=True):
    """kernel 1..3, stride 1..2, padding 0..1 that fit ``shape`` (None when nothing fits)."""
    _, r, q = shape
    pad = draw(st.integers(0, 1)) if pad_ok else 0
    kr = draw(st.integers(1, min(3, r + 2 * pad)))
    kc = draw(st.integers(1, min(3, q + 2 * pad)))
    return kr, kc, draw(st.integers(1, 2)), draw(st.integers(1, 2)), pad, pad


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _lut_conv(draw, name, shape, rng, depthwise=False):
    c = shape[0]
    kr, kc, sr, sc, pr, pc = _conv_geometry(draw, shape)
    groups = c if depthwise else draw(st.sampled_from(_divisors(c)))
    n = groups * draw(st.integers(1, 2 if depthwise else 3))
    k = draw(st.integers(1, 4))
    cg, kk = c // groups, kr * kc
    group = np.arange(n) // (n // groups)
    channel = group[:, None] * cg + rng.integers(0, cg, (n, k))
    inputs = (channel * kk + rng.integers(0, kk, (n, k))).astype(np.int32)
    tables = rng.integers(0, 2, (n, 2**k)).astype(np.uint8)
    return LutConv(name, *shape, kr, kc, sr, sc, pr, pc, inputs, tables, groups=groups,
                   pad_value=draw(st.integers(0, 1)))


def _xnor_conv(draw, name, shape, rng, depthwise=False):
    c = shape[0]
    kr, kc, sr, sc, pr, pc = _conv_geometry(draw, shape)
    groups = c if depthwise else draw(st.sampled_from(_divisors(c)))
    n = groups * draw(st.integers(1, 2 if depthwise else 3))
    f = c // groups * kr * kc
    weights = rng.choice(np.array([-1, 0, 1, 1, -1], np.int8), (n, f))
    return XnorConv(name, *shape, kr, kc, sr, sc, pr, pc, weights,
                    rng.integers(0, f + 2, n).astype(np.int32), rng.random(n) < 0.5,
                    groups=groups, pad_value=draw(st.integers(0, 1)))


def _pool(draw, name, shape, rng):
    kr, kc, sr, sc, _, _ = _conv_geometry(draw, shape, pad_ok=False)
    return OrPool(name, *shape, kr, kc, sr, sc)


@st.composite
def spatial_nets(draw):
    """encoder? -> 1..4 random spatial nodes (LUT / XNOR / depthwise convs, pools) ->
    flatten -> [a flat LUT layer] -> [head]; random tables, weights and thresholds."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    encoder = None
    if draw(st.booleans()):
        c0, levels = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        r, q = draw(st.integers(2, 6)), draw(st.integers(2, 6))
        thresholds = np.sort(rng.choice(np.arange(1, 256), levels, replace=False))
        encoder = InputEncoder("enc", c0, c0 * r * q, thresholds.astype(np.int16))
        shape = (c0 * levels, r, q)
    else:
        shape = (draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    layers = []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["lut", "xnor", "pool", "lut_dw", "xnor_dw"]))
        if kind == "pool":
            node = _pool(draw, f"s{i}", shape, rng)
        else:
            build = _lut_conv if kind.startswith("lut") else _xnor_conv
            node = build(draw, f"s{i}", shape, rng, depthwise=kind.endswith("dw"))
        layers.append(node)
        shape = node.out_shape
    width = int(np.prod(shape))
    if draw(st.booleans()):
        layers.append(ImageFlatten("flat", *shape))
        if draw(st.booleans()):
            n = 2 * draw(st.integers(1, 4))
            layers.append(LutLayer("dense", width, rng.integers(0, width, (n, 3)).astype(
                np.int32), rng.integers(0, 2, (n, 8)).astype(np.uint8)))
            width = n
    head = None
    if isinstance(layers[-1], (ImageFlatten, LutLayer)) and width % 2 == 0:
        head = GroupSumHead("head", width, 2)
    input_bits = encoder.out_width if encoder else layers[0].in_width
    net = Netlist(input_bits, tuple(layers), encoder=encoder, head=head)
    net.validate()
    return net


def _inputs(net: Netlist, batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if net.encoder is not None:
        return rng.integers(0, 256, (batch, net.encoder.pixels)).astype(np.uint8)
    return rng.integers(0, 2, (batch, net.input_bits)).astype(np.uint8)


def _flat_stages(net: Netlist, result) -> list[np.ndarray]:
    """The stages of a spatial net's result without its ImageFlatten stages (the lowered
    net has none: the flatten is the identity)."""
    offset = net.encoder is not None
    return [bits for i, bits in enumerate(result.layer_bits)
            if i < offset or not isinstance(net.layers[i - offset], ImageFlatten)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spatial_nets(), st.integers(1, 70), st.integers(0, 1000))
def test_spatial_equals_its_unrolled_lowering(net, batch, seed):
    x = _inputs(net, batch, seed)
    flat = lower_spatial(net)
    assert not any(isinstance(layer, SPATIAL_LAYERS) for layer in flat.layers)
    ours, theirs = simulate(net, x), simulate(flat, x)
    reference = simulate_reference(net, x)
    stages = _flat_stages(net, ours)
    assert len(stages) == len(theirs.layer_bits)
    for i, (a, b) in enumerate(zip(stages, theirs.layer_bits, strict=True)):
        assert_array_equal(a, b, err_msg=f"stage {i}")
    for i, (a, b) in enumerate(zip(ours.layer_bits, reference.layer_bits, strict=True)):
        assert_array_equal(a, b, err_msg=f"stage {i} (reference)")
    if net.head is not None:
        assert_array_equal(ours.scores, theirs.scores)
        assert_array_equal(ours.classes, reference.classes)


# ----------------------------------------------------------------------------- trained shapes

SHAPE = (1, 8, 8)
TINY = {
    "lut-cnn": {"channels": [4, 6], "layers": [60], "group_size": 4},
    "teacher-mobilenet": {"stem_channels": 4, "channels": [6], "hidden": [32], "group_size": 4},
    "teacher-cnn": {"channels": [4, 6], "hidden": [32], "group_size": 4},
}


def _randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random tables, weights and BN statistics (negative and zero scales included)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, BinaryLinear):
                fan_in = m.in_features // m.groups
                m.weight.uniform_(-1, 1)
                m.bn.running_mean.uniform_(-0.3 * fan_in**0.5, 0.3 * fan_in**0.5)
                m.bn.running_var.uniform_(0.5, 2.0 * fan_in)
                m.bn.weight.uniform_(-1, 1)
                m.bn.weight[::7] = 0.0
                m.bn.bias.uniform_(-0.5, 0.5)
            if isinstance(m, LUTLayer):
                m.tables.normal_()
    return model.eval()


def _tiny(name: str) -> nn.Module:
    torch.manual_seed(1)
    if name == "lut-student":  # a LUT student of a MobileNet: depthwise LUT convolutions
        teacher = build_model("teacher-mobilenet", make_config(
            "teacher-mobilenet", TINY["teacher-mobilenet"]), SHAPE, 10)
        return _randomize(build_student(teacher, 6, (6,), wiring="random"))
    return _randomize(build_model(name, make_config(name, TINY[name]), SHAPE, 10))


def _torch_bits(model: nn.Module, x: torch.Tensor) -> tuple[list[np.ndarray], np.ndarray]:
    """Bits after every block but Flatten and the head, flattened; and the classes."""
    outs, h = [], x
    with torch.no_grad():
        for m in model:
            h = m(h)
            if not isinstance(m, nn.Flatten) and m is not model[-1]:
                outs.append(h.reshape(len(x), -1).numpy().astype(bool))
    return outs, h.argmax(1).numpy()


@pytest.mark.parametrize("name", ["lut-cnn", "teacher-mobilenet", "teacher-cnn", "lut-student"])
def test_spatial_to_ir_equals_unrolled_and_torch(name):
    model = _tiny(name)
    spatial, unrolled = to_ir(model, SHAPE, spatial=True), to_ir(model, SHAPE)
    assert any(isinstance(layer, (LutConv, XnorConv)) for layer in spatial.layers)
    assert any(isinstance(layer, OrPool) for layer in spatial.layers)
    assert sum(isinstance(layer, ImageFlatten) for layer in spatial.layers) == 1
    # lowering the spatial form gives the default netlist, array for array
    flat = lower_spatial(spatial)
    assert len(flat.layers) == len(unrolled.layers)
    for a, b in zip(flat.layers, unrolled.layers, strict=True):
        assert type(a) is type(b) and a.name == b.name
        for key, value in vars(a).items():
            if isinstance(value, np.ndarray):
                assert_array_equal(value, getattr(b, key), err_msg=f"{a.name}.{key}")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (150, 64)).astype(np.uint8)
    pixels[:50] = np.where(rng.random((50, 64)) < 0.5, 0, 255)  # saturated images too
    ours, theirs = simulate(spatial, pixels), simulate(unrolled, pixels)
    torch_bits, torch_classes = _torch_bits(model, torch.from_numpy(pixels).float().reshape(
        -1, *SHAPE))
    stages = _flat_stages(spatial, ours)
    assert len(stages) == len(theirs.layer_bits) == len(torch_bits)
    for i, (a, b, t) in enumerate(zip(stages, theirs.layer_bits, torch_bits, strict=True)):
        assert_array_equal(a, b, err_msg=f"stage {i} of {name} (unrolled)")
        assert_array_equal(a, t, err_msg=f"stage {i} of {name} (torch)")
    assert_array_equal(ours.scores, theirs.scores)
    assert_array_equal(ours.classes, torch_classes)


def test_depthwise_student_convs_are_grouped():
    spatial = to_ir(_tiny("lut-student"), SHAPE, spatial=True)
    convs = [layer for layer in spatial.layers if isinstance(layer, LutConv)]
    depthwise = [c for c in convs if c.kernel_rows == 3 and c.groups == c.channels > 1]
    assert depthwise, [(c.name, c.groups, c.channels) for c in convs]


def test_default_to_ir_is_unchanged_by_the_option():
    """spatial=False (the default) never emits a spatial node; an MLP is the same either way."""
    model = _tiny("lut-cnn")
    assert not any(isinstance(layer, SPATIAL_LAYERS) for layer in to_ir(model, SHAPE).layers)
    torch.manual_seed(0)
    mlp = build_model("lut-mlp", make_config("lut-mlp", {"layers": [40, 20]}), SHAPE, 10).eval()
    a, b = to_ir(mlp, SHAPE, spatial=True), to_ir(mlp, SHAPE)
    assert [type(layer) for layer in a.layers] == [type(layer) for layer in b.layers]


def test_summary_counts_shared_tables_once():
    spatial = to_ir(_tiny("lut-cnn"), SHAPE, spatial=True)
    rows = netlist_summary(spatial)["layers"]
    conv = next(r for r in rows if r["type"] == "LutConv")
    assert conv["nodes"] == 4 and conv["positions"] == 64 and conv["out_width"] == 4 * 64
    unrolled = netlist_summary(to_ir(_tiny("lut-cnn"), SHAPE))["totals"]["lut_nodes"]
    assert netlist_summary(spatial)["totals"]["lut_nodes"] == unrolled - 4 * 63 - 6 * 15


def test_flat_backends_refuse_spatial_nodes_by_name():
    spatial = to_ir(_tiny("lut-cnn"), SHAPE, spatial=True)
    with pytest.raises(MissingEntryError, match="'ir.passes.lower' has no entry for IR node "
                                                "type LutConv"):
        lower(spatial)
    lower(lower_spatial(spatial))  # the unrolled form lowers


# ----------------------------------------------------------------------------- save / load


def test_save_load_round_trip(tmp_path):
    net = _all_spatial_types()
    save_netlist(net, tmp_path)
    back = load_netlist(tmp_path)
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in net.layers]
    for a, b in zip(back.layers, net.layers, strict=True):
        for key, value in vars(b).items():
            if isinstance(value, np.ndarray):
                assert getattr(a, key).dtype == value.dtype
                assert_array_equal(getattr(a, key), value)
            else:
                assert getattr(a, key) == value, key
    x = _inputs(net, 70, 3)
    assert_array_equal(simulate(back, x).scores, simulate(net, x).scores)


def _all_spatial_types() -> Netlist:
    """enc (2 levels) -> LUT conv (pad 1 of 1s) -> depthwise XNOR conv (stride 2) -> pool
    -> flatten -> threshold layer -> head."""
    rng = np.random.default_rng(5)
    enc = InputEncoder("enc", 1, 36, np.array([64, 192], np.int16))
    lut = LutConv("lut", 2, 6, 6, 3, 3, 1, 1, 1, 1, rng.integers(0, 18, (4, 4)).astype(np.int32),
                  rng.integers(0, 2, (4, 16)).astype(np.uint8), pad_value=1)
    dw = XnorConv("dw", 4, 6, 6, 3, 3, 2, 2, 1, 1, rng.choice([-1, 1], (4, 9)).astype(np.int8),
                  rng.integers(0, 10, 4).astype(np.int32), rng.random(4) < 0.5, groups=4)
    pool = OrPool("pool", 4, 3, 3, 2, 2, 1, 1)
    flat = ImageFlatten("flat", 4, 2, 2)
    thr = ThresholdLayer("thr", 16, rng.integers(0, 16, (6, 5)).astype(np.int32),
                         rng.choice([-1, 1], (6, 5)).astype(np.int8),
                         rng.integers(0, 6, 6).astype(np.int32), np.zeros(6, bool))
    net = Netlist(72, (lut, dw, pool, flat, thr), encoder=enc, head=GroupSumHead("head", 6, 3))
    net.validate()
    return net


# ----------------------------------------------------------------------------- validate()


def _lut(**kw):
    args = dict(name="c", channels=2, rows=5, cols=5, kernel_rows=3, kernel_cols=3,
                stride_rows=1, stride_cols=1, pad_rows=0, pad_cols=0,
                inputs=np.zeros((2, 3), np.int32), tables=np.zeros((2, 8), np.uint8))
    return LutConv(**{**args, **kw})


def _xnor(**kw):
    args = dict(name="x", channels=2, rows=5, cols=5, kernel_rows=3, kernel_cols=3,
                stride_rows=1, stride_cols=1, pad_rows=0, pad_cols=0,
                weights=np.ones((2, 18), np.int8), thresholds=np.zeros(2, np.int32),
                invert=np.zeros(2, bool))
    return XnorConv(**{**args, **kw})


@pytest.mark.parametrize("node, message", [
    (_lut(kernel_rows=6), r"'c': a 6x3 window with padding \(0, 0\) does not fit a 5x5 image"),
    (_lut(stride_cols=0), "'c': stride_cols must be an int >= 1, got 0"),
    (_lut(pad_rows=-1), "'c': pad_rows must be an int >= 0, got -1"),
    (_lut(rows=np.int64(5)), "'c': rows must be an int >= 1"),
    (_lut(pad_value=2), "'c': pad_value must be 0 or 1, got 2"),
    (_lut(groups=3), r"'c': groups \(3\) must divide the 2 input channels"),
    (_lut(inputs=np.zeros((2, 9), np.int32), tables=np.zeros((2, 512), np.uint8)),
     "'c': k must be in 1..8, got 9"),
    (_lut(tables=np.zeros((2, 4), np.uint8)), r"'c': tables must have shape \(2, 8\)"),
    (_lut(inputs=np.full((2, 3), 18, np.int32)), r"'c': inputs must be patch slots 0..17"),
    (_lut(tables=np.full((2, 8), 2, np.uint8)), "'c': table entries must be 0 or 1"),
    (_lut(groups=2, inputs=np.array([[0, 1, 9], [9, 10, 11]], np.int32)),
     r"'c': output channel 0 \(group 0 of 2\) reads input channels outside its group"),
    (_lut(groups=2, inputs=np.zeros((3, 3), np.int32), tables=np.zeros((3, 8), np.uint8)),
     r"'c': groups \(2\) must divide the 3 output channels"),
    (_xnor(weights=np.ones((2, 9), np.int8)), r"'x': weights must have shape \(2, 18\)"),
    (_xnor(groups=2), r"'x': weights must have shape \(2, 9\) \(out_channels, fan_in\)"),
    (_xnor(weights=np.full((2, 18), 2, np.int8)), "'x': weights must be -1, 0 or \\+1"),
    (_xnor(thresholds=np.array([0, 20], np.int32)), "'x': thresholds must be in 0..19"),
    (_xnor(invert=np.zeros(2, np.int8)), "'x': invert must have dtype bool"),
    (OrPool("p", 1, 2, 2, 3, 3, 1, 1), "'p': a 3x3 window with padding"),
    (ImageFlatten("f", 0, 2, 2), "'f': channels must be an int >= 1, got 0"),
])
def test_validate_names_the_problem(node, message):
    with pytest.raises(ValueError, match=message):
        node.validate()


def test_netlist_checks_that_images_chain():
    pool = OrPool("p", 2, 4, 4, 2, 2, 2, 2)  # writes [2, 2, 2], 8 bits
    lut = LutLayer("d", 8, np.zeros((2, 1), np.int32), np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match=r"'d' \(LutLayer\) reads a flat vector but the layer "
                                         r"before writes a \[2, 2, 2\] image: put an ImageFlatten"):
        Netlist(32, (pool, lut)).validate()
    with pytest.raises(ValueError, match=r"'head' \(GroupSumHead\) reads a flat vector"):
        Netlist(32, (pool,), head=GroupSumHead("head", 8, 2)).validate()
    other = OrPool("q", 8, 1, 1, 1, 1, 1, 1)  # 8 bits too, but a [8, 1, 1] image
    with pytest.raises(ValueError, match=r"'q': reads a \[8, 1, 1\] image but the layer before "
                                         r"writes \[2, 2, 2\]"):
        Netlist(32, (pool, other)).validate()
    Netlist(32, (pool, ImageFlatten("f", 2, 2, 2), lut)).validate()  # with the flatten: fine
    enc = InputEncoder("enc", 1, 16, np.array([128, 200], np.int16))  # 2 channels of 4x4
    with pytest.raises(ValueError, match=r"'p4': reads 4 channels but the encoder writes 2 "
                                         r"\(1 channels x 2 levels\)"):
        Netlist(32, (OrPool("p4", 4, 2, 4, 1, 1, 1, 1),), encoder=enc).validate()
    Netlist(32, (pool,), encoder=enc).validate()
