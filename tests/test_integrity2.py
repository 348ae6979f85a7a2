"""Run-folder integrity, part 2 (issue 23): weights fingerprinted by content, no-op resumes
that change nothing, records that must carry their fingerprint, write failures as one line.

Multi-step cases that do not fit the one-command corpus of tests/test_bad_inputs.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from conftest import TINY_LUT
from lutnn import io
from lutnn.cli import main
from lutnn.errors import LutnnError
from lutnn.pipeline import simulate_run
from lutnn.runfolder import check_export_current, model_fingerprint, same_weights

#: the shared lut run's training arguments (conftest.tiny_runs)
T = ["train", "--model", "lut-mlp", "--epochs", "1", "--val-size", "60", "--batch-size", "32"]


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _copy(tiny_runs, tmp_path, which: str = "lut") -> Path:
    run = tmp_path / which
    shutil.copytree(tiny_runs[which], run)
    return run


# ------------------------------------------------------------------- content fingerprints


def test_state_fingerprint_is_of_the_content_not_the_file(tmp_path):
    state = {"a.weight": torch.arange(6.0).reshape(2, 3), "b.idx": torch.tensor([1, 2, 3])}
    fp = io.state_sha256(state)
    assert io.state_sha256(dict(reversed(state.items()))) == fp  # order of insertion: no matter
    io.save_checkpoint(tmp_path / "one.pt", state)
    torch.save({"b.idx": state["b.idx"].clone(), "a.weight": state["a.weight"].clone()},
               tmp_path / "two.pt")  # other bytes on disk, the same weights
    assert io.weights_sha256(tmp_path / "one.pt") == io.weights_sha256(tmp_path / "two.pt") == fp
    # any change of a value, a dtype, a shape or a name is another fingerprint
    changed = [
        {**state, "a.weight": state["a.weight"] + 1},
        {**state, "b.idx": state["b.idx"].to(torch.int32)},
        {**state, "a.weight": state["a.weight"].reshape(3, 2)},
        {"a.weights": state["a.weight"], "b.idx": state["b.idx"]},
        {"a.weight": state["a.weight"]},
    ]
    assert len({fp, *(io.state_sha256(s) for s in changed)}) == len(changed) + 1


def test_the_same_weights_saved_again_keep_the_export_current(tiny_runs, tmp_path):
    run = _copy(tiny_runs, tmp_path)
    fp = model_fingerprint(run)
    state = torch.load(run / "model.pt", weights_only=True)
    before = (run / "model.pt").read_bytes()
    torch.save(dict(reversed(state.items())), run / "model.pt")  # other bytes, same weights
    assert (run / "model.pt").read_bytes() != before
    assert model_fingerprint(run) == fp
    assert simulate_run(run)["model_sha256"] == fp  # not "retrained since"


def test_a_record_of_the_file_hash_is_accepted_while_the_file_is_unchanged(tiny_runs,
                                                                          tmp_path):
    """Exports from before content fingerprints recorded the SHA-256 of model.pt's bytes:
    accepted while that file is unchanged, refused once the weights changed."""
    run = _copy(tiny_runs, tmp_path)
    exported = json.loads((run / "hdl" / "export.json").read_text())
    legacy = {**exported, "model_sha256": io.file_sha256(run / "model.pt")}
    assert same_weights(legacy["model_sha256"], run / "model.pt")
    check_export_current(run, legacy)  # no error
    state = torch.load(run / "model.pt", weights_only=True)
    key = next(k for k in state if k.endswith("tables"))
    state[key] = -state[key]
    torch.save(state, run / "model.pt")
    with pytest.raises(LutnnError, match="exported from other weights"):
        check_export_current(run, legacy)


def test_a_finished_run_resumed_changes_nothing_and_says_so(tiny_runs, tmp_path, capsys):
    run = _copy(tiny_runs, tmp_path)
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps(TINY_LUT))
    data = json.loads((run / "run.json").read_text())["data"]
    before = _hashes(run)
    code = main([*T, "--data", data, "--config", str(config), "--out", str(run), "--resume"])
    out = capsys.readouterr().out
    assert code in (0, None)
    assert "is finished" in out and "nothing to train" in out
    assert _hashes(run) == before  # model.pt, run.json, metrics.json: not rewritten
    assert simulate_run(run)["mismatches"] == 0  # and its export is still its own


# ------------------------------------------------------------------ missing fingerprints


@pytest.mark.parametrize("where", ["export.json", "netlist.json"])
def test_a_record_without_its_fingerprint_is_refused(tiny_runs, tmp_path, where):
    run = _copy(tiny_runs, tmp_path)
    path = run / "hdl" / where
    record = json.loads(path.read_text())
    if where == "export.json":
        del record["model_sha256"]
    else:
        del record["meta"]["model_sha256"]
    path.write_text(json.dumps(record))
    before = _hashes(run)
    with pytest.raises(LutnnError, match=f"{where} records no model_sha256.*lutnn export"):
        check_export_current(run, record if where == "export.json" else record["meta"], path)
    with pytest.raises(LutnnError, match="records no model_sha256"):
        simulate_run(run, rtl=where == "export.json")
    assert _hashes(run) == before


def test_a_kd_run_recording_the_teachers_file_hash_still_resumes(tiny_runs, tmp_path):
    """run.json of a KD run from before content fingerprints: its teacher_sha256 is the
    teacher's model.pt file hash; --resume accepts it while that file is unchanged."""
    from lutnn.training.record import check_resume

    teacher = tiny_runs["teacher"]
    record = {"model": "lut-mlp", "config": TINY_LUT, "train": {"teacher": str(teacher)},
              "teacher_sha256": model_fingerprint(teacher)}
    out = tmp_path / "student"
    out.mkdir()
    (out / "run.json").write_text(json.dumps(
        {**record, "teacher_sha256": io.file_sha256(teacher / "model.pt")}))
    check_resume(out, record, True)  # no error
    (out / "run.json").write_text(json.dumps({**record, "teacher_sha256": "0" * 64}))
    with pytest.raises(LutnnError, match="written for another model"):
        check_resume(out, record, True)


