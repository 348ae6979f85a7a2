"""Streaming Verilog (lutnn.hdl.stream): random spatial nets streamed pixel by pixel through the
RTL with random stalls on both sides == lutnn.sim.simulate, bit for bit; golden structure;
clear refusals for what cannot stream."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from lutnn.errors import LutnnError
from lutnn.frontend import to_ir
from lutnn.hdl.stream import emit_stream
from lutnn.hdl.stream_rtl import run_stream, stream_hex
from lutnn.ir import (
    FeatureEncoder,
    GroupSumHead,
    ImageFlatten,
    InputEncoder,
    LutConv,
    LutLayer,
    Netlist,
    OrPool,
    ThresholdLayer,
    XnorConv,
)
from lutnn.sim import simulate
from test_spatial import SHAPE, _all_spatial_types, _inputs, _tiny, spatial_nets

HAVE_IVERILOG = shutil.which("iverilog") is not None and shutil.which("vvp") is not None
needs_icarus = pytest.mark.skipif(not HAVE_IVERILOG, reason="iverilog not installed")


def _verilator_ok() -> bool:
    try:
        from lutnn.hdl.tools import find_tool

        find_tool("verilator")
        return True
    except LutnnError:
        return False


needs_verilator = pytest.mark.skipif(not _verilator_ok(), reason="verilator not installed")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """One build folder for the module (Verilator's runtime is compiled once there)."""
    return tmp_path_factory.mktemp("stream")


def _check(net: Netlist, x: np.ndarray, workdir, *, simulator="icarus", gap=0.3, stall=0.3,
           seed=1, tail_pipeline="layer", registered_ready=True,
           registered_window=True) -> None:
    """Stream ``x`` through ``net`` (and through ``net`` without its head, bit for bit)."""
    bare = dataclasses.replace(net, head=None)
    want = simulate(bare, x).output_bits
    got = run_stream(bare, x, simulator=simulator, workdir=workdir, gap=gap, stall=stall,
                     seed=seed, tail_pipeline=tail_pipeline, registered_ready=registered_ready,
                     registered_window=registered_window)
    assert_array_equal(got.outputs, want)
    if net.head is not None:
        got = run_stream(net, x, simulator=simulator, workdir=workdir, gap=gap, stall=stall,
                         seed=seed + 1, tail_pipeline=tail_pipeline,
                         registered_ready=registered_ready, registered_window=registered_window)
        assert_array_equal(got.outputs, simulate(net, x).classes)


@needs_icarus
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(spatial_nets(), st.integers(0, 1000), st.sampled_from([(0.0, 0.0), (0.3, 0.3),
                                                              (0.7, 0.1), (0.1, 0.7)]))
def test_random_nets_stream_equal_the_simulator(workdir, net, seed, stalls):
    """Random 1..4-node spatial nets (LUT / XNOR / depthwise convs, kernel 1..3, stride 1..2,
    padding 0..1 of 0s or 1s, pools), Icarus, random s_tvalid gaps and m_tready stalls; one
    in three with every stage's ready combinational (registered_ready=False), one in five
    without registered windows."""
    x = _inputs(net, 60, seed)
    _check(net, x, workdir, gap=stalls[0], stall=stalls[1], seed=seed + 1,
           tail_pipeline=["layer", "none"][seed % 2], registered_ready=seed % 3 != 0,
           registered_window=seed % 5 != 1)


@needs_icarus
@pytest.mark.parametrize("tail_pipeline", ["layer", "none", "balanced"])
def test_all_spatial_types_stream(tail_pipeline, workdir):
    """enc -> LUT conv (pad of 1s) -> depthwise XNOR conv (stride 2) -> pool -> flatten ->
    threshold layer -> head, 200 images, heavy stalls."""
    net = _all_spatial_types()
    _check(net, _inputs(net, 200, 7), workdir, gap=0.5, stall=0.5, tail_pipeline=tail_pipeline)


@needs_icarus
@pytest.mark.parametrize("name", ["lut-cnn", "teacher-cnn", "lut-student"])
def test_tiny_models_stream(name, workdir):
    """The frontend's spatial form of tiny LUT-CNN / XNOR-CNN / depthwise LUT student models:
    classes equal the simulator's (and so PyTorch's: test_spatial checks that)."""
    net = to_ir(_tiny(name), SHAPE, spatial=True)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 64)).astype(np.uint8)
    _check(net, x, workdir, gap=0.2, stall=0.4)


