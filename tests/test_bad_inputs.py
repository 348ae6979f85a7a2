"""A corpus of bad inputs across every command, through the real command line (issue 10).

Each case runs ``lutnn.cli.main([...])`` in-process (a handful also as real subprocesses,
``python -m lutnn``) and asserts: exit status 2, exactly one line on stderr that names the
problem, no traceback, and no file that existed before (the shared good runs, the data, what
the case set up) changed, appeared or vanished.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import lutnn.distill.blocks
import lutnn.distill.rows
import lutnn.training.loop
from lutnn.cli import main
from lutnn.cli.common import cpu_cores

TINY_LUT = {"layers": [30, 30], "levels": 2, "k": 4}  # conftest's: the shared lut run's config
CORES = cpu_cores()

# ----------------------------------------------------------------- set-up helpers (per case)


def cfg(obj):
    """A ``--config`` file holding ``obj`` (JSON, NaN allowed)."""
    def make(ctx):
        path = ctx["tmp"] / "cfg.json"
        path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
        return {"cfg": path}
    return make


def text(name, content: str | bytes):
    """A file ``name`` in the case's folder: ``{file}``."""
    def make(ctx):
        path = ctx["tmp"] / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return {"file": path}
    return make


def npz(change):
    """``{npz}``: tiny_npz with ``change(arrays)`` applied (a dict of the four arrays)."""
    def make(ctx):
        with np.load(ctx["data"]) as d:
            arrays = {k: d[k].copy() for k in d.files}
        change(arrays)
        path = ctx["tmp"] / "bad.npz"
        np.savez(path, **arrays)
        return {"npz": path}
    return make


def csv_table(line: int, content: str, rows: int = 60):
    """``{csv}``: a small 3-class table (header ``a,b,label``) whose file line ``line`` (the
    header is line 1) is replaced by ``content``."""
    def make(ctx):
        lines = ["a,b,label"] + [f"{i % 7},{i % 3 + (i * 3) % 5},{i % 3}" for i in range(rows)]
        lines[line - 1] = content
        path = ctx["tmp"] / "table.csv"
        path.write_text("\n".join(lines) + "\n")
        return {"csv": path}
    return make


def idx_both(ctx):
    """``{idx}``: an IDX folder of tiny_npz whose training labels are there twice, raw and
    gzipped, with different data."""
    from lutnn.data.idx import write_idx

    folder = ctx["tmp"] / "idx"
    with np.load(ctx["data"]) as d:
        for name, key in (("train-images-idx3-ubyte", "x_train"),
                          ("train-labels-idx1-ubyte", "y_train"),
                          ("t10k-images-idx3-ubyte", "x_test"),
                          ("t10k-labels-idx1-ubyte", "y_test")):
            write_idx(folder / name, d[key].astype(np.uint8))
        write_idx(folder / "train-labels-idx1-ubyte.gz", (d["y_train"][::-1]).astype(np.uint8))
    return {"idx": folder}


def cached_table(npz_bytes: bytes, record: dict):
    """``{file}``: a cached ``jsc.npz`` holding ``npz_bytes`` with ``record`` as the
    source.json beside it."""
    def make(ctx):
        folder = ctx["tmp"] / "cache"
        folder.mkdir()
        (folder / "jsc.npz").write_bytes(npz_bytes)
        (folder / "source.json").write_text(json.dumps(record))
        return {"file": folder / "jsc.npz"}
    return make


def npz_table(**change):
    """``{npz}``: a small float table .npz (30 + 10 rows, 2 features, labels 0..2) with the
    arrays in ``change`` replaced or added."""
    def make(ctx):
        rng = np.random.default_rng(0)
        arrays = {"x_train": rng.normal(size=(30, 2)), "y_train": np.arange(30) % 3,
                  "x_test": rng.normal(size=(10, 2)), "y_test": np.arange(10) % 3, **change}
        path = ctx["tmp"] / "table.npz"
        np.savez(path, **arrays)
        return {"npz": path}
    return make


def run_copy(which: str, change=None):
    """``{run}``: a copy of the shared ``which`` run with ``change(run_folder)`` applied."""
    def make(ctx):
        run = ctx["tmp"] / "run"
        shutil.copytree(ctx[which], run)
        if change is not None:
            change(run)
        return {"run": run}
    return make


def edit_json(name: str, fn):
    def change(run):
        path = run / name
        path.write_text(json.dumps(fn(json.loads(path.read_text()))))
    return change


def write(name: str, content: str | bytes):
    def change(run):
        path = run / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return change


def delete(name: str):
    return lambda run: (run / name).unlink()


def retrained(run):
    """model.pt changed after export (a retrain): other weights, the same architecture."""
    state = torch.load(run / "model.pt", weights_only=True)
    key = next(k for k in state if k.endswith("tables"))
    state[key] = -state[key]
    torch.save(state, run / "model.pt")


def foreign_checkpoint(run):
    """checkpoint.pt replaced by one of a run with another seed (run.json unchanged)."""
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    ckpt["identity"]["train"]["seed"] = 1
    torch.save(ckpt, run / "checkpoint.pt")


def key_set(**keys):
    def change(a):
        a.update(keys)
    return change


def labels(split: str, fn):
    def change(a):
        a[split] = fn(a[split].copy())
    return change


