"""Run-folder steps: export records paths inside the run folder, so a copied run stays whole;
export prunes (and records both node counts), sim checks the pruned form, synth counts the
design without its encoder too."""

from __future__ import annotations

import json
import shutil

import pytest

from lutnn.errors import ToolNotFoundError
from lutnn.hdl import find_tool
from lutnn.ir.serialize import load_netlist
from lutnn.pipeline import TOP, export_run, exported_path, simulate_run, synth_run
from lutnn.train import TrainConfig, train

TINY = {"hidden": [16], "group_size": 4, "levels": 1, "binary_weights": True}


def test_export_json_paths_are_relative_to_the_run(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = TrainConfig(epochs=1, batch_size=32, val_size=60, eval_batch_size=100)
    train("teacher-mlp", "runs/a", model_overrides=TINY, train_cfg=cfg,
          data=str(tiny_npz), log=lambda _: None)
    record = export_run("runs/a")  # a cwd-relative run folder, as the CLI passes it
    assert record["verilog"] == f"hdl/{TOP}.v" and record["netlist"] == "hdl/netlist.json"
    assert json.loads((tmp_path / "runs/a/hdl/export.json").read_text())["verilog"] == (
        f"hdl/{TOP}.v")
    shutil.copytree(tmp_path / "runs/a", tmp_path / "copy")
    monkeypatch.chdir(tmp_path / "runs")  # from elsewhere, the copy names its own files
    got = exported_path(tmp_path / "copy", record["verilog"])
    assert got == tmp_path / "copy" / "hdl" / f"{TOP}.v" and got.is_file()


def test_an_old_cwd_relative_record_is_read_inside_the_run(tmp_path):
    (tmp_path / "run" / "hdl").mkdir(parents=True)
    (tmp_path / "run" / "hdl" / f"{TOP}.v").write_text("module m; endmodule\n")
    got = exported_path(tmp_path / "run", f"runs/other/hdl/{TOP}.v")
    assert got == tmp_path / "run" / "hdl" / f"{TOP}.v"


@pytest.fixture(scope="module")
def lut_run(tiny_npz, tmp_path_factory):
    """A lut-mlp run with an encoder whose 6 last LUTs read at most 36 of the 60 first ones."""
    run = tmp_path_factory.mktemp("runs") / "lut"
    cfg = TrainConfig(epochs=1, batch_size=32, val_size=60, eval_batch_size=100)
    train("lut-mlp", run, model_overrides={"layers": [60, 6], "levels": 2}, train_cfg=cfg,
          data=str(tiny_npz), log=lambda _: None)
    return run


def test_export_prunes_and_sim_checks_the_pruned_form(lut_run):
    record = export_run(lut_run)
    saved = json.loads((lut_run / "hdl" / "export.json").read_text())
    assert saved["pruned"] and saved["lut_nodes_before"] == 66
    assert saved["lut_nodes_after"] == record["summary"]["totals"]["lut_nodes"]
    assert saved["lut_nodes_after"] <= 6 + 36
    assert saved["prune"]["layers"][0]["removed"]["dead"] >= 24
    assert saved["prune"]["lut_nodes_after"] == saved["lut_nodes_after"]
    unpruned = load_netlist((lut_run / saved["unpruned_netlist"]).parent).layers
    pruned = load_netlist(lut_run / "hdl").layers
    assert sum(layer.out_width for layer in unpruned) == saved["lut_nodes_before"]
    assert sum(layer.out_width for layer in pruned) == saved["lut_nodes_after"]
    try:
        find_tool("iverilog")
        rtl = True
    except ToolNotFoundError:
        rtl = False
    result = simulate_run(lut_run, rtl=rtl, vectors=60, simulator="icarus")
    assert result["mismatches"] == 0  # PyTorch == simulator (== RTL) on the pruned netlist


@pytest.mark.parametrize("argmax", ["tree", "parallel"])
def test_export_argmax_choice_is_recorded_and_exact(lut_run, argmax):
    """--argmax picks the head's argmax: recorded in export.json, and RTL == simulator."""
    shutil.rmtree(lut_run / "hdl" / "rtl", ignore_errors=True)  # only this test's builds
    record = export_run(lut_run, pipeline="balanced", argmax=argmax)
    saved = json.loads((lut_run / "hdl" / "export.json").read_text())
    assert record["argmax"] == saved["argmax"] == argmax
    text = (lut_run / saved["verilog"]).read_text()
    assert ("all pairs compared at once" in text) == (argmax == "parallel")
    try:
        find_tool("iverilog")
    except ToolNotFoundError as exc:
        pytest.skip(str(exc))
    assert simulate_run(lut_run, rtl=True, vectors=60, simulator="icarus")["mismatches"] == 0
    simulated = [p.read_text() for p in (lut_run / "hdl" / "rtl").rglob("design.v")]
    assert simulated and all(("all pairs compared at once" in t) == (argmax == "parallel")
                             for t in simulated)  # sim --rtl ran the argmax that was exported


def test_export_no_prune_keeps_the_converted_netlist(lut_run):
    export_run(lut_run)
    record = export_run(lut_run, prune=False)
    assert not record["pruned"] and record["lut_nodes_before"] == record["lut_nodes_after"] == 66
    assert not (lut_run / "hdl" / "unpruned").exists()  # no stale copy of a pruned export
    assert sum(layer.out_width for layer in load_netlist(lut_run / "hdl").layers) == 66


@pytest.mark.tools
def test_synth_counts_the_design_without_its_encoder(lut_run):
    try:
        find_tool("yosys")
    except ToolNotFoundError as exc:
        pytest.skip(str(exc))
    export_run(lut_run)
    result = synth_run(lut_run)
    assert 0 < result["luts_without_encoder"] <= result["luts"]
    assert result["encoder_luts"] == result["luts"] - result["luts_without_encoder"]
    saved = json.loads((lut_run / "synth.json").read_text())
    assert saved["luts_without_encoder"] == result["luts_without_encoder"]
    # both conventions, named: whole design and encoder excluded
    assert saved["luts_whole_design"] == result["luts"]
    assert saved["luts_encoder_excluded"] == result["luts_without_encoder"]
    assert [(r["convention"], r["luts"]) for r in saved["lut_conventions"]] == [
        ("whole design", result["luts"]), ("encoder excluded", result["luts_without_encoder"])]
    whole_only = synth_run(lut_run, without_encoder=False)
    assert "luts_without_encoder" not in whole_only
    assert whole_only["luts_encoder_excluded"] is None  # not measured, not guessed


def test_lut_conventions_rows():
    from lutnn.pipeline import lut_conventions

    assert lut_conventions({"luts": 10, "luts_without_encoder": 7}, True)[
        "luts_encoder_excluded"] == 7
    assert lut_conventions({"luts": 10}, False)["luts_encoder_excluded"] == 10  # no encoder
    rows = lut_conventions({"luts": 10}, None)["lut_conventions"]
    assert [r["convention"] for r in rows] == ["whole design", "encoder excluded"]
    assert rows[1]["luts"] is None and "peers" in rows[1]["counts"]