@needs_verilator
@pytest.mark.parametrize("name", ["lut-cnn", pytest.param("teacher-cnn", marks=pytest.mark.slow),
                                  pytest.param("lut-student", marks=pytest.mark.slow)])
def test_verilator_streams_tiny_models(name, workdir):
    net = to_ir(_tiny(name), SHAPE, spatial=True)
    x = np.random.default_rng(1).integers(0, 256, (200, 64)).astype(np.uint8)
    got = run_stream(net, x, simulator="verilator", workdir=workdir, gap=0.3, stall=0.3)
    assert_array_equal(got.outputs, simulate(net, x).classes)


@needs_icarus
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(spatial_nets(), st.sampled_from(["layer", "none"]), st.booleans())
def test_no_stall_latency_and_interval_are_the_models(workdir, net, tail_pipeline, registered):
    """Without stalls the testbench measures the header's latency and images per clock
    (lutnn.hdl.stream.stream_timing) exactly."""
    d = emit_stream(net, tail_pipeline=tail_pipeline, registered_ready=registered,
                    registered_window=registered)
    n = 4
    got = run_stream(net, _inputs(net, n, 1), simulator="icarus", workdir=workdir,
                     tail_pipeline=tail_pipeline, registered_ready=registered,
                     registered_window=registered)
    assert got.first_class_cycle - got.first_pixel_cycle == d.latency
    assert got.cycles - got.first_class_cycle == (n - 1) * d.cycles_per_image


def test_design_structure():
    """Golden structure of a tiny stream: ports, one stage per image node, line buffers."""
    net = _all_spatial_types()
    d = emit_stream(net, top="tiny")
    assert d.in_width == 8 and d.pixels == 36 and d.out_width == 2 and d.has_head
    assert [s.kind for s in d.stages] == ["LutConv", "XnorConv", "OrPool"]
    # line buffers: C * ((KR-1)*(Q+2P) + KC-1): 2*(2*8+2), 4*(2*8+2), 4*(1*3+1)
    assert [s.line_buffer_bits for s in d.stages] == [36, 72, 16]
    assert [s.padded_positions for s in d.stages] == [64, 64, 9]
    assert d.flat_width == 16 and d.tail_latency == 2
    assert (d.latency, d.cycles_per_image) == (61, 64)  # stream_timing, = the testbench
    for port in ("input  wire s_tvalid", "output wire s_tready", "input  wire [7:0] s_tdata",
                 "input  wire s_tlast", "output wire m_tvalid", "input  wire m_tready",
                 "output wire [1:0] m_tdata"):
        assert port in d.text
    assert d.text.count("module tiny_s") == 3
    assert "module tiny_collect" in d.text and "module tiny_tail" in d.text


def test_registered_ready_where_it_costs_no_throughput():
    """The all-types stream: the stride-1 LUT conv fed a pixel every clock keeps its
    combinational ready (registered, it could emit only every other clock: the model's interval
    grows); the stages after the stride-2 conv get registered ready at no cost."""
    from lutnn.hdl.stream import choose_registered_ready, stream_timing

    d = emit_stream(_all_spatial_types(), top="tiny", registered_window=False)
    assert [s.registered_ready for s in d.stages] == [False, True, True]
    combinational = emit_stream(_all_spatial_types(), top="tiny", registered_ready=False,
                                registered_window=False)
    assert not any(s.registered_ready for s in combinational.stages)
    assert (d.latency, d.cycles_per_image) == (combinational.latency,
                                               combinational.cycles_per_image)
    forced = tuple(dataclasses.replace(s, registered_ready=True) for s in d.stages)
    positions = d.flat_width // d.stages[-1].out_shape[0]
    _, interval = stream_timing(forced, positions, d.tail_latency, d.pixels)
    assert interval > d.cycles_per_image
    assert choose_registered_ready(combinational.stages, positions, d.tail_latency,
                                   d.pixels) == d.stages


