"""Run-folder integrity (issue 10): nothing lost, nothing silently wrong.

Non-finite training stops with the last good checkpoint; derived files name the weights they
were made from and stale ones are refused; sim finds the data set trained on; one writer per
run folder; a failed new run leaves nothing; label sets and model sizes are checked first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import lutnn.cli
import lutnn.pipeline
from conftest import TINY_LUT
from lutnn import io
from lutnn.cli import main
from lutnn.data import load_dataset
from lutnn.data.datasets import DataWarning
from lutnn.errors import LutnnError, ToolNotFoundError
from lutnn.footprint import check_model_fits, estimate
from lutnn.models import make_config
from lutnn.pipeline import export_run, simulate_run
from lutnn.runfolder import LOCK_NAME, claim_run_folder, model_fingerprint
from lutnn.train import FitConfig, NonFiniteError, TrainConfig, fit, load_run, train

CFG = TrainConfig(epochs=1, batch_size=32, val_size=60)


def _quiet(_):
    pass


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


# ------------------------------------------------------------------------ non-finite training


def _tiny_fit_setup(tiny_npz):
    from lutnn.models import build_model

    ds = load_dataset(str(tiny_npz), val_size=60)
    model = build_model("lut-mlp", make_config("lut-mlp", TINY_LUT), ds.input_shape, 3)
    return ds, model, FitConfig(epochs=3, batch_size=100, lr=1e-2)


@pytest.mark.parametrize("poison", ["loss", "parameter"])
def test_non_finite_training_stops_and_keeps_the_last_good_checkpoint(tiny_npz, tmp_path,
                                                                      poison):
    ds, model, cfg = _tiny_fit_setup(tiny_npz)
    calls = {"n": 0}
    steps_per_epoch = -(-len(ds.x_train) // cfg.batch_size)

    def loss_fn(m, x, y):
        calls["n"] += 1
        if calls["n"] > steps_per_epoch + 1 and poison == "parameter":  # epoch 2, step 2
            with torch.no_grad():
                next(iter(m.parameters())).fill_(float("inf"))
        loss = torch.nn.functional.cross_entropy(m(x), y)
        return loss * float("nan") if calls["n"] > steps_per_epoch + 1 else loss

    ckpt = tmp_path / "checkpoint.pt"
    with pytest.raises(NonFiniteError, match="epoch 2: .*keeps epoch 1, the last good one"):
        fit(model, model.parameters(), ds, cfg, ckpt, loss_fn=loss_fn, log=_quiet)
    saved = io.load_checkpoint(ckpt)
    assert saved["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())


def test_a_nan_loss_in_the_first_epoch_leaves_no_run(tiny_npz, tiny_runs, tmp_path, capsys):
    """Through the CLI: a kd temperature of 1e-45 (finite, > 0) makes the loss NaN."""
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(TINY_LUT))
    code = main(["train", "--model", "lut-mlp", "--data", str(tiny_npz), "--out",
                 str(tmp_path / "r"), "--config", str(cfg), "--val-size", "60", "--teacher",
                 str(tiny_runs["teacher"]), "--kd-temperature", "1e-45"])
    assert code == 2
    assert "the loss became nan" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ fingerprints of derived files


def _retrain(run: Path, tiny_npz, seed: int) -> None:
    """What a user does to retrain into a folder: remove the run's files, train again."""
    for name in ("checkpoint.pt", "model.pt", "metrics.json"):
        (run / name).unlink()
    train("lut-mlp", run, model_overrides=TINY_LUT, train_cfg=TrainConfig(
        epochs=1, batch_size=32, val_size=60, seed=seed), data=str(tiny_npz), log=_quiet)


def test_derived_files_record_the_weights_and_stale_ones_are_refused(tiny_runs, tiny_npz,
                                                                     tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_runs["lut"], run)
    fp = model_fingerprint(run)
    exported = json.loads((run / "hdl" / "export.json").read_text())
    assert exported["model_sha256"] == fp
    assert json.loads((run / "hdl" / "netlist.json").read_text())["meta"]["model_sha256"] == fp
    assert f"model.pt sha256 {fp}" in (run / "hdl" / "lutnn_top.v").read_text()
    assert simulate_run(run)["model_sha256"] == fp

    _retrain(run, tiny_npz, seed=1)
    assert model_fingerprint(run) != fp
    sim_before = (run / "sim.json").read_bytes()
    with pytest.raises(LutnnError, match="exported from other weights.*run `lutnn export"):
        simulate_run(run)
    with pytest.raises(LutnnError, match="exported from other weights"):
        lutnn.pipeline.synth_run(run)
    assert (run / "sim.json").read_bytes() == sim_before  # the good sim.json survives

    export_run(run)
    result = simulate_run(run)
    assert result["mismatches"] == 0 and result["model_sha256"] == model_fingerprint(run)


