"""Cheaper encoders (issue 22): only the comparators the network reads are built, equal
comparators are one, and the bit-plane encoder feeds a pixel's top bits as wires; every form
(PyTorch, IR simulator, RTL) gives the same bits."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal

from lutnn.data.encodings import BitplaneEncoder as TorchBitplanes
from lutnn.data.encodings import get_encoder
from lutnn.errors import LutnnError, ToolNotFoundError
from lutnn.frontend import to_ir
from lutnn.hdl import emit_verilog, find_tool
from lutnn.hdl.rtl import run_rtl
from lutnn.ir import (
    BitplaneEncoder,
    FeatureEncoder,
    GroupSumHead,
    InputEncoder,
    LutLayer,
    Netlist,
    load_netlist,
    save_netlist,
)
from lutnn.ir.passes import prune
from lutnn.ir.passes.encoder import encoder_bits_read, encoder_copies
from lutnn.models import build_model, make_config
from lutnn.pipeline import export_run, simulate_run
from lutnn.sim import simulate, simulate_reference
from lutnn.train import TrainConfig, load_run, train


def _icarus() -> None:
    try:
        find_tool("iverilog")
        find_tool("vvp")
    except ToolNotFoundError as exc:
        pytest.skip(str(exc))


def _comparators(text: str) -> list[str]:
    """The encoder comparisons in emitted Verilog, as ``x[msb:lsb] >= N'dT``."""
    return re.findall(r"\(x\[\d+:\d+\] >= \d+'d\d+\)", text)


def _xor_net(encoder, last: int = 11) -> Netlist:
    """Two XOR LUTs reading encoder bits 0 and 5, and 5 and ``last``; nothing reads the
    others."""
    lut = LutLayer("l0", encoder.out_width, np.array([[0, 5], [5, last]], np.int32),
                   np.array([[0, 1, 1, 0], [0, 1, 1, 0]], np.uint8))
    return Netlist(encoder.out_width, (lut,), encoder, GroupSumHead("head", 2, 2))


def test_an_unread_comparator_is_absent_from_the_verilog(tmp_path):
    """Thermometer 64/128/192 over 4 pixels: bit (t*4 + p) is pixel p >= threshold t.  Bits 0
    (p0 >= 64), 5 (p1 >= 128) and 11 (p3 >= 192) are read: exactly their comparators are
    built, the 9 others are tied to 0; RTL == simulator on random pixels."""
    enc = InputEncoder("enc", 1, 4, np.array([64, 128, 192], np.int16))
    net = _xor_net(enc)
    assert np.flatnonzero(encoder_bits_read(net)).tolist() == [0, 5, 11]
    text = emit_verilog(net).text
    assert sorted(_comparators(text)) == sorted(["(x[7:0] >= 8'd64)", "(x[15:8] >= 8'd128)",
                                                "(x[31:24] >= 8'd192)"])
    assert "(x[15:8] >= 8'd64)" not in text  # bit 1, never read
    assert text.count("= 1'b0;") >= 9 and "3 comparators built" in text
    _icarus()
    x = np.random.default_rng(0).integers(0, 256, (200, 4)).astype(np.uint8)
    got = run_rtl(net, x, simulator="icarus", workdir=tmp_path)
    assert_array_equal(got, simulate(net, x).classes)


def test_equal_comparators_are_shared_and_pruned_through_one_bit(tmp_path):
    """A per-pixel thermometer whose thresholds coincide (pixel 0: 1, 1, 9): prune reads the
    copy (bit 2 = bit 0: x[0] >= 1) through bit 0, so the two LUTs reading either become one
    and one comparator is built for both; the pruned net computes what the net computes."""
    thresholds = np.array([[1, 1, 9], [5, 6, 7]], np.int32)  # bit t*2 + q
    enc = FeatureEncoder("enc", 1, 2, 8, thresholds, np.ones(2), np.zeros(2))
    assert encoder_copies(enc).tolist() == [0, 1, 0, 3, 4, 5]
    wires = np.array([[0, 1], [2, 1], [3, 5]], np.int32)  # nodes 0 and 1 read equal bits
    lut = LutLayer("l0", 6, wires, np.array([[0, 1, 1, 0]] * 3, np.uint8))
    out = LutLayer("l1", 3, np.array([[0, 1], [1, 2]], np.int32),
                   np.array([[0, 1, 1, 1], [0, 0, 0, 1]], np.uint8))
    net = Netlist(6, (lut, out), enc)
    pruned = prune(net)
    assert pruned.layers[0].out_width == 2  # the duplicate LUT merged into node 0
    x = np.random.default_rng(1).integers(0, 12, (300, 2))
    assert_array_equal(simulate(pruned, x).output_bits, simulate(net, x).output_bits)
    text = emit_verilog(net).text  # unpruned: the read copy is wired from the first
    assert _comparators(text).count("(x[7:0] >= 8'd1)") == 1
    assert "assign y[2] = y[0];" in text
    _icarus()
    for n in (net, pruned):
        got = run_rtl(n, x, simulator="icarus", workdir=tmp_path)
        assert_array_equal(got, simulate(n, x).output_bits)