def _set0(y, value):
    y[0] = value
    return y


def both(*setups):
    def make(ctx):
        extra = {}
        for s in setups:
            extra.update(s({**ctx, **extra}))
        return extra
    return make


# ----------------------------------------------------------------------------- the corpus

T = ["train", "--model", "lut-mlp", "--data", "{data}", "--epochs", "1", "--val-size", "60",
     "--batch-size", "32"]  # with TINY_LUT: the settings of the shared lut run
TT = ["train", "--model", "teacher-mlp", "--data", "{data}", "--epochs", "1", "--val-size", "60"]
NEW = ["--out", "{tmp}/new"]


def M(model: str) -> list[str]:
    return ["train", "--model", model, "--data", "{data}", "--val-size", "60", *NEW]


D = ["distill", "--teacher", "{teacher}", "--finetune-epochs", "0", "--memory-budget", "4096"]

C = pytest.param
CASES = [
    # --- train: arguments
    C([*T, *NEW, "--epochs", "0"], None, "--epochs: expected a positive integer", id="epochs-0"),
    C([*T, *NEW, "--epochs", "-3"], None, "--epochs: expected a positive", id="epochs-neg"),
    C([*T, *NEW, "--epochs", "ten"], None, "--epochs: expected a positive", id="epochs-text"),
    C([*T, *NEW, "--batch-size", "0"], None, "--batch-size", id="batch-0"),
    C([*T, *NEW, "--lr", "-1"], None, "--lr: expected a finite number > 0", id="lr-neg"),
    C([*T, *NEW, "--lr", "nan"], None, "--lr: expected a finite number > 0", id="lr-nan"),
    C([*T, *NEW, "--lr", "inf"], None, "--lr: expected a finite number > 0", id="lr-inf"),
    C([*T, *NEW, "--lr", "0"], None, "--lr: expected a finite number > 0", id="lr-0"),
    C([*T, *NEW, "--lr", "fast"], None, "--lr: expected a number", id="lr-text"),
    C([*T, *NEW, "--seed", "-1"], None, "--seed: a seed must lie in 0..", id="seed-neg"),
    C([*T, *NEW, "--seed", str(2**70)], None, "--seed: a seed must lie in", id="seed-huge"),
    C([*T, *NEW, "--seed", "1.5"], None, "--seed: expected an integer", id="seed-float"),
    C([*T, *NEW, "--val-size", "0"], None, "--val-size", id="val-0"),
    C([*T, *NEW, "--val-size", "400"], None, "val_size must be an integer in 0..399",
      id="val-all"),
    C([*T, *NEW, "--model", "teacher-xyz"], None, "unknown model 'teacher-xyz'", id="model"),
    C(["train", *NEW, "--data", "{data}"], None, "needs --model NAME or --preset", id="no-model"),
    C([*T, *NEW, "--preset", "huge"], None, "huge", id="preset-unknown"),
    C([*TT, *NEW, "--preset", "small"], None, "is a lut-mlp recipe", id="preset-vs-model"),
    C([*T], None, "--out", id="no-out"),
    C(["train", "--model", "lut-mlp", *NEW, "--frobnicate"], None, "unrecognized arguments",
      id="unknown-flag"),
    C([*T, *NEW, "--shift", "8"], None, "use --shift below 8", id="shift-image-size"),
    C([*T, *NEW, "--shift", "100"], None, "out of sight", id="shift-huge"),
    C([*T, *NEW, "--kd-alpha", "0.3"], None, "--kd-alpha weigh a teacher's soft targets, and "
      "no --teacher is given", id="kd-alpha-no-teacher"),
    C([*T, *NEW, "--kd-temperature", "3", "--kd-alpha", "0.1"], None,
      "--kd-alpha and --kd-temperature weigh", id="kd-both-no-teacher"),
    C([*T, *NEW, "--kd-standardize"], None, "--kd-standardize weigh a teacher's soft targets",
      id="kd-standardize-no-teacher"),
    C([*T, *NEW, "--nproc", str(2 * CORES + 1)], None, "more than twice the",
      id="nproc-past-2x-cores"),
    C([*T, *NEW, "--nproc", str(2 * CORES + 1), "--device", "auto"], None,
      "more than twice the", id="nproc-past-2x-cores-auto",
      marks=pytest.mark.skipif(torch.cuda.is_available(), reason="auto is cuda here")),
    # --- train: config files
    C([*T, *NEW, "--config", "{tmp}/none.json"], None, "config file not found", id="cfg-missing"),
    C([*T, *NEW, "--config", "{cfg}"], cfg("{not json"), "is not valid JSON", id="cfg-json"),
    C([*T, *NEW, "--config", "{cfg}"], cfg([1, 2]), "must hold a JSON object", id="cfg-list"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"depth": 3}), "unknown config field(s) depth",
      id="cfg-unknown"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"tau": 0}), "'tau'", id="cfg-tau-0"),
    C([*T, *NEW, "--config", "{cfg}"], cfg('{"tau": NaN}'), "'tau'", id="cfg-tau-nan"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"tau": -1}), "'tau'", id="cfg-tau-neg"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"k": 0}), "'k'", id="cfg-k-0"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"k": 1.5}), "'k'", id="cfg-k-float"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"k": 20, "layers": [30]}), "k=20 inputs per LUT",
      id="cfg-k-20"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"layers": [0]}), "'layers'", id="cfg-layers-0"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"layers": "wide"}), "'layers'", id="cfg-layers-str"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"layers": [True, 30]}), "'layers'",
      id="cfg-layers-bool"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"levels": 0}), "'levels'", id="cfg-levels-0"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"learned_wiring": -1}), "'learned_wiring'",
      id="cfg-wiring-neg"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"encoder": "fourier", "layers": [30]}), "fourier",
      id="cfg-encoder"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"encoder": "distributive", "levels": 300,
                                             "layers": [30]}),
      "levels must be an integer in 1..255 for 8-bit inputs", id="cfg-distributive-300"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"encoder": "thermometer", "levels": 300,
                                             "layers": [30]}),
      "levels must be an integer in 1..255", id="cfg-thermometer-300"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"layers": [30, 31]}), "multiple of the 3 classes",
      id="cfg-last-layer"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"layers": [2_000_000_000, 99]}),
      "GB available", id="cfg-2e9-nodes"),
    C([*T, *NEW, "--config", "{cfg}"], cfg({"layers": [30_000_000, 99]}),
      "GB available", id="cfg-3e7-nodes"),
    C([*TT, *NEW, "--config", "{cfg}"], cfg({"hidden": [3_000_000, 3_000_000]}),
      "GB available", id="cfg-teacher-huge"),
    C([*M("teacher-cnn"), "--config", "{cfg}"],
      cfg({"channels": [2, 2, 2, 2], "hidden": [8], "group_size": 4}),
      "too small for its pools", id="cnn-pools"),
    C([*M("lut-cnn"), "--config", "{cfg}"],
      cfg({"channels": [2, 2, 2, 2], "layers": [30]}), "too small for its pools",
      id="lutcnn-pools"),
    C([*M("teacher-mobilenet"), "--config", "{cfg}"],
      cfg({"channels": [2, 2, 2], "stem_channels": 2, "hidden": [8]}), "too small for its pools",
      id="mobilenet-pools"),
    C([*M("teacher-mobilenet"), "--config", "{cfg}"],
      cfg({"stem_channels": 2, "channels": [2], "hidden": [8], "prune_epochs": 1}),
      "set max_fan_in, tree_width or window_tree too", id="mobilenet-prune-no-limit"),
    C([*M("teacher-mobilenet"), "--epochs", "1", "--config", "{cfg}"],
      cfg({"stem_channels": 2, "channels": [2], "hidden": [8], "max_fan_in": 6,
           "prune_epochs": 2}),
      "prune_epochs 2 is more than --epochs 1", id="mobilenet-prune-past-epochs"),
    # --- train: the run folder
    C([*T, "--out", "{data}"], None, "is a file, not a folder", id="out-is-file"),
    C([*T, "--out", "{data}/run"], None, "cannot create the run folder", id="out-under-file"),
    C([*T, "--out", "{lut}"], None, "already holds a run; pass --resume", id="out-holds-run"),
    C([*TT, "--out", "{lut}"], None, "already holds a run", id="out-holds-other-run"),
    C([*T, "--out", "{run}", "--resume", "--config", "{cfg}"],
      both(run_copy("lut"), cfg({"layers": [60, 30], "levels": 2, "k": 4})),
      "written for another model, config or data", id="resume-other-config"),
    C([*T, "--out", "{run}"], run_copy("lut", delete("checkpoint.pt")), "already holds a run",
      id="finished-no-checkpoint"),
    C([*T, "--out", "{run}", "--resume", "--config", "{cfg}"],
      both(run_copy("lut", foreign_checkpoint), cfg(TINY_LUT)),
      "checkpoint <path> was written by another run (--seed 1 then, 0 now), not by the run "
      "<path> records", id="resume-foreign-checkpoint"),
    C([*T, "--out", "{run}", "--resume", "--config", "{cfg}", "--epochs", "2"],
      both(run_copy("lut", foreign_checkpoint), cfg(TINY_LUT)),
      "was written by another run (--seed 1 then, 0 now)", id="resume-longer-foreign-checkpoint"),
    C([*T, "--out", "{run}", "--resume", "--config", "{cfg}", "--seed", "1"],
      both(run_copy("lut"), cfg(TINY_LUT)),
      "written for another model, config or data: --seed 0 then, 1 now; resume with the run's "
      "settings (more epochs are fine)", id="resume-other-seed"),
    C([*T, "--out", "{run}", "--resume", "--config", "{cfg}", "--lr", "0.5", "--batch-size",
       "16"], both(run_copy("lut"), cfg(TINY_LUT)),
      "--batch-size 32 then, 16 now; --lr 0.01 then, 0.5 now", id="resume-other-lr-batch"),
    C([*T, "--out", "{run}", "--resume", "--config", "{cfg}", "--val-size", "50"],
      both(run_copy("lut"), cfg(TINY_LUT)), "--val-size 60 then, 50 now",
      id="resume-other-val-size"),
    C([*T, "--out", "{run}", "--resume", "--config", "{cfg}"],
      both(run_copy("lut", edit_json("run.json", lambda r: {
          **r, "train": {**r["train"], "epochs": 3}})), cfg(TINY_LUT)),
      "--epochs 3 then, 1 now; resume with the run's settings (its epochs may grow, not "
      "shrink)", id="resume-fewer-epochs"),
    C([*T, "--out", "{run}", "--resume", "--config", "{cfg}", "--epochs", "2"],
      both(run_copy("lut", delete("checkpoint.pt")), cfg(TINY_LUT)),
      "--resume --epochs 2: <path> has no checkpoint.pt to train on from its 1 epochs",
      id="resume-longer-no-checkpoint"),
    C([*T, "--out", "{run}", "--resume", "--config", "{cfg}"],
      both(run_copy("lut", write("checkpoint.pt", b"junk")), cfg(TINY_LUT)),
      "is corrupt or not a lutnn checkpoint", id="resume-corrupt-checkpoint"),
    C([*T, "--out", "{run}", "--resume", "--config", "{cfg}"],
      both(run_copy("lut", edit_json("run.json", lambda r: {**r, "config": {}})), cfg(TINY_LUT)),
      "written for another model", id="resume-run-json-edited"),
    C([*T, "--out", "{run}", "--resume", "--config", "{cfg}"],
      both(run_copy("lut", write("run.json", "[]")), cfg(TINY_LUT)),
      "written for another model", id="resume-run-json-list"),
    # --- train: data
    C([*T, *NEW, "--data", "{tmp}/nowhere.npz"], None, "dataset not found", id="data-missing"),
    C([*T, *NEW, "--data", "{file}"], text("bad.npz", b"PK\x03\x04broken"),
      "is not a readable .npz", id="data-corrupt"),
    C([*T, *NEW, "--data", "{file}"], text("data.txt", "1,2,3"), "not a dataset file (suffix "
      "'.txt'); --data takes a .csv or .npz table, a .npz of images, or a folder of IDX files",
      id="data-txt"),
    C([*T, *NEW, "--data", "{file}"], text("t.csv.gz", b"\x1f\x8b\x08\x00"),
      "a compressed .csv (decompress it first: gunzip -k t.csv.gz, then pass the .csv); --data "
      "takes a .csv or .npz table", id="data-csv-gz"),
    C([*T, *NEW, "--data", "{tmp}"], None, "lacks", id="data-empty-folder"),
    C([*T, *NEW, "--data", "{idx}"], idx_both, "holds both train-labels-idx1-ubyte and "
      "train-labels-idx1-ubyte.gz, and their data differ; keep the one you mean",
      id="idx-raw-and-gz-differ"),
    C([*T, *NEW, "--data", "{file}"], text("x.idx.npz", b""), "not a readable", id="data-empty"),
    C([*T, *NEW, "--data", "{npz}"], npz(lambda a: a.pop("y_test")), "lacks key(s)",
      id="npz-no-key"),
    C([*T, *NEW, "--data", "{npz}"], npz(lambda a: a.update(x_train=a["x_train"] / 255.0)),
      "must hold uint8", id="npz-float-images"),
    C([*T, *NEW, "--data", "{npz}"], npz(lambda a: a.update(
        x_train=a["x_train"].reshape(400, -1).astype(np.int64),
        x_test=a["x_test"].reshape(100, -1).astype(np.int64))),
      "a table, whose features must be floats: convert them with .astype(np.float32)",
      id="npz-int-table"),
    C([*T, *NEW, "--data", "{npz}"], npz(lambda a: a.update(
        x_train=np.linspace(-3, 3, 400 * 4 * 4).reshape(400, 4, 4),
        x_test=np.linspace(-3, 3, 100 * 4 * 4).reshape(100, 4, 4))),
      "would wrap or cut: scale images to 0..255 first, or, if these are features, store a "
      "table", id="npz-3d-float-features"),
    C([*T, *NEW, "--data", "{npz}"], npz(lambda a: a.update(
        x_train=a["x_train"].astype(np.int32), x_test=a["x_test"].astype(np.int32))),
      "whole numbers in 0..255: convert it with .astype(np.uint8)", id="npz-int-pixels"),
    C([*T, *NEW, "--data", "{npz}"],
      npz(lambda a: a.update(x_train=np.zeros((400, 8, 8, 3), np.uint8),
                             x_test=np.zeros((100, 8, 8, 3), np.uint8))),
      "channels-last", id="npz-channels-last"),
    C([*T, *NEW, "--data", "{npz}"],
      npz(lambda a: a.update(x_train=np.zeros((0, 8, 8), np.uint8), y_train=np.zeros(0, int))),
      "expected non-empty", id="npz-no-images"),
    C([*T, *NEW, "--data", "{npz}"], npz(labels("y_train", lambda y: y + 0.5)),
      "integer class labels", id="npz-float-labels"),
    C([*T, *NEW, "--data", "{npz}"], npz(labels("y_train", lambda y: _set0(y, -1))),
      "negative label", id="npz-negative-label"),
    C([*T, *NEW, "--data", "{npz}"], npz(labels("y_train", lambda y: y[:-1])),
      "one label per image", id="npz-label-count"),
    C([*T, *NEW, "--data", "{npz}"], npz(lambda a: a.update(x_test=np.zeros((9, 7, 7), np.uint8),
                                                              y_test=np.zeros(9, int))),
      "but test images", id="npz-test-shape"),
    C([*T, *NEW, "--data", "{npz}"], npz(labels("y_train", lambda y: y * 0)),
      "a single class", id="labels-one-class"),
    C([*T, *NEW, "--data", "{npz}"], npz(labels("y_train", lambda y: _set0(y, 1000))),
      "997 classes would be empty", id="labels-stray-1000"),
    C([*T, *NEW, "--data", "{npz}"], npz(labels("y_test", lambda y: _set0(y, 500))),
      "classes would be empty", id="labels-stray-in-test"),
    C([*T, *NEW, "--data", "{npz}"], npz(labels("y_train", lambda y: y + 5)),
      "relabel the classes as 0..K-1", id="labels-offset"),
    # --- train: tables (a .csv counts file lines, the header is line 1; a .npz array rows)
    C([*T, *NEW, "--data", "{csv}"], csv_table(6, "1e39,2,1"), "column 'a' holds values "
      "beyond float32's range (+-3.4e+38; features are float32) (line 6: 1e+39)",
      id="csv-1e39-overflow"),
    C([*T, *NEW, "--data", "{csv}"], csv_table(7, "1,nan,1"), "column 'b' holds NaN or "
      "infinite values (line 7: nan)", id="csv-nan-line"),
    C([*T, *NEW, "--data", "{csv}"], csv_table(8, "1,2,"), "the label at line 8 is missing",
      id="csv-missing-label-line"),
    C([*T, *NEW, "--data", "{csv}"], csv_table(9, "1,2," + "1" + "0" * 30),
      "the label 1" + "0" * 30 + " at line 9 is no class index", id="csv-label-1e30"),
    C([*T, *NEW, "--data", "{csv}"], csv_table(9, "1,2,1" + "0" * 15),
      "labels run to 1" + "0" * 15 + ", but only 4 classes have training examples",
      id="csv-label-1e15"),
    C([*T, *NEW, "--data", "{csv}"], csv_table(9, "1,2,-4"), "the label -4 at line 9 is "
      "negative", id="csv-negative-label-line"),
    C([*T, *NEW, "--data", "{npz}"], npz_table(x_test=np.full((10, 2), 1e39)),
      "x_test holds values beyond float32's range (+-3.4e+38; features are float32) (x_test "
      "row 0, feature 0: 1e+39)", id="npz-table-1e39"),
    C([*T, *NEW, "--data", "{npz}"], npz_table(class_names=np.array(["a", "b"])),
      "a label is 2, but class_names names only 2 classes", id="npz-class-names-too-few"),
    C([*T, *NEW, "--data", "{npz}"], npz_table(class_names=np.array(list("abcdefgh"))),
      "class_names names 8 classes, but only 3 classes have training examples",
      id="npz-class-names-far-too-many"),
    C([*T, *NEW, "--test-data", "{csv}"], csv_table(2, "1,2,1"),
      "--test-data gives a table (.csv or .npz of 2-D float features) its own test split; "
      "<path> holds images", id="test-data-with-images"),
    C([*T, *NEW, "--data", "{csv}", "--test-data", "{file}"],
      both(csv_table(2, "1,2,1"), text("test.csv", "a,c,label\n1,2,0\n3,4,1\n")),
      "has the columns a, c, but <path> has a, b; the test data must have the training "
      "data's columns, in the same order", id="test-data-other-columns"),
    C([*T, *NEW, "--data", "{csv}", "--test-data", "{file}"],
      both(csv_table(2, "1,2,1"), text("test.csv", "a,b,label\n1,2,0\n3,4,\n")),
      "the label at line 3 of test.csv is missing", id="test-data-missing-label"),
    C([*T, *NEW, "--data", "{csv}", "--test-data", "{tmp}/nowhere.csv"],
      csv_table(2, "1,2,1"), "dataset not found", id="test-data-not-found"),
    C([*T, *NEW, "--data", "{csv}", "--test-data", "{file}"],
      both(csv_table(2, "1,2,1"), text("test.txt", "a,b,label\n1,2,0\n")),
      "is no table: a table is a .csv, or a .npz with 2-D float x_train / x_test",
      id="test-data-not-a-table"),
    # --- train: knowledge distillation
    C([*T, *NEW, "--teacher", "{tmp}/nobody"], None, "run record not found", id="kd-missing"),
    C([*T, *NEW, "--teacher", "{teacher}", "--kd-alpha", "2"], None, "--kd-alpha must lie",
      id="kd-alpha"),
    C([*T, *NEW, "--teacher", "{teacher}", "--kd-temperature", "0"], None,
      "--kd-temperature must be > 0", id="kd-temperature-0"),
    C([*T, *NEW, "--teacher", "{teacher}", "--kd-temperature", "1e-45", "--config", "{cfg}"],
      cfg(TINY_LUT), "the loss became nan", id="kd-nan-loss"),
    C([*T, *NEW, "--teacher", "{teacher}", "--data", "{npz}"],
      npz(labels("y_train", lambda y: np.roll(y, 1))),
      "was trained on other data, <path> (sha256", id="kd-other-data-same-shape"),
    C([*T, *NEW, "--teacher", "{run}"], run_copy("teacher", edit_json("run.json", lambda r: {
        k: v for k, v in r.items() if k != "data_source"})),
      "records no fingerprint of its data (data_source)", id="kd-teacher-no-data-fingerprint"),
    C([*T, *NEW, "--teacher", "{teacher}", "--data", "{npz}"],
      npz(lambda a: a.update(x_train=np.zeros((400, 6, 6), np.uint8),
                             x_test=np.zeros((100, 6, 6), np.uint8))),
      "use a teacher trained on the same data", id="kd-other-shape"),
    # --- distill
    C([*D, "--out", "{tmp}/s", "--teacher", "{tmp}/nobody"], None, "not found", id="d-no-teacher"),
    C([*D, "--out", "{tmp}/s", "--teacher", "{run}"], run_copy("teacher", delete("model.pt")),
      "checkpoint not found", id="d-teacher-no-weights"),
    C([*D, "--out", "{tmp}/s", "--teacher", "{run}"],
      run_copy("teacher", write("model.pt", b"garbage")), "corrupt", id="d-teacher-corrupt"),
    C([*D, "--out", "{tmp}/s", "--teacher", "{run}"],
      run_copy("teacher", write("run.json", '{"model": "teach')), "not valid JSON",
      id="d-teacher-truncated"),
    C([*D, "--out", "{tmp}/s", "--teacher", "{lut}"], None, "lut", id="d-teacher-is-lutnet"),
    C([*D, "--out", "{tmp}/s", "--teacher", "{run}"], run_copy("teacher", edit_json(
        "run.json", lambda r: {k: v for k, v in r.items() if k != "data"})),
      "names no data set", id="d-teacher-no-data"),
    C([*D, "--out", "{tmp}/s", "--k", "0"], None, "--k: expected a positive", id="d-k-0"),
    C([*D, "--out", "{tmp}/s", "--tree", "0"], None, "--tree: expected a positive", id="d-tree-0"),
    C([*D, "--out", "{tmp}/s", "--samples", "-1"], None, "--samples", id="d-samples-neg"),
    C([*D, "--out", "{tmp}/s", "--memory-budget", "0"], None, "--memory-budget",
      id="d-budget-0"),
    C([*D, "--out", "{tmp}/s", "--memory-budget", "1"], None, "memory budget 1 MB is too small",
      id="d-budget-1"),
    C([*D, "--out", "{tmp}/s", "--finetune-lr", "-1"], None, "--finetune-lr", id="d-lr-neg"),
    C([*D, "--out", "{tmp}/s", "--finetune-epochs", "-1"], None, "--finetune-epochs",
      id="d-epochs-neg"),
    C([*D, "--out", "{tmp}/s", "--seed", "-5"], None, "--seed", id="d-seed-neg"),
    C([*D, "--out", "{tmp}/s", "--finetune-table-scale", "0"], None, "--finetune-table-scale",
      id="d-table-scale-0"),
    C([*D, "--out", "{tmp}/s", "--finetune-table-scale", "2"], None,
      "finetune_table_scale must lie in (0, 1]", id="d-table-scale-2"),
    C([*D, "--out", "{tmp}/s", "--wiring", "psychic"], None, "--wiring", id="d-wiring"),
    C([*D, "--out", "{tmp}/s", "--method", "magic"], None, "--method", id="d-method"),
    C([*D, "--out", "{teacher}"], None, "already holds a run", id="d-out-is-teacher"),
    C([*D, "--out", "{data}"], None, "is a file, not a folder", id="d-out-is-file"),
    C([*D, "--out", "{tmp}/s", "--data", "{npz}"],
      npz(lambda a: a.update(x_train=np.zeros((400, 10, 10), np.uint8),
                             x_test=np.zeros((100, 10, 10), np.uint8))),
      "but the teacher", id="d-data-shape"),
    C([*D, "--out", "{tmp}/s", "--data", "{npz}"],
      npz(labels("y_train", lambda y: np.arange(len(y)) % 4)), "has 3 classes",
      id="d-data-more-classes"),
    C([*D, "--out", "{tmp}/s", "--data", "{npz}"], npz(labels("y_train", lambda y: y * 0)),
      "a single class", id="d-data-one-class"),
    # --- export
    C(["export", "{tmp}/nothing"], None, "run record not found", id="x-missing"),
    C(["export", "{lut}", "--pipeline", "0"], None, "positive int, got 0", id="x-pipeline-0"),
    C(["export", "{lut}", "--pipeline", "-1"], None, "positive int, got '-1'", id="x-pipeline-neg"),
    C(["export", "{lut}", "--pipeline", "abc"], None, "got 'abc'", id="x-pipeline-abc"),
    C(["export", "{lut}", "--levels-per-stage", "0"], None, "--levels-per-stage",
      id="x-levels-0"),
    C(["export", "{lut}", "--pipeline", "layer", "--levels-per-stage", "2"], None,
      "needs --pipeline balanced", id="x-levels-not-balanced"),
    C(["export", "{lut}", "--conv", "stream", "--argmax", "tree"], None, "drop --argmax",
      id="x-argmax-stream"),
    C(["export", "{lut}", "--argmax", "fast"], None, "invalid choice: 'fast'", id="x-argmax-bad"),
    C(["export", "{run}"], run_copy("lut", delete("model.pt")), "checkpoint not found",
      id="x-no-weights"),
    C(["export", "{run}"], run_copy("lut", write("run.json", '{"model": "lut')),
      "not valid JSON", id="x-run-truncated"),
    C(["export", "{run}"], run_copy("lut", write("run.json", "[1, 2]")), "malformed",
      id="x-run-list"),
    C(["export", "{run}"], run_copy("lut", edit_json("run.json", lambda r: {**r, "model": "x"})),
      "unknown model 'x'", id="x-run-model"),
    C(["export", "{run}"],
      run_copy("lut", edit_json("run.json", lambda r: {**r, "input_shape": [1, 7, 7]})),
      "does not fit run.json's input_shape", id="x-input-shape"),
    C(["export", "{run}"],
      run_copy("lut", edit_json("run.json", lambda r: {**r, "input_shape": [0, 8, 8]})),
      "input_shape must be [C, H, W]", id="x-input-shape-0"),
    C(["export", "{run}"],
      run_copy("lut", edit_json("run.json", lambda r: {**r, "input_shape": "8x8"})),
      "input_shape must be", id="x-input-shape-str"),
    C(["export", "{run}"],
      run_copy("lut", edit_json("run.json", lambda r: {**r, "num_classes": "three"})),
      "malformed", id="x-num-classes"),
    C(["export", "{run}"], run_copy("lut", write("model.pt", b"\x00" * 10)), "corrupt",
      id="x-model-corrupt"),
    C(["export", "{run}"],
      both(run_copy("lut"), lambda ctx: {"_": shutil.copy(ctx["teacher"] / "model.pt",
                                                           ctx["tmp"] / "run" / "model.pt")}),
      "does not match the model in run.json", id="x-model-of-another-run"),
    # --- sim
    C(["sim", "{tmp}/nothing"], None, "run record not found", id="s-missing"),
    C(["sim", "{lut}", "--vectors", "0"], None, "--vectors", id="s-vectors-0"),
    C(["sim", "{lut}", "--simulator", "modelsim"], None, "--simulator", id="s-simulator"),
    C(["sim", "{run}"], run_copy("lut", retrained), "run `lutnn export", id="s-stale-export"),
    C(["sim", "{run}", "--rtl"], run_copy("lut", retrained), "exported from other weights",
      id="s-rtl-stale-export"),
    C(["sim", "{run}"],
      run_copy("lut", edit_json("run.json", lambda r: {
          **r, "data_source": {**r["data_source"], "path": "/nonexistent/tiny.npz"}})),
      "is gone", id="s-data-gone"),
    C(["sim", "{run}"],
      run_copy("lut", edit_json("run.json", lambda r: {
          **r, "data_source": {**r["data_source"], "sha256": "0" * 64}})),
      "changed since training", id="s-data-changed"),
    C(["sim", "{run}"],
      run_copy("lut", edit_json("run.json", lambda r: {**r, "input_shape": [1, 4, 16]})),
      "is not the data's", id="s-input-shape-same-size"),
    C(["sim", "{run}"], run_copy("lut", write("hdl/netlist.json", '{"layers": ')),
      "netlist file <path> is not valid JSON", id="s-netlist-truncated"),
    C(["sim", "{run}", "--rtl"], run_copy("lut", write("hdl/export.json", "[]")),
      "is not an export record", id="s-export-list"),
    C(["sim", "{run}", "--rtl"],
      run_copy("lut", edit_json("hdl/export.json",
                                lambda r: {k: v for k, v in r.items() if k != "model_sha256"})),
      "records no model_sha256", id="s-export-no-fingerprint"),
    C(["sim", "{run}"],
      run_copy("lut", edit_json("hdl/netlist.json", lambda r: {**r, "meta": {
          k: v for k, v in r["meta"].items() if k != "model_sha256"}})),
      "records no model_sha256", id="s-netlist-no-fingerprint"),
    C(["sim", "{run}"], run_copy("lut", edit_json("run.json", lambda r: {
        k: v for k, v in r.items() if k != "data"})), "names no data set", id="s-no-data"),
    C(["sim", "{run}"], run_copy("lut", edit_json("run.json", lambda r: {**r, "data": None})),
      "MNIST is not assumed", id="s-data-null"),
    # --- synth
    C(["synth", "{tmp}/nothing"], None, "not found", id="y-missing"),
    C(["synth", "{lut}", "--target", "asic"], None, "--target", id="y-target"),
    C(["synth", "{run}"], run_copy("lut", retrained), "exported from other weights",
      id="y-stale-export"),
    C(["synth", "{run}"],
      run_copy("lut", edit_json("hdl/export.json",
                                lambda r: {k: v for k, v in r.items() if k != "model_sha256"})),
      "records no model_sha256", id="y-export-no-fingerprint"),
    C(["synth", "{run}"], run_copy("lut", write("hdl/export.json", '{"verilog": ')),
      "not valid JSON", id="y-export-truncated"),
    C(["synth", "{run}"], run_copy("lut", write("hdl/export.json", '{"latency": 3}')),
      "is not an export record", id="y-export-no-verilog"),
    # --- report
    C(["report", "{tmp}/nothing"], None, "is not a folder", id="r-missing"),
    C(["report", "{tmp}"], None, "holds no run folders", id="r-empty"),
    C(["report", "{run}"], run_copy("lut", write("run.json", '{"model": "lut')),
      "not valid JSON", id="r-run-truncated"),
    C(["report", "{run}"], run_copy("lut", write("run.json", "[1, 2]")),
      "must hold a JSON object", id="r-run-list"),
    C(["report", "{run}"], run_copy("lut", write("metrics.json", '{"val_acc')),
      "not valid JSON", id="r-metrics-truncated"),
    C(["report", "{run}"], run_copy("lut", write("metrics.json", '"x"')),
      "must hold a JSON object", id="r-metrics-string"),
    C(["report", "{run}"], run_copy("lut", write("metrics.json", "NaN")),
      "must hold a JSON object", id="r-metrics-nan"),
    C(["report", "{run}"], run_copy("lut", write("sim.json", "[]")), "must hold a JSON object",
      id="r-sim-list"),
    C(["report", "{run}"], run_copy("lut", write("synth.json", b"\xff\xfe")), "not valid JSON",
      id="r-synth-binary"),
    # --- data
    C(["data", "jsc", "--out", "{file}"], text("mine.npz", b"PK\x03\x04 my own file"),
      "exists but is no table `lutnn data` wrote (no source.json beside it names it); choose "
      "another --out, or pass --force", id="data-out-unrelated"),
    C(["data", "jsc", "--out", "{file}"], cached_table(b"PK\x03\x04 damaged", {
        "name": "jsc", "npz": "jsc.npz", "npz_sha256": hashlib.sha256(b"PK").hexdigest()}),
      "does not match the SHA-256 its source.json records", id="data-cache-corrupt"),
    C(["data", "jsc", "--out", "{file}"], cached_table(b"PK", {
        "name": "unsw-nb15", "npz": "jsc.npz", "npz_sha256": hashlib.sha256(b"PK").hexdigest()}),
      "holds the unsw-nb15 table, not jsc", id="data-cache-other-table"),
    # --- demo and the command line itself
    C(["demo", "--data", "{tmp}/nowhere", "--out", "{tmp}/demo", "--quick"], None,
      "dataset not found", id="demo-data"),
    C([], None, "the following arguments are required: command", id="no-command"),
    C(["frobnicate"], None, "invalid choice: 'frobnicate'", id="unknown-command"),
]