def test_synth_json_records_the_weights(tiny_runs, tmp_path):
    try:
        from lutnn.hdl import find_tool

        find_tool("yosys")
    except ToolNotFoundError as exc:
        pytest.skip(str(exc))
    run = tmp_path / "run"
    shutil.copytree(tiny_runs["lut"], run)
    result = lutnn.pipeline.synth_run(run, without_encoder=False)
    assert result["model_sha256"] == model_fingerprint(run)
    assert json.loads((run / "synth.json").read_text())["model_sha256"] == model_fingerprint(run)


def test_export_validates_the_pipeline_before_writing(tiny_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_runs["lut"], run)
    before = {p: p.read_bytes() for p in (run / "hdl").rglob("*") if p.is_file()}
    for bad in (0, -1, "abc"):
        with pytest.raises(LutnnError, match="pipeline must be"):
            export_run(run, pipeline=bad)
    assert {p: p.read_bytes() for p in (run / "hdl").rglob("*") if p.is_file()} == before


# ------------------------------------------------------------------------ the recorded data set


def test_sim_uses_the_recorded_data_from_any_directory(tiny_npz, tmp_path, monkeypatch):
    """A run trained with a relative --data; sim from another directory holding another file
    of that name still evaluates the data trained on; a changed file is refused."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(tiny_npz, home / "data.npz")
    monkeypatch.chdir(home)
    train("lut-mlp", "run", model_overrides=TINY_LUT, train_cfg=CFG, data="data.npz", log=_quiet)
    record = json.loads((home / "run" / "run.json").read_text())
    assert record["data"] == "data.npz"
    assert record["data_source"] == {"path": str(home / "data.npz"),
                                     "sha256": io.file_sha256(home / "data.npz")}
    good = simulate_run("run")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with np.load(tiny_npz) as d:  # another data set under the same relative name
        _npz(elsewhere / "data.npz", x_train=d["x_train"], y_train=d["y_train"],
             x_test=255 - d["x_test"], y_test=d["y_test"])
    monkeypatch.chdir(elsewhere)
    assert simulate_run(home / "run")["accuracy"] == good["accuracy"]

    shutil.copy(elsewhere / "data.npz", home / "data.npz")  # the data changed since training
    sim_json = (home / "run" / "sim.json").read_bytes()
    with pytest.raises(LutnnError, match="changed since training"):
        simulate_run(home / "run")
    assert (home / "run" / "sim.json").read_bytes() == sim_json


# ------------------------------------------------------------------------------- the lock file


def test_a_second_writer_is_refused_while_the_first_runs(tiny_npz, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK_NAME).write_text(f"{owner.pid} {os.uname().nodename}\n")
        with pytest.raises(LutnnError, match=f"another lutnn process \\(pid {owner.pid}\\)"):
            train("lut-mlp", out, model_overrides=TINY_LUT, train_cfg=CFG, data=str(tiny_npz),
                  log=_quiet)
        assert not (out / "run.json").exists()
        assert (out / LOCK_NAME).read_text().startswith(str(owner.pid))  # not taken from it
    finally:
        owner.kill()
        owner.wait()
    # its owner is dead now: the stale lock is taken over, and released at the end
    train("lut-mlp", out, model_overrides=TINY_LUT, train_cfg=CFG, data=str(tiny_npz),
          log=_quiet)
    assert (out / "metrics.json").is_file() and not (out / LOCK_NAME).exists()


#: ``python DRIVER INSIDE GO lutnn-args``: ``lutnn`` whose first training epoch touches INSIDE
#: and then waits for GO, so a test knows the run holds its lock and is mid-epoch
HOLD_IN_FIRST_EPOCH = """
import sys, time
from pathlib import Path

import lutnn.training.loop as loop
from lutnn.cli import main

inside, go = Path(sys.argv[1]), Path(sys.argv[2])
real_epoch = loop.train_epoch


def held(*args, **kwargs):
    if not inside.exists():
        inside.touch()
        deadline = time.monotonic() + 120
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return real_epoch(*args, **kwargs)