def _windowed_net() -> Netlist:
    """enc -> LUT conv 3x3 (stride 2, pad 1 of 1s) -> depthwise XNOR conv 3x3 (stride 2, pad
    1 of 0s: fed at most every other clock, so it can take a registered window) -> flatten
    -> threshold layer -> head."""
    rng = np.random.default_rng(11)
    enc = InputEncoder("enc", 1, 36, np.array([64, 192], np.int16))
    lut = LutConv("lut", 2, 6, 6, 3, 3, 2, 2, 1, 1, rng.integers(0, 18, (4, 4)).astype(np.int32),
                  rng.integers(0, 2, (4, 16)).astype(np.uint8), pad_value=1)
    dw = XnorConv("dw", 4, 3, 3, 3, 3, 2, 2, 1, 1, rng.choice([-1, 1], (4, 9)).astype(np.int8),
                  rng.integers(0, 10, 4).astype(np.int32), rng.random(4) < 0.5, groups=4)
    thr = ThresholdLayer("thr", 16, rng.integers(0, 16, (6, 5)).astype(np.int32),
                         rng.choice([-1, 1], (6, 5)).astype(np.int8),
                         rng.integers(0, 6, 6).astype(np.int32), np.zeros(6, bool))
    net = Netlist(72, (lut, dw, ImageFlatten("flat", 4, 2, 2), thr), encoder=enc,
                  head=GroupSumHead("head", 6, 3))
    net.validate()
    return net


def test_registered_window_where_it_costs_no_throughput():
    """The padded conv after a stride-2 conv gets a registered window: its engine reads
    registers only (the line buffer, one pixel longer), its result comes a clock later, at no
    cost in clocks per image.  The stride-2 conv, fed a pixel every clock, emits every other
    clock: a window there would cost throughput.  Unpadded stages need none (the all-types
    stream's pool reads the previous output register as it is)."""
    from lutnn.hdl.stream import choose_registered_window, stream_timing

    d = emit_stream(_windowed_net(), top="tiny")
    without = emit_stream(_windowed_net(), top="tiny", registered_window=False)
    assert [s.registered_window for s in d.stages] == [False, True]
    assert [s.line_buffer_bits for s in d.stages] == [36, 4 * (2 * 5 + 2) + 4]
    assert d.cycles_per_image == without.cycles_per_image
    assert d.latency > without.latency  # the model's, = the testbench's (tested above)
    positions = d.flat_width // d.stages[-1].out_shape[0]
    assert choose_registered_window(without.stages, positions, d.tail_latency,
                                    d.pixels) == d.stages
    forced = tuple(dataclasses.replace(s, registered_ready=True, registered_window=True)
                   for s in without.stages)
    _, interval = stream_timing(forced, positions, d.tail_latency, d.pixels)
    assert interval > d.cycles_per_image
    conv = d.text.split("module tiny_s2")[1].split("endmodule")[0]
    assert "wire [51:0] win = sr;" in conv and "pending <= step & emits;" in conv
    pool = emit_stream(_all_spatial_types(), top="tiny").text.split("module tiny_s3")[1]
    assert "wire [3:0] px = in_data;" in pool.split("endmodule")[0]


@needs_icarus
@pytest.mark.parametrize("registered_window", [True, False])
def test_a_registered_window_streams_exactly(registered_window, workdir):
    """RTL == simulator with stalls; without stalls the testbench's latency and interval are
    the control model's, and a stall reaches s_tready after the header's pixels."""
    net = _windowed_net()
    _check(net, _inputs(net, 150, 3), workdir, gap=0.4, stall=0.4,
           registered_window=registered_window)
    d = emit_stream(net, registered_window=registered_window)
    got = run_stream(net, _inputs(net, 4, 1), simulator="icarus", workdir=workdir,
                     registered_window=registered_window)
    assert got.first_class_cycle - got.first_pixel_cycle == d.latency
    assert got.cycles - got.first_class_cycle == 3 * d.cycles_per_image
    assert _stalled(d, 0, workdir) == (d.stall_pixels, 0)


def test_golden_tiny_stream():
    """The tiny all-types stream, text for text (LUTNN_UPDATE_GOLDEN=1 regenerates it): a
    change to the streaming emitter shows up here as a diff to review, not only as a
    behaviour the RTL tests may or may not reach."""
    from test_hdl import check_golden

    check_golden("tiny_stream.v", emit_stream(_all_spatial_types(), top="tiny").text)


def test_stream_hex_is_raster_order():
    net = Netlist(8, (ImageFlatten("f", 2, 2, 2),))
    x = np.zeros((1, 8), np.uint8)
    x[0, 0] = 1  # channel 0, pixel 0
    x[0, 4 + 3] = 1  # channel 1, pixel 3
    assert stream_hex(net, x).split() == ["1", "0", "0", "2"]


