"""The typed export flow: ExportOptions validated once and round-tripped through export.json,
declared passes checked between forms, the Verilog backends' artifacts read back from disk
(``sim --rtl`` runs the file export wrote), and synth's design without the encoder built with
the exported options."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import lutnn.hdl
from lutnn.cli import main
from lutnn.errors import LutnnError, ToolNotFoundError
from lutnn.hdl import emit_verilog, find_tool
from lutnn.hdl.backend import VerilogArtifact, VerilogBackend, load_artifact
from lutnn.ir import LutLayer, Netlist, OrPool
from lutnn.ir.options import ExportOptionError, ExportOptions
from lutnn.ir.passes import lower
from lutnn.ir.passes.flow import LOWER_SPATIAL, MINIMIZE, FlowError, forms, run_flow
from lutnn.pipeline import export_run, synth_run


def _xor() -> Netlist:
    table = np.array([[0, 1, 1, 0]], np.uint8)
    return Netlist(2, (LutLayer("xor", 2, np.array([[0, 1]], np.int32), table),))


# ----------------------------------------------------------------------------- ExportOptions


def test_export_options_are_validated_once_with_one_line_messages():
    assert ExportOptions(pipeline="3").pipeline == 3
    assert ExportOptions.from_flags(levels_per_stage=2).pipeline == "balanced"
    assert ExportOptions.from_flags().pipeline == "layer"
    for bad, match in [({"pipeline": 0}, "positive int, got 0"),
                       ({"pipeline": "abc"}, "got 'abc'"),
                       ({"form": "rolled"}, "conv must be one of unrolled, stream"),
                       ({"levels_per_stage": 2}, "needs --pipeline balanced"),
                       ({"pipeline": "balanced", "levels_per_stage": 0}, "positive int"),
                       ({"argmax": "fast"}, "argmax must be one of tree, parallel"),
                       ({"form": "stream", "argmax": "tree"}, "drop --argmax")]:
        with pytest.raises(ExportOptionError, match=match) as info:
            ExportOptions(**bad)
        assert isinstance(info.value, LutnnError) and isinstance(info.value, ValueError)
        assert "\n" not in str(info.value)


def test_export_options_round_trip_and_old_records_get_defaults():
    for opts in (ExportOptions(), ExportOptions(pipeline="balanced", levels_per_stage=2,
                                                argmax="tree"),
                 ExportOptions(form="stream", pipeline="none")):
        record = {**opts.to_json(), "pruned": opts.prune}
        assert ExportOptions.from_json(record) == opts
    assert "conv" not in ExportOptions().to_json()  # the unrolled record keeps its keys
    assert ExportOptions.from_json({}) == ExportOptions()
    assert ExportOptions(form="stream").prune is False  # a stream is never pruned


# ------------------------------------------------------------------------------ passes, flow


def test_flow_checks_the_form_between_passes():
    net = _xor()
    assert forms(net) == {"spatial", "flat"}
    lowered = run_flow(net, (lutnn.ir.passes.flow.LOWER, MINIMIZE))
    assert forms(lowered) == {"lowered"}
    with pytest.raises(FlowError, match="pass 'minimize' reads the lowered form"):
        run_flow(net, (MINIMIZE,))
    pooled = Netlist(16, (OrPool("p", 1, 4, 4, 2, 2, 2, 2),))
    assert forms(pooled) == {"spatial"}
    assert "flat" in forms(run_flow(pooled, (LOWER_SPATIAL,)))
    bad = lutnn.ir.passes.flow.Pass("not_lower", ("flat",), "lowered", lambda n: n)
    with pytest.raises(FlowError, match="declared it writes the lowered form"):
        run_flow(net, (bad,))
    assert forms(lower(net)) == {"lowered"}


def test_the_verilog_backend_is_emit_verilog(tmp_path):
    options = ExportOptions(pipeline="balanced", argmax="parallel")
    artifact = VerilogBackend().emit(_xor(), options)
    assert artifact.design == emit_verilog(_xor(), pipeline="balanced", argmax="parallel")
    record = artifact.save(tmp_path)
    loaded = VerilogArtifact.load(tmp_path, {**options.to_json(), **record,
                                             "verilog": record["verilog"].name})
    assert loaded.design == artifact.design and loaded.latency == artifact.latency


# ------------------------------------------------------------------- run folders: the files


def _needs_icarus():
    try:
        find_tool("iverilog")
    except ToolNotFoundError as exc:
        pytest.skip(str(exc))


def _sim_rtl(run) -> int:
    return main(["sim", str(run), "--rtl", "--vectors", "100", "--simulator", "icarus",
                 "--backend", "numpy"])


def test_sim_rtl_simulates_the_file_export_wrote(tiny_runs, tmp_path, capsys):
    """One byte of RUN/hdl/lutnn_top.v changed: sim --rtl sees it (a re-emission would not)."""
    _needs_icarus()
    run = tmp_path / "run"
    shutil.copytree(tiny_runs["lut"], run)
    assert _sim_rtl(run) == 0
    top = run / "hdl" / "lutnn_top.v"
    text = top.read_text()
    # the argmax's first comparison turned around: `score1 > score0` -> `score1 < score0`
    i = text.index("_take = (score1 > score0)") + len("_take = (score1 ")
    top.write_text(text[:i] + "<" + text[i + 1:])
    capsys.readouterr()
    assert _sim_rtl(run) == 2
    assert "mismatching outputs" in capsys.readouterr().err
    top.write_text(text.replace("endmodule", "endmodul", 1))  # and a file that cannot build
    assert _sim_rtl(run) == 2
    assert "iverilog failed" in capsys.readouterr().err


def test_an_export_record_without_its_design_is_read_with_the_netlist(tiny_runs, tmp_path):
    """export.json of an older lutnn (no ``design``): the file is still what is read."""
    run = tmp_path / "run"
    shutil.copytree(tiny_runs["lut"], run)
    path = run / "hdl" / "export.json"
    record = json.loads(path.read_text())
    del record["design"]
    with pytest.raises(LutnnError, match="run `lutnn export` again"):
        load_artifact(run / "hdl", record)
    from lutnn.pipeline import _exported_artifact

    (run / "hdl" / "lutnn_top.v").write_text("// edited\n")
    artifact = _exported_artifact(run, record)
    assert artifact.design.text == "// edited\n" and artifact.latency == record["latency"]


def test_synth_without_encoder_uses_the_exported_argmax(tiny_runs, tmp_path, monkeypatch):
    """--argmax parallel with --pipeline layer (whose default is tree): the design synthesized
    without the encoder has the parallel argmax too (it had the tree one before the fix)."""
    run = tmp_path / "run"
    shutil.copytree(tiny_runs["lut"], run)
    export_run(run, pipeline="layer", argmax="parallel")
    texts = {}

    def fake_synthesize(verilog, top, *, target, workdir, **_):
        texts[workdir.name] = open(verilog).read()
        return {"luts": 10 + len(texts), "ffs": 0, "levels": 1, "seconds": 0.0,
                "levels_per_stage": {}, "tool": "fake"}

    monkeypatch.setattr(lutnn.hdl, "synthesize", fake_synthesize)
    result = synth_run(run)
    whole, bare = texts["synth-xilinx"], texts["synth-xilinx-no-encoder"]
    assert "all pairs compared at once" in whole
    assert "all pairs compared at once" in bare  # the same design, less its encoder
    assert result["encoder_luts"] == result["luts"] - result["luts_without_encoder"]
