"""Vendor scripts beside the exported Verilog (``lutnn.hdl.vendor``): the Vivado
out-of-context tcl and the Quartus tcl, with their clock constraints.

Neither Vivado nor Quartus is installed here, so the scripts are checked, not run: each file
is parsed by a real Tcl interpreter (python's ``tkinter.Tcl``) and then sourced with every
vendor command replaced by a stub that checks its options and positional arguments against
the tool's documented syntax and logs the call.  A command that is neither Tcl nor stubbed
fails as an unknown command.  The log then shows which files the scripts read (each must
exist, and they must be exactly the design files export wrote), the part, mode, reports and
virtual pins.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lutnn.hdl.vendor import QUARTUS_FAMILY, VIVADO_PART, top_ports

tkinter = pytest.importorskip("tkinter", reason="no Tcl interpreter: python's tkinter is missing")

#: option -> number of values it takes, and (min, max) positional arguments, of each vendor
#: command the scripts may call (Vivado UG835, Quartus Prime Tcl API, SDC/XDC)
SYNTAX: dict[str, tuple[dict[str, int], tuple[int, int]]] = {
    # Vivado
    "read_verilog": ({"-library": 1, "-sv": 0, "-quiet": 0, "-verbose": 0}, (1, 1)),
    "read_xdc": ({"-ref": 1, "-cells": 1, "-no_add": 0, "-mode": 1, "-unmanaged": 0,
                  "-quiet": 0, "-verbose": 0}, (1, 1)),
    "synth_design": ({"-name": 1, "-part": 1, "-constrset": 1, "-top": 1, "-mode": 1,
                      "-flatten_hierarchy": 1, "-directive": 1, "-include_dirs": 1,
                      "-generic": 1, "-verilog_define": 1, "-retiming": 0, "-rtl": 0,
                      "-quiet": 0, "-verbose": 0}, (0, 0)),
    "report_utilization": ({"-file": 1, "-append": 0, "-name": 1, "-hierarchical": 0,
                            "-quiet": 0, "-verbose": 0}, (0, 0)),
    "report_timing_summary": ({"-file": 1, "-append": 0, "-name": 1, "-delay_type": 1,
                               "-max_paths": 1, "-report_unconstrained": 0, "-quiet": 0,
                               "-verbose": 0}, (0, 0)),
    "opt_design": ({"-directive": 1, "-quiet": 0, "-verbose": 0}, (0, 0)),
    "place_design": ({"-directive": 1, "-quiet": 0, "-verbose": 0}, (0, 0)),
    "route_design": ({"-directive": 1, "-quiet": 0, "-verbose": 0}, (0, 0)),
    # XDC / SDC
    "create_clock": ({"-period": 1, "-name": 1, "-waveform": 1, "-add": 0}, (0, 1)),
    "get_ports": ({"-quiet": 0, "-regexp": 0, "-nocase": 0, "-filter": 1}, (0, 1)),
    "derive_clock_uncertainty": ({"-add": 0, "-overwrite": 0}, (0, 0)),
    # Quartus
    "load_package": ({"-version": 1}, (1, 1)),
    "project_new": ({"-family": 1, "-overwrite": 0, "-part": 1, "-revision": 1}, (1, 1)),
    "set_global_assignment": ({"-name": 1, "-section_id": 1, "-entity": 1, "-remove": 0,
                               "-tag": 1}, (1, 1)),
    "set_instance_assignment": ({"-name": 1, "-to": 1, "-from": 1, "-section_id": 1,
                                 "-entity": 1, "-remove": 0, "-tag": 1}, (1, 1)),
    "execute_flow": ({"-compile": 0, "-analysis_and_elaboration": 0, "-implement": 0},
                     (0, 0)),
    "project_close": ({}, (0, 0)),
}
REQUIRED = {"create_clock": {"-period"}, "set_global_assignment": {"-name"},
            "set_instance_assignment": {"-name", "-to"}}


class Stubs:
    """A Tcl interpreter whose vendor commands are logged stubs that check their syntax."""

    def __init__(self) -> None:
        self.tcl = tkinter.Tcl()
        self.calls: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.problems: list[str] = []
        for name in SYNTAX:
            self.tcl.createcommand(name, self._stub(name))
        self.tcl.createcommand("cd", self._stub_cd)  # not the test process's directory
        self.tcl.eval("set argc 0; set argv {}")

    def _stub(self, name: str):
        def call(*args: str) -> str:
            options, positional = _parse(name, list(args), self.problems)
            self.calls.append((name, options, positional))
            if self.problems:
                raise RuntimeError(self.problems[-1])
            return positional[0] if name == "get_ports" and positional else ""
        return call

    def _stub_cd(self, directory: str) -> str:
        if not Path(directory).is_dir():
            self.problems.append(f"cd {directory}: no such folder")
        self.calls.append(("cd", {}, [directory]))
        return ""

    def source(self, path: Path) -> None:
        self.tcl.setvar("lutnn_script", path.read_text())
        self.tcl.setvar("lutnn_path", str(path))
        assert self.tcl.eval("info complete $lutnn_script") == "1", f"{path}: incomplete Tcl"
        try:
            self.tcl.eval("source $lutnn_path")
        except tkinter.TclError as exc:
            raise AssertionError(f"{path.name}: {exc} {self.problems}") from None
        assert not self.problems, self.problems

    def named(self, command: str) -> list[tuple[dict, list[str]]]:
        return [(o, p) for name, o, p in self.calls if name == command]


def _parse(name: str, args: list[str], problems: list[str]):
    """Split ``args`` into options and positionals by ``SYNTAX[name]``; problems appended."""
    flags, (low, high) = SYNTAX[name]
    options: dict[str, str | None] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and not arg[1:2].isdigit():
            if arg not in flags:
                problems.append(f"{name}: unknown option {arg}")
                return options, positional
            n = flags[arg]
            if n and i + 1 >= len(args):
                problems.append(f"{name}: {arg} needs a value")
                return options, positional
            options[arg] = args[i + 1] if n else None
            i += 1 + n
        else:
            positional.append(arg)
            i += 1
    if not low <= len(positional) <= high:
        problems.append(f"{name}: {len(positional)} positional arguments {positional}, "
                        f"expected {low}..{high}")
    missing = REQUIRED.get(name, set()) - options.keys()
    if missing:
        problems.append(f"{name}: missing {sorted(missing)}")
    return options, positional


def _export(run: Path, tmp_path: Path, **options) -> tuple[Path, dict]:
    from lutnn.pipeline import export_run

    copy = tmp_path / "run with space"
    shutil.copytree(run, copy)
    export_run(copy, **options)
    record = json.loads((copy / "hdl" / "export.json").read_text())
    return copy, record


def _check_scripts(run: Path, record: dict) -> Stubs:
    """Source every script and constraint file; the files read are exactly the exported
    Verilog, each exists; the constraints name the top's clock port."""
    hdl = run / "hdl"
    scripts = {kind: run / path for kind, path in record["vendor_scripts"].items()}
    assert set(scripts) == {"vivado", "xdc", "quartus", "sdc"}
    assert all(p.parent == hdl and p.is_file() for p in scripts.values())
    verilog = run / record["verilog"]
    ports = dict(top_ports(verilog.read_text(), "lutnn_top"))

    stubs = Stubs()
    stubs.source(scripts["vivado"])
    read = [Path(p[0]) for _, p in stubs.named("read_verilog")]
    assert read == [verilog.resolve()] and all(p.is_file() for p in read)
    assert [Path(p[0]) for _, p in stubs.named("read_xdc")] == [scripts["xdc"].resolve()]
    (synth, _), = stubs.named("synth_design")
    assert synth == {"-top": "lutnn_top", "-part": VIVADO_PART, "-mode": "out_of_context"}
    reports = [o["-file"] for name in ("report_utilization", "report_timing_summary")
               for o, _ in stubs.named(name)]
    assert len(reports) == 4 and all(Path(r).parent == hdl / "vivado_lutnn_top" for r in reports)
    order = [name for name, _, _ in stubs.calls]
    assert order.index("read_xdc") < order.index("synth_design") < order.index("route_design")

    stubs = Stubs()
    stubs.source(scripts["quartus"])
    assigned = {o["-name"]: p[0] for o, p in stubs.named("set_global_assignment")}
    assert assigned["FAMILY"] == QUARTUS_FAMILY and assigned["TOP_LEVEL_ENTITY"] == "lutnn_top"
    assert Path(assigned["VERILOG_FILE"]) == verilog.resolve() and verilog.is_file()
    assert Path(assigned["SDC_FILE"]) == scripts["sdc"].resolve()
    assert len(stubs.named("set_global_assignment")) == len(assigned)  # one Verilog file
    pins = {o["-to"] for o, p in stubs.named("set_instance_assignment")
            if o["-name"] == "VIRTUAL_PIN" and p == ["ON"]}
    assert pins == {f"{n}[*]" if vector else n for n, vector in ports.items() if n != "clk"}
    assert [o for o, _ in stubs.named("execute_flow")] == [{"-compile": None}]
    assert ("project_close", {}, []) == stubs.calls[-1]

    for kind in ("xdc", "sdc"):
        stubs = Stubs()
        stubs.source(scripts[kind])
        (clock, objects), = stubs.named("create_clock")
        assert clock == {"-period": "2.000", "-name": "clk"} and objects == ["clk"]
        assert "clk" in ports
    return stubs