def test_bitplane_encoder_bits_torch_ir_and_reference():
    """Every pixel value 0..255: the PyTorch module, the IR's packed simulator and the
    reference give bit 7-j of the pixel as plane j, in the channel-major order."""
    px = np.arange(256, dtype=np.uint8).reshape(2, 2, 8, 8)  # 2 images, 2 channels of 8x8
    enc = get_encoder("bitplanes", levels=3)
    assert isinstance(enc, TorchBitplanes)
    bits = enc(torch.from_numpy(px).float()).numpy()  # (B, C*3, 8, 8)
    want = np.stack([(px >> (7 - j)) & 1 for j in range(3)], axis=2).reshape(2, 6, 8, 8)
    assert_array_equal(bits, want.astype(np.float32))
    ir = BitplaneEncoder("enc", 2, 128, 3)
    net = Netlist(ir.out_width, (), ir)
    flat = px.reshape(2, 128)
    assert_array_equal(simulate(net, flat).output_bits, bits.reshape(2, -1).astype(bool))
    assert_array_equal(simulate_reference(net, flat).output_bits, bits.reshape(2, -1) == 1)
    with pytest.raises(LutnnError, match="levels"):
        get_encoder("bitplanes", levels=9)


def test_bitplane_netlist_round_trips_and_rtl_is_wires(tmp_path):
    enc = BitplaneEncoder("enc", 1, 4, 2)  # bit j*4 + p is bit 7-j of pixel p
    net = _xor_net(enc, last=7)
    save_netlist(net, tmp_path / "n")
    back = load_netlist(tmp_path / "n")
    assert isinstance(back.encoder, BitplaneEncoder) and back.encoder.planes == 2
    text = emit_verilog(net).text
    assert not _comparators(text)  # no comparator at all
    assert "assign y[0] = x[7];" in text and "assign y[5] = x[14];" in text  # p0 b7, p1 b6
    assert "assign y[7] = x[30];" in text and "assign y[1] = 1'b0;" in text  # p3 b6; unread
    _icarus()
    x = np.random.default_rng(2).integers(0, 256, (300, 4)).astype(np.uint8)
    got = run_rtl(net, x, simulator="icarus", workdir=tmp_path / "rtl")
    assert_array_equal(got, simulate(net, x).classes)


def test_lut_mlp_on_bitplanes_is_exact_in_every_form(tiny_npz, tmp_path):
    """A lut-mlp trained on the top 2 bit planes: PyTorch == IR simulator on every test
    image and on random pixels; RTL == simulator; the export builds no comparator."""
    run = tmp_path / "run"
    cfg = TrainConfig(epochs=1, batch_size=32, val_size=60, eval_batch_size=100)
    train("lut-mlp", run, model_overrides={"encoder": "bitplanes", "levels": 2,
                                           "layers": [40, 12], "learned_wiring": 1,
                                           "input_grad": "efd"},
          train_cfg=cfg, data=str(tiny_npz), log=lambda _: None)
    model, record = load_run(run)
    assert isinstance(model[0], TorchBitplanes)
    netlist = to_ir(model, tuple(record["input_shape"]))
    assert isinstance(netlist.encoder, BitplaneEncoder) and netlist.encoder.planes == 2
    x = np.random.default_rng(3).integers(0, 256, (500, 1, 8, 8)).astype(np.uint8)
    with torch.no_grad():
        want = model(torch.from_numpy(x).float()).argmax(1).numpy()
    assert_array_equal(simulate(netlist, x.reshape(500, -1)).classes, want)
    export_run(run)
    assert not _comparators((run / "hdl" / "lutnn_top.v").read_text())
    _icarus()
    result = simulate_run(run, rtl=True, vectors=100, simulator="icarus")
    assert result["mismatches"] == 0 and result["rtl_mismatches"] == 0


def test_distributive_export_builds_only_read_comparators(tiny_npz, tmp_path):
    """A lut-mlp on a 3-level distributive thermometer (192 bits, the 8x8 images' borders
    give coinciding thresholds): the export builds one comparator per distinct comparison
    the pruned network reads, and PyTorch == simulator == RTL."""
    run = tmp_path / "run"
    cfg = TrainConfig(epochs=1, batch_size=32, val_size=60, eval_batch_size=100)
    train("lut-mlp", run, model_overrides={"encoder": "distributive", "levels": 3,
                                           "layers": [12, 6], "k": 4},
          train_cfg=cfg, data=str(tiny_npz), log=lambda _: None)
    export_run(run)
    pruned = load_netlist(run / "hdl")
    read = encoder_bits_read(pruned)
    copies = encoder_copies(pruned.encoder)
    thresholds = pruned.encoder.thresholds
    q = np.arange(192) % 64
    t = thresholds[q, np.arange(192) // 64]
    live = read & (t > 0) & (t < 256)
    assert (copies[np.flatnonzero(read)] == np.flatnonzero(read)).all()  # prune read firsts
    text = (run / "hdl" / "lutnn_top.v").read_text()
    assert len(_comparators(text)) == len({(int(q[b]), int(t[b])) for b in np.flatnonzero(live)})
    assert len(_comparators(text)) < 192
    _icarus()
    result = simulate_run(run, rtl=True, vectors=100, simulator="icarus")
    assert result["mismatches"] == 0 and result["rtl_mismatches"] == 0


def test_bitplanes_refused_on_tables_and_in_streams():
    with pytest.raises(LutnnError, match="top bits of 8-bit pixels"):
        build_model("lut-mlp", make_config("lut-mlp", {"encoder": "bitplanes", "levels": 2,
                                                       "layers": [10]}), (16,), 5)
    from lutnn.hdl.stream import split_stream

    net = _xor_net(BitplaneEncoder("enc", 1, 4, 2), last=7)
    with pytest.raises(LutnnError, match="does not stream"):
        split_stream(net)
