"""The quick demo end to end: bit-exact RTL, report files present, numbers consistent."""

from __future__ import annotations

import json
import re

import pytest

from lutnn.demo import run_demo

pytestmark = [pytest.mark.tools, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory, mnist_dir):
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as mp:  # module-scoped: restored after the module
        mp.setenv("LUTNN_DATA", str(mnist_dir))
        run_demo(out, quick=True, log=lines.append)
        yield out, lines


def test_quick_demo_is_bit_exact_and_complete(demo_dir):
    """Teacher and distilled student streamed (RTL == simulator == PyTorch), the MLP LUT-Net
    unrolled; every design synthesized; the report opens with teacher vs student."""
    from lutnn.demo import QUICK

    out, lines = demo_dir
    summary = json.loads((out / "summary.json").read_text())
    forms = {(e["name"], e["conv"]): e for e in summary["networks"]}
    assert set(forms) == {("teacher", "stream"), ("lutnet", "stream"), ("lutnet-e2e", "unrolled")}
    assert forms[("teacher", "stream")]["kind"] == "XNOR-Net"
    assert forms[("lutnet", "stream")]["kind"] == "LUT-Net"
    vectors = {"teacher": QUICK.teacher_vectors, "lutnet": QUICK.student_vectors,
               "lutnet-e2e": QUICK.e2e_vectors}
    for (name, _), e in forms.items():
        assert e["mismatches"] == 0, name
        assert e["rtl_vectors"] == vectors[name]
        assert e["rtl_accuracy"] == e["sim_accuracy"]
        assert e["luts"] > 0 and e["ffs"] > 0 and e["levels"] > 0 and e["latency"] > 0
        assert e["rtl_accuracy"] > 0.5, "the quick nets still learn MNIST"
    assert forms[("lutnet", "stream")]["line_buffer_bits"] > 0
    for name in ("report.md", "accuracy_vs_luts.png"):
        assert (out / name).stat().st_size > 0
    assert any(p.name.startswith("agreement_") for p in out.glob("*.png"))
    report = (out / "report.md").read_text()
    assert report.index("## What this run shows") < report.index("| network | model |")
    assert any(line.startswith("[report]") for line in lines)


def test_report_numbers_equal_the_json(demo_dir):
    out, _ = demo_dir
    report = (out / "report.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| network | model |"))
    table = []  # the main table's rows (the headline's table comes before it)
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        if line.startswith("| "):  # not the |---| separator
            table.append(line)
    header = [c.strip() for c in table[0].strip("|").split("|")]
    rows = {}
    for line in table[1:]:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=False))
        rows[(cells["network"].split(" (")[0], cells["Verilog"])] = cells
    for e in summary["networks"]:
        cells = rows[(e["name"], e["conv"])]
        assert cells["test acc. (PyTorch)"] == f"{100 * e['test_accuracy']:.2f}%"
        assert cells["RTL acc. (vectors)"].startswith(f"{100 * e['rtl_accuracy']:.2f}%")
        assert cells["LUTs (whole design)"] == str(e["luts"]) and cells["FFs"] == str(e["ffs"])
        assert cells["LUTs (encoder excluded)"] == str(e["luts_encoder_excluded"])
        assert cells["LUT levels"] == str(e["levels"])
        assert cells["latency (cycles)"] == str(e["latency"])
        metrics = json.loads((out / e["name"] / "metrics.json").read_text())
        from lutnn.runfolder import result_file

        synth = json.loads((out / e["name"] / result_file("synth", e["conv"])).read_text())
        assert e["test_accuracy"] == metrics["test_accuracy"] and e["luts"] == synth["luts"]
    assert re.search(r"Yosys `synth_xilinx`", report)


def test_rerun_skips_finished_stages(demo_dir):
    out, _ = demo_dir
    lines: list[str] = []
    run_demo(out, quick=True, log=lines.append)
    stages = [line for line in lines if not line.startswith("[report]")]
    assert stages and all(line.endswith("already done, skipped") for line in stages)
