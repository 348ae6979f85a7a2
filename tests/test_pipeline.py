"""Run-folder steps: export records paths inside the run folder, so a copied run stays whole."""

from __future__ import annotations

import json
import shutil

from lutnn.pipeline import TOP, export_run, exported_path
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