# ------------------------------------------------------------------------ ranges checked


def test_nproc_past_the_cores_warns_and_past_twice_is_refused(monkeypatch, capsys, tmp_path):
    import lutnn.cli.common as common
    import lutnn.distributed

    launched = []
    monkeypatch.setattr(lutnn.distributed, "launch",
                        lambda n, argv: launched.append((n, argv)) or 0)
    monkeypatch.setattr(common, "cpu_cores", lambda: 2)
    argv = [*T, "--out", str(tmp_path / "new")]
    assert main([*argv, "--nproc", "3"]) in (0, None)
    assert launched and launched[0][0] == 3 and "--nproc" not in launched[0][1]
    err = capsys.readouterr().err
    assert "warning: --nproc 3 is more than the 2 CPU core(s)" in err and err.count("\n") == 1
    assert main([*argv, "--nproc", "2"]) in (0, None)
    assert capsys.readouterr().err == ""  # up to the cores: no word
    assert main([*argv, "--nproc", "5"]) == 2
    assert "use --nproc 2 or less" in capsys.readouterr().err
    assert len(launched) == 2 and not (tmp_path / "new").exists()


# ------------------------------------------------------------ small data with the defaults


def test_the_validation_size_adapts_to_small_data_and_is_recorded(tiny_npz, tiny_runs,
                                                                  tmp_path, capsys):
    """400 training images and no --val-size: 40 (10%) are the validation split, recorded in
    run.json; a resume without --val-size keeps the recorded size (also one given
    explicitly when the run started), and an explicit --val-size still wins."""
    from lutnn.data.datasets import auto_val_size

    assert auto_val_size(400) == 40 and auto_val_size(60000) == 5000  # MNIST: as before
    assert auto_val_size(10**6) == 5000 and auto_val_size(5) == 1 and auto_val_size(1) == 0
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps(TINY_LUT))
    base = ["train", "--model", "lut-mlp", "--data", str(tiny_npz), "--epochs", "1",
            "--batch-size", "32", "--config", str(config)]
    run = tmp_path / "auto"
    assert main([*base, "--out", str(run)]) in (0, None)
    assert json.loads((run / "run.json").read_text())["train"]["val_size"] == 40
    before = _hashes(run)
    assert main([*base, "--out", str(run), "--resume"]) in (0, None)  # the same run: finished
    assert "is finished" in capsys.readouterr().out and _hashes(run) == before

    shared = _copy(tiny_runs, tmp_path)  # started with --val-size 60
    before = _hashes(shared)
    assert main([*base, "--out", str(shared), "--resume"]) in (0, None)
    assert "is finished" in capsys.readouterr().out and _hashes(shared) == before
    assert main([*base, "--out", str(shared), "--resume", "--val-size", "50"]) == 2
    assert "written for another" in capsys.readouterr().err and _hashes(shared) == before