def test_refusals_name_the_node():
    lut = LutLayer("dense", 4, np.zeros((2, 1), np.int32), np.zeros((2, 2), np.uint8))
    with pytest.raises(LutnnError, match=r"layer 'dense' \(LutLayer\) is not a spatial node"):
        emit_stream(Netlist(4, (lut,)))
    pool = OrPool("p", 1, 4, 4, 2, 2, 2, 2)
    after = OrPool("q", 1, 2, 2, 1, 1, 1, 1)
    net = Netlist(16, (pool, ImageFlatten("f", 1, 2, 2), after))
    with pytest.raises((LutnnError, ValueError), match="'q'"):
        emit_stream(net)
    enc = FeatureEncoder("fe", 1, 16, 4, np.ones((16, 1), np.int32), np.ones(16), np.zeros(16))
    with pytest.raises(LutnnError, match="encoder 'fe': a FeatureEncoder cannot stream"):
        emit_stream(Netlist(16, (pool,), encoder=enc))


def test_conv_without_flatten_outputs_its_bits(tmp_path):
    if not HAVE_IVERILOG:
        pytest.skip("iverilog not installed")
    rng = np.random.default_rng(3)
    conv = LutConv("c", 1, 5, 5, 3, 3, 2, 1, 1, 0, rng.integers(0, 9, (2, 3)).astype(np.int32),
                   rng.integers(0, 2, (2, 8)).astype(np.uint8), pad_value=1)
    net = Netlist(25, (conv,))
    x = rng.integers(0, 2, (50, 25)).astype(np.uint8)
    got = run_stream(net, x, simulator="icarus", workdir=tmp_path, gap=0.4, stall=0.4)
    assert_array_equal(got.outputs, simulate(net, x).output_bits)
    head_net = Netlist(25, (conv, ImageFlatten("f", *conv.out_shape)),
                       head=GroupSumHead("h", conv.out_width, 2))
    got = run_stream(head_net, x, simulator="icarus", workdir=tmp_path)
    assert_array_equal(got.outputs, simulate(head_net, x).classes)


@needs_icarus
def test_export_stream_then_sim_rtl(tiny_npz, tmp_path):
    """``export_run(conv="stream")`` (``lutnn export --conv stream``) writes the spatial
    netlist and the stream; ``sim --rtl`` streams test images through it (== simulator ==
    PyTorch); the default export is still the unrolled one."""
    from lutnn.pipeline import export_run, simulate_run
    from lutnn.train import TrainConfig, train

    run = tmp_path / "cnn"
    cfg = TrainConfig(epochs=1, batch_size=32, val_size=60, eval_batch_size=100)
    train("lut-cnn", run, model_overrides={"channels": [3], "layers": [30], "group_size": 4,
                                           "k": 4}, train_cfg=cfg, data=str(tiny_npz),
          log=lambda _: None)
    with pytest.raises(LutnnError, match="conv must be one of unrolled, stream"):
        export_run(run, conv="rolled")
    info = export_run(run, conv="stream")
    saved = (run / "hdl" / "export.json").read_text()
    assert info["conv"] == "stream" and '"conv": "stream"' in saved
    assert info["latency"] > 0 and info["cycles_per_image"] == 100  # 10 x 10 padded
    assert [s["kind"] for s in info["stages"]] == ["LutConv", "OrPool"]
    assert "s_tvalid" in (run / info["verilog"]).read_text()
    r = simulate_run(run, rtl=True, vectors=60, simulator="icarus", backend="numpy")
    assert r["conv"] == "stream" and r["mismatches"] == 0 and r["rtl_mismatches"] == 0
    assert r["file"] == "sim-stream.json" and not (run / "sim.json").exists()
    unrolled = export_run(run)
    assert "conv" not in unrolled and "s_tvalid" not in (run / unrolled["verilog"]).read_text()
    r = simulate_run(run, rtl=True, vectors=60, simulator="icarus", backend="numpy")
    assert r["file"] == "sim.json" and r["conv"] == "unrolled" and r["mismatches"] == 0
    from lutnn.report import write_report

    forms = [(e["conv"], e["rtl_vectors"]) for e in write_report(run)["networks"]]
    assert forms == [("unrolled", 60), ("stream", 60)]  # both forms' RTL runs, side by side


def test_report_puts_the_stream_beside_the_unrolled_form():
    from lutnn.report import side_by_side

    entries = [{"name": "cnn", "conv": "unrolled", "luts": 12_000, "ffs": 900},
               {"name": "cnn", "conv": "stream", "luts": 1_000, "ffs": 2_000,
                "cycles_per_image": 900, "line_buffer_bits": 682},
               {"name": "mlp", "conv": "unrolled", "luts": 500, "ffs": 10}]
    (line,) = [t for t in side_by_side(entries) if t]
    assert line.startswith("cnn: the stream") and "12.0x the LUTs" in line
    assert "900 clocks per image, 682 line-buffer bits" in line