# --------------------------------------------------------------------------------- running


def _hashes(*roots: Path) -> dict[str, str]:
    out = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in paths:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class _NoBar:
    """tqdm stand-in: progress bars would share stderr with the one error line."""

    def __init__(self, iterable=None, *args, **kwargs):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, *args, **kwargs):
        pass


@pytest.fixture
def world(tiny_runs, tiny_npz, tmp_path, monkeypatch):
    for module in (lutnn.training.loop, lutnn.distill.rows, lutnn.distill.blocks):
        monkeypatch.setattr(module, "tqdm", _NoBar)
    case = tmp_path / "case"
    case.mkdir()
    return {"data": tiny_npz, "teacher": tiny_runs["teacher"], "lut": tiny_runs["lut"],
            "tmp": case, "root": tiny_runs["lut"].parent}


def _argv(template: list[str], ctx: dict) -> list[str]:
    return [part.format(**ctx) for part in template]


def _check(code, err: str, message: str, before: dict, after: dict) -> None:
    assert code == 2, err
    assert "Traceback" not in err, err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert err.startswith("lutnn"), err
    assert message in re.sub(r"/\S+", "<path>", err), err  # in the words, not in a path
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"files changed, appeared or vanished: {changed}"


@pytest.mark.parametrize("template,setup,message", CASES)
def test_bad_input(world, capsys, template, setup, message):
    if setup is not None:
        world.update(setup(world))
    argv = _argv(template, world)
    watched = (world["root"], world["data"], world["tmp"])
    before = _hashes(*watched)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    print(err)  # shown with -rA: the corpus's messages
    _check(code, err, message, before, _hashes(*watched))


def test_the_corpus_is_large():
    assert len(CASES) >= 100


#: end to end in a fresh interpreter: the exit status and stderr a shell sees
SUBPROCESS_CASES = [
    C([*T, *NEW, "--lr", "nan"], None, "--lr: expected a finite number > 0", id="lr-nan"),
    C([*T, "--out", "{lut}"], None, "already holds a run", id="out-holds-run"),
    C(["export", "{lut}", "--pipeline", "abc"], None, "got 'abc'", id="export-pipeline"),
    C(["sim", "{run}"], run_copy("lut", retrained), "run `lutnn export", id="sim-stale"),
    C(["report", "{run}"], run_copy("lut", write("metrics.json", "[")), "not valid JSON",
      id="report-truncated"),
]


@pytest.mark.parametrize("template,setup,message", SUBPROCESS_CASES)
def test_bad_input_in_a_subprocess(world, template, setup, message):
    if setup is not None:
        world.update(setup(world))
    watched = (world["root"], world["data"], world["tmp"])
    before = _hashes(*watched)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "lutnn", *_argv(template, world)],
                          capture_output=True, text=True, env=env, timeout=120)
    _check(proc.returncode, proc.stderr, message, before, _hashes(*watched))