def test_exported_lut_net_gets_checked_vendor_scripts(tiny_runs, tmp_path):
    run, record = _export(tiny_runs["lut"], tmp_path)
    _check_scripts(run, record)


def test_quartus_script_takes_family_and_device_arguments(tiny_runs, tmp_path):
    run, record = _export(tiny_runs["lut"], tmp_path)
    stubs = Stubs()
    stubs.tcl.eval('set quartus(args) [list "Cyclone V" 5CSEMA5F31C6]')
    stubs.source(run / record["vendor_scripts"]["quartus"])
    assigned = {o["-name"]: p[0] for o, p in stubs.named("set_global_assignment")}
    assert (assigned["FAMILY"], assigned["DEVICE"]) == ("Cyclone V", "5CSEMA5F31C6")
    stubs = Stubs()
    stubs.tcl.eval("set argc 1; set argv [list xcu250-figd2104-2L-e]")
    stubs.source(run / record["vendor_scripts"]["vivado"])
    assert stubs.named("synth_design")[0][0]["-part"] == "xcu250-figd2104-2L-e"


def test_a_streamed_cnn_gets_checked_vendor_scripts(tiny_npz, tmp_path):
    from lutnn.train import TrainConfig, train

    teacher = tmp_path / "cnn"
    train("teacher-cnn", teacher, data=str(tiny_npz), log=lambda _: None,
          model_overrides={"channels": [4, 6], "hidden": [12], "group_size": 4},
          train_cfg=TrainConfig(epochs=1, batch_size=32, val_size=60))
    run, record = _export(teacher, tmp_path, conv="stream")
    _check_scripts(run, record)


def test_the_checker_catches_bad_syntax(tmp_path):
    """The stubs are not a rubber stamp: an unknown option, a missing value, an unknown
    command and an unbalanced brace each fail."""
    for bad in ("synth_design -top t -mode", "synth_design -top t -moed out_of_context",
                "report_utilization extra_positional", "creat_clock -period 1",
                "set_instance_assignment -name VIRTUAL_PIN -to x", "if {1} {"):
        path = tmp_path / "bad.tcl"
        path.write_text(bad + "\n")
        with pytest.raises(AssertionError):
            Stubs().source(path)