# ------------------------------------------------------------------------- write failures


def _full_disk_save(real_save):
    """``torch.save`` on a full disk: a part of the file is written, then torch's stream
    writer gives up with the RuntimeError it raises for a failed write."""
    def save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK\x03\x04partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    return save


def _one_line(err: str, *words: str) -> None:
    """One error line, the last one after the progress bar (which clears its line)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert [line for line in lines if line.startswith("lutnn")] == lines[-1:], err
    for word in words:
        assert word in lines[-1], err


def test_a_failed_checkpoint_write_is_one_line_and_leaves_nothing(tiny_npz, tmp_path, capsys,
                                                                   monkeypatch,
                                                                   interrupt_second_epoch):
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps(TINY_LUT))
    argv = ["train", "--model", "lut-mlp", "--data", str(tiny_npz), "--epochs", "2",
            "--val-size", "60", "--batch-size", "32", "--config", str(config)]
    monkeypatch.setattr(torch, "save", _full_disk_save(torch.save))
    assert main([*argv, "--out", str(tmp_path / "new")]) == 2  # a new run
    _one_line(capsys.readouterr().err, "cannot write", "checkpoint.pt", "nothing half-written")
    assert not (tmp_path / "new").exists()  # a failed new run leaves nothing
    monkeypatch.undo()

    run = tmp_path / "run"  # a run killed after its first epoch, resumed on a full disk
    interrupt_second_epoch()
    assert main([*argv, "--out", str(run)]) == 130
    interrupt_second_epoch(False)
    capsys.readouterr()
    before = _hashes(run)
    monkeypatch.setattr(torch, "save", _full_disk_save(torch.save))
    assert main([*argv, "--out", str(run), "--resume"]) == 2
    _one_line(capsys.readouterr().err, "cannot write", f"{run}/checkpoint.pt")
    assert _hashes(run) == before  # the epoch-1 checkpoint is intact, no temporary file left


def test_other_runtime_errors_in_a_write_are_not_called_write_failures(tmp_path):
    with pytest.raises(RuntimeError, match="a bug"), io.atomic_path(tmp_path / "x") as tmp:
        tmp.write_bytes(b"x")
        raise RuntimeError("a bug")
    assert list(tmp_path.iterdir()) == []


def _limited(limit: int):
    def preexec():
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


@pytest.mark.parametrize("command", ["train", "export"])
def test_a_file_size_limit_is_one_line_naming_the_file(tiny_runs, tiny_npz, tmp_path, command):
    """A real failed write (``ulimit -f``, in a fresh interpreter): exit 2, one line naming
    the file, and the run folder as it was (a new one: not there)."""
    import os
    import subprocess
    import sys

    run = _copy(tiny_runs, tmp_path)
    if command == "train":
        config = tmp_path / "cfg.json"
        config.write_text(json.dumps(TINY_LUT))
        target = tmp_path / "new"
        argv = [*T, "--data", str(tiny_npz), "--config", str(config), "--out", str(target)]
        limit = (run / "run.json").stat().st_size + 256  # run.json fits, the checkpoint not
    else:
        target = run
        argv = ["export", str(run)]
        limit = max(p.stat().st_size for p in (run / "hdl").rglob("*") if p.is_file()) // 2
    before = _hashes(run)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "lutnn", *argv], capture_output=True,
                          text=True, env=env, timeout=120, preexec_fn=_limited(limit))
    assert proc.returncode == 2, proc.stderr
    _one_line(proc.stderr, "cannot write",
              "checkpoint.pt: the write failed" if command == "train" else "File too large")
    assert _hashes(run) == before
    if command == "train":
        assert not target.exists()


# ------------------------------------------------------------------------------- tables


def test_class_names_without_examples_are_warned_about(tmp_path):
    """A .npz table naming 4 classes whose labels use 0..2: trained, with a warning that
    names the empty class (it was silent); one label beyond the names is refused."""
    import numpy as np

    from lutnn.data import load_dataset
    from lutnn.data.datasets import DataWarning

    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.normal(size=(30, 2)), "y_train": np.arange(30) % 3,
              "x_test": rng.normal(size=(9, 2)), "y_test": np.arange(9) % 3,
              "class_names": np.array(["cat", "dog", "eel", "fox"])}
    np.savez(tmp_path / "t.npz", **arrays)
    with pytest.warns(DataWarning, match=r"class_names names 4 classes, but 1 of them have no "
                                         r"example in any split \(fox\)"):
        ds = load_dataset(tmp_path / "t.npz", val_size=3)
    assert ds.num_classes == 4 and ds.class_names == ("cat", "dog", "eel", "fox")
    np.savez(tmp_path / "t.npz", **{**arrays, "y_test": np.full(9, 4)})
    with pytest.raises(LutnnError, match="a label is 4, but class_names names only 4"):
        load_dataset(tmp_path / "t.npz", val_size=3)


def test_an_idx_folder_with_raw_and_gzipped_copies_of_the_same_data_loads(tiny_npz, tmp_path):
    import numpy as np

    from lutnn.data import load_dataset
    from lutnn.data.idx import find_idx_files, write_idx

    with np.load(tiny_npz) as d:
        arrays = {k: d[k].astype(np.uint8) for k in d.files}
    names = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
    for key, name in names.items():
        write_idx(tmp_path / name, arrays[key])
        write_idx(tmp_path / f"{name}.gz", arrays[key])  # the same data, gzipped
    found, missing = find_idx_files(tmp_path)
    assert not missing and found["train_labels"].name == "train-labels-idx1-ubyte"
    ds = load_dataset(tmp_path, val_size=0)
    np.testing.assert_array_equal(ds.y_train, arrays["y_train"])
    write_idx(tmp_path / "t10k-images.idx3-ubyte", arrays["x_test"] // 2)  # a third, other
    with pytest.raises(LutnnError, match="holds both t10k-images-idx3-ubyte and "
                                         "t10k-images.idx3-ubyte, and their data differ"):
        load_dataset(tmp_path, val_size=0)


# ------------------------------------------------------------------------- tool failures


def test_synth_of_broken_verilog_is_one_line_naming_file_and_line(tiny_runs, tmp_path,
                                                                   capsys):
    """The exported Verilog broken by hand: Yosys's first ERROR line, at the user's file
    and line (not the copy Yosys read), and where the whole log is; 14 lines of log before."""
    from lutnn.errors import ToolNotFoundError
    from lutnn.hdl.tools import find_tool

    try:
        find_tool("yosys")
    except ToolNotFoundError as exc:
        pytest.skip(str(exc))
    run = _copy(tiny_runs, tmp_path)
    verilog = run / "hdl" / "lutnn_top.v"
    lines = verilog.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("module "))
    lines.insert(at + 1, "  this is not verilog ;")
    verilog.write_text("\n".join(lines) + "\n")
    assert main(["synth", str(run), "--whole-only"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"yosys (xilinx) failed: {verilog}:{at + 2}: " in err, err
    log = err.rsplit("the whole log: ", 1)[1].rstrip(")\n")
    assert "ERROR" in Path(log).read_text()


# ------------------------------------------------------------------------- stale results


def test_report_leaves_out_and_marks_results_of_other_weights(tiny_runs, tmp_path):
    """sim.json of the weights there: shown; a synth.json of other weights, and after a
    retrain the sim.json too: left out, the row marked, a line naming file and command."""
    from lutnn.report import write_report

    run = _copy(tiny_runs, tmp_path)
    sim = simulate_run(run, backend="numpy")
    (run / "synth.json").write_text(json.dumps({"luts": 123, "ffs": 4, "levels": 2,
                                                 "model_sha256": "0" * 64}))
    (entry,) = write_report(run)["networks"]
    assert entry["sim_accuracy"] == sim["accuracy"] and entry["stale"] == ["synth.json"]
    assert entry["luts"] is None  # the other weights' 123 LUTs are not shown
    report = (run / "report.md").read_text()
    assert "| lut (LUT-Net) \\* |" in report
    assert (f"\\* lut: `synth.json` was made from other weights than `model.pt` holds now "
            f"(retrained since?), so its numbers are left out; run `lutnn synth {run}` "
            "again.") in report
    state = torch.load(run / "model.pt", weights_only=True)  # retrained: other weights
    key = next(k for k in state if k.endswith("tables"))
    state[key] = -state[key]
    torch.save(state, run / "model.pt")
    (entry,) = write_report(run)["networks"]
    assert entry["stale"] == ["sim.json", "synth.json"] and entry["sim_accuracy"] is None
    assert entry["mismatches"] is None and entry["test_accuracy"] is not None


# ------------------------------------------------------------------------------ progress


def test_a_long_c_compile_says_what_it_does(tiny_runs, tmp_path, monkeypatch, capsys):
    """sim --backend c on a long source: a line when the compiler starts (lines, compiler)
    and one when it is done, on stderr (it was minutes of silence); short ones stay quiet."""
    import lutnn.csrc.build as build
    from lutnn.csrc.build import have_compiler

    if not have_compiler():
        pytest.skip("no C compiler")
    run = _copy(tiny_runs, tmp_path)
    monkeypatch.setenv("LUTNN_CACHE", str(tmp_path / "cache"))  # compiled, not cached
    assert main(["sim", str(run), "--backend", "c"]) in (0, None)
    assert "compiling" not in capsys.readouterr().err  # a short source: no word
    monkeypatch.setenv("LUTNN_CACHE", str(tmp_path / "cache2"))
    monkeypatch.setattr(build, "PROGRESS_MIN_LINES", 10)
    assert main(["sim", str(run), "--backend", "c"]) in (0, None)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("lutnn:")]
    assert len(lines) == 2 and " lines of C (" in lines[0] and "-O3" in lines[0], err
    assert lines[1].startswith("lutnn: compiled in "), err


# ------------------------------------------------------------- resume: longer, or foreign


def _weights_equal(a: Path, b: Path) -> None:
    import numpy as np

    wa, wb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert wa.keys() == wb.keys()
    for key in wa:
        np.testing.assert_array_equal(wa[key].numpy(), wb[key].numpy(), err_msg=key)


def test_more_epochs_on_resume_train_on_in_a_new_cycle(tiny_npz, tmp_path,
                                                       interrupt_second_epoch):
    """1 epoch, then --resume --epochs 3: two more epochs under a one-cycle schedule of their
    own (recorded: cycles [1, 3]); killed in between and resumed, the same weights."""
    import dataclasses

    from lutnn.train import TrainConfig, train

    cfg = TrainConfig(epochs=1, batch_size=32, val_size=60)
    longer = dataclasses.replace(cfg, epochs=3)
    args = {"model_overrides": TINY_LUT, "data": str(tiny_npz), "log": lambda _: None}
    train("lut-mlp", tmp_path / "a", train_cfg=cfg, **args)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    metrics = train("lut-mlp", tmp_path / "a", train_cfg=longer, resume=True, **args)
    assert metrics["epochs"] == 3 and metrics["schedule_cycles"] == [1, 3]
    assert json.loads((tmp_path / "a" / "run.json").read_text())["train"]["epochs"] == 3
    ckpt = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    steps = -(-340 // 32)  # 400 images - 60 for validation, batches of 32
    assert ckpt["cycles"] == [1, 3] and ckpt["schedule"]["total_steps"] == 2 * steps
    interrupt_second_epoch()  # b: the same, killed in epoch 3 and resumed
    with pytest.raises(KeyboardInterrupt):
        train("lut-mlp", tmp_path / "b", train_cfg=longer, resume=True, **args)
    interrupt_second_epoch(False)
    train("lut-mlp", tmp_path / "b", train_cfg=longer, resume=True, **args)
    _weights_equal(tmp_path / "a" / "model.pt", tmp_path / "b" / "model.pt")
    ckpt_b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert ckpt_b["cycles"] == [1, 3] and ckpt_b["schedule"] == ckpt["schedule"]


def test_a_step_schedule_trained_longer_is_the_longer_run(tiny_npz, tmp_path):
    """The "step" schedule depends on the step count alone: 1 epoch, then --resume --epochs
    2, ends with the weights of a run started with 2 epochs, bit for bit."""
    import dataclasses

    from lutnn.train import TrainConfig, train

    cfg = TrainConfig(epochs=2, batch_size=32, val_size=60, schedule="step", step_epochs=1,
                      step_gamma=0.5)
    args = {"model_overrides": TINY_LUT, "data": str(tiny_npz), "log": lambda _: None}
    train("lut-mlp", tmp_path / "direct", train_cfg=cfg, **args)
    train("lut-mlp", tmp_path / "grown", train_cfg=dataclasses.replace(cfg, epochs=1), **args)
    metrics = train("lut-mlp", tmp_path / "grown", train_cfg=cfg, resume=True, **args)
    assert metrics["epochs"] == 2 and "schedule_cycles" not in metrics
    _weights_equal(tmp_path / "direct" / "model.pt", tmp_path / "grown" / "model.pt")


def test_distill_resume_of_a_finished_run_says_so_and_more_finetuning_goes_on(
        tiny_runs, tmp_path, capsys):
    out = tmp_path / "student"
    argv = ["distill", "--teacher", str(tiny_runs["teacher"]), "--out", str(out),
            "--finetune-epochs", "0", "--memory-budget", "4096"]
    assert main(argv) in (0, None)
    capsys.readouterr()
    before = _hashes(out)
    assert main([*argv, "--resume"]) in (0, None)
    captured = capsys.readouterr()
    assert "is finished" in captured.out and "delete" not in captured.out + captured.err
    assert _hashes(out) == before  # nothing written
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)  # another run's checkpoint
    ckpt["state"]["identity"]["distill"]["seed"] = 5
    torch.save(ckpt, out / "checkpoint.pt")
    longer = [*argv[:-4], "--finetune-epochs", "1", "--memory-budget", "4096", "--resume"]
    before = _hashes(out)
    assert main(longer) == 2
    err = capsys.readouterr().err
    assert "was written by another run (--seed 5 then, 0 now)" in err and err.count("\n") == 1
    assert _hashes(out) == before
    ckpt["state"]["identity"]["distill"]["seed"] = 0
    torch.save(ckpt, out / "checkpoint.pt")
    assert main(longer) in (0, None)  # more fine-tuning epochs: fine-tuned on
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["finetune_epochs"] == 1 and metrics["config"]["finetune_epochs"] == 1


# ------------------------------------------------------------------- a table's own test split


def _table_csv(path: Path, rows: int, seed: int, header: str = "a,b,c,label") -> Path:
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, rows)
    x = rng.normal(size=(rows, 3)).round(3) + y[:, None] * np.array([1.5, -1.0, 0.5])
    lines = [header] + [f"{a:.3f},{b:.3f},{c:.3f},{['cat', 'dog', 'eel'][k]}"
                        for (a, b, c), k in zip(x, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_test_data_gives_a_table_its_own_test_split(tmp_path, capsys):
    """--data train.csv --test-data test.csv: every training row trains (or validates), the
    test split is test.csv's rows as they are (read back with numpy: the oracle); run.json
    records the file and its sha256; sim and distill use it; an edited test file is refused."""
    import numpy as np

    from lutnn.data import load_dataset

    train_csv = _table_csv(tmp_path / "train.csv", 120, 0)
    test_csv = _table_csv(tmp_path / "test.csv", 37, 1)
    ds = load_dataset(train_csv, val_size=12, test_data=test_csv)
    want = np.loadtxt(test_csv, delimiter=",", skiprows=1, usecols=(0, 1, 2), dtype=np.float32)
    labels = np.loadtxt(test_csv, delimiter=",", skiprows=1, usecols=3, dtype=str)
    np.testing.assert_array_equal(ds.x_test, want)
    np.testing.assert_array_equal(np.array(ds.class_names)[ds.y_test], labels)
    assert len(ds.x_train) + len(ds.x_val) == 120  # no 20% carved from train.csv

    run = tmp_path / "run"
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"layers": [30], "levels": 2, "k": 4}))
    argv = ["train", "--model", "lut-mlp", "--data", str(train_csv), "--test-data",
            str(test_csv), "--epochs", "1", "--batch-size", "32", "--config", str(config),
            "--out", str(run)]
    assert main(argv) in (0, None)
    record = json.loads((run / "run.json").read_text())
    assert record["test_data"] == str(test_csv)
    assert record["test_data_source"]["sha256"] == io.file_sha256(test_csv)
    assert simulate_run(run, backend="numpy")["vectors"] == 37
    before = _hashes(run)
    assert main([*argv, "--resume"]) in (0, None)  # the same run: finished, nothing written
    assert _hashes(run) == before
    i = argv.index("--test-data")
    assert main([*argv[:i], *argv[i + 2:], "--resume"]) == 2
    assert "--test-data " in capsys.readouterr().err  # resumed without it: named
    from conftest import TINY_TEACHER

    config.write_text(json.dumps(TINY_TEACHER))  # a teacher on the same split, distilled
    teacher = tmp_path / "teacher"
    assert main([*argv[:2], "teacher-mlp", *argv[3:-2], "--out", str(teacher)]) in (0, None)
    student = tmp_path / "student"
    assert main(["distill", "--teacher", str(teacher), "--out", str(student),
                 "--finetune-epochs", "0", "--memory-budget", "4096"]) in (0, None)
    assert json.loads((student / "run.json").read_text())["test_data"] == str(test_csv)
    assert simulate_run(student, backend="numpy")["vectors"] == 37
    test_csv.write_text(test_csv.read_text().replace("cat", "dog", 1))
    with pytest.raises(LutnnError, match="the run's test data .* changed since training"):
        simulate_run(run, backend="numpy")