loop.train_epoch = held
sys.exit(main(sys.argv[3:]))
"""


def test_two_concurrent_cli_trains_one_is_refused(tiny_npz, tmp_path):
    """Two real `lutnn train` processes into one --out: the second, started while the first
    is inside its first epoch (so it holds the lock), is refused with exit 2 and one line;
    the first then finishes its 3 epochs."""
    argv = ["train", "--model", "lut-mlp", "--data", str(tiny_npz), "--out",
            str(tmp_path / "run"), "--config", str(tmp_path / "cfg.json"), "--val-size", "60",
            "--epochs", "3"]
    (tmp_path / "cfg.json").write_text(json.dumps(TINY_LUT))
    driver, inside, go = tmp_path / "driver.py", tmp_path / "inside", tmp_path / "go"
    driver.write_text(HOLD_IN_FIRST_EPOCH)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([sys.executable, str(driver), str(inside), str(go), *argv],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=env)
    try:
        deadline = time.monotonic() + 120
        while not inside.exists():
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() < deadline, "the first run never reached its first epoch"
            time.sleep(0.05)
        second = subprocess.run([sys.executable, "-m", "lutnn", *argv], capture_output=True,
                                text=True, env=env, timeout=120)
    finally:
        go.touch()
        _, first_err = first.communicate(timeout=120)
    assert second.returncode == 2, second.stderr
    assert "is being written by another lutnn process" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1, second.stderr
    assert first.returncode == 0, first_err
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"] == 3


# ------------------------------------------------------------------- nothing half-made is left


def test_a_failed_new_run_leaves_no_folder(tiny_npz, tmp_path):
    bad = tmp_path / "bad.npz"
    with np.load(tiny_npz) as d:  # loads, then the model cannot be built for it
        _npz(bad, **{k: d[k] for k in d.files})
    with pytest.raises(LutnnError, match="multiple of the 3 classes"):
        train("lut-mlp", tmp_path / "new" / "run", model_overrides={**TINY_LUT, "layers": [31]},
              train_cfg=CFG, data=str(bad), log=_quiet)
    assert not (tmp_path / "new" / "run").exists()


def test_an_interrupted_first_epoch_leaves_nothing_but_a_later_one_keeps_its_checkpoint(
        tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt), claim_run_folder(out):
        (out / "run.json").write_text("{}")
        raise KeyboardInterrupt
    assert not out.exists()
    with pytest.raises(KeyboardInterrupt), claim_run_folder(out):
        (out / "run.json").write_text("{}")
        (out / "checkpoint.pt").write_bytes(b"epoch 1")
        raise KeyboardInterrupt
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "run.json"]


def test_report_skips_a_folder_without_weights(tiny_runs, tmp_path):
    shutil.copytree(tiny_runs["lut"], tmp_path / "good")
    (tmp_path / "lone").mkdir()
    (tmp_path / "lone" / "run.json").write_text("{}")
    from lutnn.report import write_report

    assert [e["name"] for e in write_report(tmp_path)["networks"]] == ["good"]


# ------------------------------------------------------------------------------- label sets


def _labels_npz(tmp_path, y_train, y_test) -> Path:
    x = np.zeros((len(y_train), 4, 4), np.uint8)
    return _npz(tmp_path / "l.npz", x_train=x, y_train=np.asarray(y_train),
                x_test=np.zeros((len(y_test), 4, 4), np.uint8), y_test=np.asarray(y_test))


@pytest.mark.parametrize("y_train,y_test,message", [
    ([1] * 20, [1] * 5, "a single class"),
    ([0, 1, 2] * 7, [0, 1, 1000], "would be empty"),
    ([0, 1, 2] * 6 + [700], [0, 1], "would be empty"),
    ([5, 6] * 10, [5, 6], "would be empty"),
])
def test_unusable_label_sets_are_refused(tmp_path, y_train, y_test, message):
    with pytest.raises(LutnnError, match=message):
        load_dataset(str(_labels_npz(tmp_path, y_train, y_test)), val_size=2)


@pytest.mark.parametrize("y_train,y_test,message", [
    ([0, 1, 2] * 7, [0, 1, 3], "class\\(es\\) 3 occur only in the test split"),
    ([0, 2] * 10, [0, 2], "class\\(es\\) 1 have no example"),
])
def test_odd_label_sets_warn(tmp_path, y_train, y_test, message):
    with pytest.warns(DataWarning, match=message):
        ds = load_dataset(str(_labels_npz(tmp_path, y_train, y_test)), val_size=2)
    assert ds.num_classes == max(y_train + y_test) + 1


def test_warnings_are_one_line_on_the_cli(tmp_path, capsys):
    path = _labels_npz(tmp_path, [0, 1, 2] * 7, [0, 1, 3])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_dataset(str(path), val_size=2)
    show = lutnn.cli._one_line_warning("train")
    for w in caught:
        show(w.message, w.category, w.filename, w.lineno)
    assert capsys.readouterr().err == ("lutnn train: warning: l: class(es) 3 occur only in "
                                       "the test split; the model never sees an example of them\n")


# ------------------------------------------------------------------------ resources and shapes


def test_footprint_refuses_models_larger_than_the_machine():
    cfg = make_config("lut-mlp", {"layers": [2_000_000_000, 100]})
    est = estimate("lut-mlp", cfg, (1, 28, 28), 10, 128)
    assert est["params"] >= 2_000_000_000 * 64
    with pytest.raises(LutnnError, match=r"needs at least .* GB .* this machine has 16.0 GB"):
        check_model_fits("lut-mlp", cfg, (1, 28, 28), 10, 128, memory=16 * 10**9)
    # the default presets and teachers fit a 16 GB machine
    for name in ("teacher-mlp", "teacher-cnn", "teacher-mobilenet", "lut-mlp", "lut-cnn"):
        check_model_fits(name, make_config(name), (1, 28, 28), 10, 128, memory=16 * 10**9)


def test_images_too_small_for_the_pools_are_named():
    cfg = make_config("teacher-cnn", {"channels": [8, 8, 8]})
    with pytest.raises(LutnnError, match="images of 4x4 are too small .* before pool 3 is 1x1"):
        check_model_fits("teacher-cnn", cfg, (1, 4, 4), 10, 1)
    check_model_fits("teacher-cnn", cfg, (1, 8, 8), 10, 1)  # 8 -> 4 -> 2 -> 1: fine


def test_an_edited_input_shape_is_named(tiny_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_runs["lut"], run)
    record = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**record, "input_shape": [1, 7, 7]}))
    with pytest.raises(LutnnError, match="does not fit run.json's input_shape"):
        load_run(run)  # the weights read input bits 7x7 images do not have
    (run / "run.json").write_text(json.dumps({**record, "input_shape": [1, 9, 9]}))
    load_run(run)  # weights that happen to fit: the data tells
    with pytest.raises(LutnnError, match=r"input_shape \[1, 9, 9\] is not the data's"):
        simulate_run(run)


# --------------------------------------------------------------------- tools, paths, interrupts


@pytest.mark.tools
@pytest.mark.parametrize("name", ["with space", "non-ascii-ü"])
def test_rtl_sim_of_a_run_whose_path_tools_cannot_take(tiny_runs, tmp_path, name):
    from lutnn.hdl import find_tool

    try:
        find_tool("iverilog")
    except ToolNotFoundError as exc:
        pytest.skip(str(exc))
    run = tmp_path / name / "run"
    shutil.copytree(tiny_runs["lut"], run)
    result = simulate_run(run, rtl=True, vectors=20, simulator="icarus")
    assert result["rtl_mismatches"] == 0 and result["vectors"] == 20


def test_ctrl_c_advice_names_only_what_the_command_has(monkeypatch, capsys, tiny_runs):
    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(lutnn.pipeline, "synth_run", interrupted)
    assert main(["synth", str(tiny_runs["lut"])]) == 130
    err = capsys.readouterr().err
    assert "--resume" not in err and "run the command again" in err
    monkeypatch.setattr(lutnn.cli.common, "load_overrides", interrupted)
    assert main(["train", "--model", "lut-mlp", "--out", str(tiny_runs["lut"])]) == 130
    assert "rerun with --resume" in capsys.readouterr().err


def test_a_read_only_file_system_is_one_line(monkeypatch, capsys, tiny_runs):
    """As a non-root user would see it on a read-only folder (root writes anyway)."""
    def refuse(path, *a, **k):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(io, "write_text", refuse)
    assert main(["report", str(tiny_runs["lut"])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lutnn report: error: Permission denied: ") and err.count("\n") == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_run_folder(tiny_runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_runs["lut"], run)
    for p in [run, *run.rglob("*")]:
        if p.is_dir():
            p.chmod(0o555)
    try:
        for argv in (["export", str(run)], ["sim", str(run)], ["report", str(run)]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert "Permission denied" in err and err.count("\n") == 1
    finally:
        for p in [run, *run.rglob("*")]:
            if p.is_dir():
                p.chmod(0o755)


def test_memory_budget_advice_is_a_lower_bound():
    from lutnn.distill.memory import plan_chunks

    with pytest.raises(LutnnError, match="needs --memory-budget .* at least; later steps may"):
        plan_chunks(1, 1e9, 0, 1, "a step")