_STALL_TB = """`timescale 1ns / 1ps
module stall_tb;
  reg clk = 1'b0;
  always #5 clk = ~clk;
  reg rst = 1'b1;
  reg s_tvalid = 1'b0;
  reg [{in_msb}:0] s_tdata = 0;
  reg s_tlast = 1'b0;
  reg m_tready = 1'b0;
  wire s_tready, m_tvalid, tlast_error;
  wire [{out_msb}:0] m_tdata;
  integer cycles = 0;
  integer sent = 0;
  integer taken = 0;
  {top} dut (.clk(clk), .rst(rst), .s_tvalid(s_tvalid), .s_tready(s_tready),
    .s_tdata(s_tdata), .s_tlast(s_tlast), .m_tvalid(m_tvalid), .m_tready(m_tready),
    .m_tdata(m_tdata), .tlast_error(tlast_error));
  always @(posedge clk) begin
    cycles = cycles + 1;
    if (cycles > 3) rst <= 1'b0;
    if (!rst && m_tvalid === 1'b1 && m_tready) taken = taken + 1;
    if (!rst && s_tvalid && s_tready === 1'b1) sent = sent + 1;
    s_tvalid <= !rst;
    s_tdata <= sent * 37;
    s_tlast <= (sent % {pixels}) == {pixels} - 1;
    m_tready <= !rst && taken < {release};  // {release} classes taken, then m_tready held low
    if (cycles == {max_cycles}) begin
      $display("STALL_TB sent %0d taken %0d tlast_error %0d", sent, taken, tlast_error);
      $finish;
    end
  end
endmodule
"""


def _stalled(design, release: int, workdir) -> tuple[int, int]:
    """(pixels taken, classes taken) by the RTL with s_tvalid always high and m_tready high
    until ``release`` classes were taken, then low, long after everything stood still."""
    import re
    import subprocess

    folder = workdir / f"stall_{design.top}_{release}"
    folder.mkdir(exist_ok=True)
    (folder / "dut.v").write_text(design.text)
    (folder / "tb.v").write_text(_STALL_TB.format(
        in_msb=design.in_width - 1, out_msb=design.out_width - 1, top=design.top,
        pixels=design.pixels, release=release, max_cycles=20 * (4 * design.pixels + 60)))
    subprocess.run(["iverilog", "-g2005", "-s", "stall_tb", "-o", str(folder / "sim"),
                    str(folder / "dut.v"), str(folder / "tb.v")], check=True)
    out = subprocess.run(["vvp", str(folder / "sim")], capture_output=True, text=True,
                         check=True).stdout
    sent, taken, error = map(int, re.search(r"sent (\d+) taken (\d+) tlast_error (\d+)",
                                            out).groups())
    assert error == 0
    return sent, taken


@needs_icarus
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(spatial_nets(), st.sampled_from(["layer", "none"]))
def test_a_stall_reaches_s_tready_after_the_headers_pixels(workdir, net, tail_pipeline):
    """The header's stall depth (stall_capacity): with m_tready low from reset the RTL takes
    exactly that many pixels, then s_tready stays low; with m_tready low after the first
    class, one image more (counted from the first pixel of the image whose class waits)."""
    d = emit_stream(net, tail_pipeline=tail_pipeline)
    assert f"{d.stall_pixels} pixels (" in d.text
    assert d.stall_pixels >= 2 * d.pixels  # a class, a feature map, what the stages hold
    assert _stalled(d, 0, workdir) == (d.stall_pixels, 0)
    assert _stalled(d, 1, workdir) == (d.pixels + d.stall_pixels, 1)


@needs_icarus
def test_the_stall_depth_of_tiny_models_is_the_rtls(workdir):
    """The same on the tiny LUT-CNN and the all-types stream (padding, strides, pool, head)."""
    for net in (_all_spatial_types(), to_ir(_tiny("lut-cnn"), SHAPE, spatial=True)):
        d = emit_stream(net)
        assert _stalled(d, 0, workdir) == (d.stall_pixels, 0)
        assert _stalled(d, 2, workdir) == (2 * d.pixels + d.stall_pixels, 2)
