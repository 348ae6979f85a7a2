"""Data-parallel training under torchrun (2 gloo processes) against one process.

The oracle is the one-process run with the same global batch: DDP averages the ranks'
gradients of their halves of each batch, which is the batch's mean gradient with another float
summation order, so weights agree to float rounding (``assert_close`` with a tight absolute
tolerance, not bit for bit) and predictions, hence accuracies, agree exactly on these nets.
Resuming under the same world size repeats the same arithmetic, so that one *is* bit for bit.

Every multi-process run is a real ``python -m torch.distributed.run`` subprocess with a
timeout; a small driver script (written into the test's folder) patches lutnn's file writers
to log which rank wrote what, and can SIGKILL one rank at a chosen epoch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY_LUT, TINY_TEACHER
from lutnn import distributed
from lutnn.cli import _without_nproc
from lutnn.errors import LutnnError
from lutnn.train import TrainConfig, train

TIMEOUT = 180  # seconds per subprocess: a hang fails the test instead of the suite
COMMON = ["--epochs", "2", "--batch-size", "32", "--val-size", "60"]
CFG = TrainConfig(epochs=2, batch_size=32, val_size=60)

DRIVER = textwrap.dedent('''
    """Test driver: ``lutnn`` with its writers logged per rank and an optional kill."""
    import os, signal, sys
    from pathlib import Path

    import lutnn.io as io
    import lutnn.training.loop as tr
    from lutnn.cli import main

    rank = os.environ.get("RANK", "0")
    log = os.environ["LUTNN_TEST_WRITES"]

    def logged(write):
        def run(path, *args, **kwargs):
            with open(log, "a") as f:
                f.write(f"{rank} {Path(path).name}\\n")
            return write(path, *args, **kwargs)
        return run

    io.save_checkpoint = logged(io.save_checkpoint)
    io.write_json = logged(io.write_json)
    kill_rank, kill_epoch = os.environ.get("LUTNN_TEST_KILL", ":").split(":")
    real_epoch, calls = tr.train_epoch, []

    def epoch(*args, **kwargs):
        calls.append(1)
        if rank == kill_rank and len(calls) == int(kill_epoch):
            os.kill(os.getpid(), signal.SIGKILL)  # as a crash or an OOM kill would
        return real_epoch(*args, **kwargs)

    tr.train_epoch = epoch
    sys.exit(main())
''')


def torchrun(tmp_path: Path, *args: str, nproc: int = 2, kill: str = ":",
             ) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node NPROC DRIVER lutnn-args`` in ``tmp_path``."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LUTNN_TEST_KILL": kill,
           "LUTNN_TEST_WRITES": str(tmp_path / "writes.log")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", "--max-restarts=0", "--monitor-interval=0.5",
           str(driver), *args]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)


def writes(tmp_path: Path) -> list[tuple[str, str]]:
    log = tmp_path / "writes.log"
    lines = log.read_text().split("\n") if log.exists() else []
    return [tuple(line.split(" ", 1)) for line in lines if line]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "model.pt", weights_only=True)


def write_config(tmp_path: Path, name: str, config: dict) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    return str(path)


@pytest.fixture(scope="module")
def lut_runs(tiny_npz, tmp_path_factory) -> dict[str, Path]:
    """The tiny LUT-Net trained by one process (in-process) and by two (torchrun)."""
    root = tmp_path_factory.mktemp("dp")
    train("lut-mlp", root / "one", model_overrides=TINY_LUT, train_cfg=CFG,
          data=str(tiny_npz), log=lambda _: None)
    config = write_config(root, "lut", TINY_LUT)
    r = torchrun(root, "train", "--model", "lut-mlp", "--config", config, "--data",
                 str(tiny_npz), "--out", "two", *COMMON)
    assert r.returncode == 0, r.stderr[-3000:]
    return {"one": root / "one", "two": root / "two", "root": root, "config": Path(config)}


# --- helpers, no processes -------------------------------------------------------------------

@pytest.mark.parametrize("length", [0, 1, 7, 32, 33])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_batch_parts_cover_the_batch_in_order(length, world):
    parts = [distributed.batch_part(length, world, r) for r in range(world)]
    covered = [i for p in parts for i in range(length)[p]]
    assert covered == list(range(length))
    sizes = [len(range(length)[p]) for p in parts]
    assert max(sizes) - min(sizes) <= 1


def test_device_selection_logic(monkeypatch):
    """Tested without a GPU: ``cuda_available`` stands in for the machine."""
    for var in ("WORLD_SIZE", "LOCAL_RANK", "RANK"):
        monkeypatch.delenv(var, raising=False)
    assert distributed.resolve_device("auto", cuda_available=False) == torch.device("cpu")
    assert distributed.resolve_device("cpu", cuda_available=True) == torch.device("cpu")
    assert distributed.resolve_device("auto", cuda_available=True) == torch.device("cuda", 0)
    assert distributed.resolve_device("cuda", cuda_available=True) == torch.device("cuda", 0)
    with pytest.raises(LutnnError, match="no CUDA GPU is visible"):
        distributed.resolve_device("cuda", cuda_available=False)
    with pytest.raises(LutnnError, match="unknown device 'tpu'"):
        distributed.resolve_device("tpu")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.resolve_device("cuda", cuda_available=True) == torch.device("cuda", 1)
    assert distributed.backend_for(torch.device("cuda", 1)) == "nccl"
    assert distributed.backend_for(torch.device("cpu")) == "gloo"
    if not torch.cuda.is_available():  # this machine: auto is the CPU
        monkeypatch.delenv("WORLD_SIZE")
        assert distributed.resolve_device("auto") == torch.device("cpu")


def test_one_process_session_is_rank_0_of_1(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    with distributed.session("auto" if not torch.cuda.is_available() else "cpu") as device:
        assert device == torch.device("cpu")
        assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
        assert not distributed.active()
        x = torch.arange(3)
        assert distributed.all_sum(x) is x and distributed.all_gather_object(5) == [5]


def test_nproc_is_removed_from_the_relaunched_command():
    argv = ["train", "--nproc", "2", "--out", "r", "--nproc=3", "--epochs", "1"]
    assert _without_nproc(argv) == ["train", "--out", "r", "--epochs", "1"]


def test_train_device_flag_on_cpu(tiny_npz, tmp_path):
    """``--device auto`` is the CPU here and trains the same weights as ``--device cpu``."""
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: auto would pick it")
    common = dict(model_overrides=TINY_LUT, train_cfg=CFG, data=str(tiny_npz), log=lambda _: None)
    train("lut-mlp", tmp_path / "cpu", device="cpu", **common)
    train("lut-mlp", tmp_path / "auto", device="auto", **common)
    a, b = weights(tmp_path / "cpu"), weights(tmp_path / "auto")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


# --- two processes ---------------------------------------------------------------------------

def test_two_processes_train_a_lut_net_like_one(lut_runs):
    one, two = weights(lut_runs["one"]), weights(lut_runs["two"])
    assert one.keys() == two.keys()
    for key in one:  # float summation order differs (gradients reduced across ranks)
        torch.testing.assert_close(two[key], one[key], rtol=0, atol=1e-6)
    m1 = json.loads((lut_runs["one"] / "metrics.json").read_text())
    m2 = json.loads((lut_runs["two"] / "metrics.json").read_text())
    assert m2["test_accuracy"] == m1["test_accuracy"]
    assert m2["val_accuracy"] == m1["val_accuracy"]
    np.testing.assert_allclose([h["loss"] for h in m2["history"]],
                               [h["loss"] for h in m1["history"]], rtol=1e-6)


def test_two_processes_write_only_from_rank_0(lut_runs):
    """No two writers: every file write of the 2-process run came from rank 0, and the run
    folder holds what a one-process run's does (no lock, no temporary file)."""
    logged = writes(lut_runs["root"])
    assert logged and {rank for rank, _ in logged} == {"0"}
    assert sorted(name for _, name in logged) == sorted(
        ["run.json", "checkpoint.pt", "checkpoint.pt", "model.pt", "metrics.json"])
    names = {p.name for p in lut_runs["two"].iterdir()}
    assert names == {p.name for p in lut_runs["one"].iterdir()}
    ckpt = torch.load(lut_runs["two"] / "checkpoint.pt", weights_only=True)
    assert ckpt["world_size"] == 2


def test_two_processes_train_a_batchnorm_teacher_like_one(tiny_npz, tmp_path):
    """The teacher's BatchNorm normalises over the global batch (global statistics), so its
    running statistics and the weights match one process's to float rounding."""
    train("teacher-mlp", tmp_path / "one", model_overrides=TINY_TEACHER, train_cfg=CFG,
          data=str(tiny_npz), log=lambda _: None)
    config = write_config(tmp_path, "teacher", TINY_TEACHER)
    r = torchrun(tmp_path, "train", "--model", "teacher-mlp", "--config", config, "--data",
                 str(tiny_npz), "--out", "two", *COMMON)
    assert r.returncode == 0, r.stderr[-3000:]
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    for key in one:  # latent weights pass through sign(): a little more rounding shows
        torch.testing.assert_close(two[key].double(), one[key].double(), rtol=0, atol=1e-4)
    m1 = json.loads((tmp_path / "one" / "metrics.json").read_text())
    m2 = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert abs(m2["test_accuracy"] - m1["test_accuracy"]) <= 0.002  # the 0.2 points


def test_resume_after_a_kill_under_torchrun(lut_runs, tiny_npz, tmp_path):
    """Rank 1 is SIGKILLed in epoch 2: the checkpoint keeps epoch 1; resuming with one
    process is refused by name; resuming with two ends with the uninterrupted 2-process
    weights, bit for bit."""
    args = ["train", "--model", "lut-mlp", "--config", str(lut_runs["config"]), "--data",
            str(tiny_npz), "--out", "run", *COMMON]
    r = torchrun(tmp_path, *args, kill="1:2")
    assert r.returncode != 0
    run = tmp_path / "run"
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert not (run / "metrics.json").exists()
    with pytest.raises(LutnnError, match="written by a run of 2 process.*--nproc 2"):
        train("lut-mlp", run, model_overrides=TINY_LUT, train_cfg=CFG, data=str(tiny_npz),
              resume=True, log=lambda _: None)
    r = torchrun(tmp_path, *args, "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    want, got = weights(lut_runs["two"]), weights(run)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)


def test_batch_not_divisible_is_one_line_exit_2(tiny_npz, tmp_path):
    """Through ``--nproc`` (which launches torchrun): the workers' user error keeps exit
    status 2 and rank 0 prints it once; nothing is left behind."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    config = write_config(tmp_path, "lut", TINY_LUT)
    r = subprocess.run(
        [sys.executable, "-m", "lutnn", "train", "--model", "lut-mlp", "--data", str(tiny_npz),
         "--config", config, "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "31",
         "--val-size", "60", "--nproc", "2"],
        env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2, r.stderr[-3000:]
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert "batch size 31 is the global batch and must be divisible by the 2 processes" in lines[0]
    assert not (tmp_path / "run").exists()


# --- distillation ----------------------------------------------------------------------------

def test_two_process_distillation_gives_the_one_process_student(tiny_npz, tmp_path):
    """The ranks split each block's neurons (closed form, per neuron): the distilled student
    is one process's bit for bit; the data-parallel fine-tuning then matches to float
    rounding, and only rank 0 wrote."""
    from lutnn.distill import DistillConfig, distill

    teacher = tmp_path / "teacher"
    train("teacher-mlp", teacher, model_overrides={**TINY_TEACHER, "binary_weights": False},
          train_cfg=CFG, data=str(tiny_npz), log=lambda _: None)
    distill(teacher, tmp_path / "one", DistillConfig(finetune_epochs=2), log=lambda _: None)
    r = torchrun(tmp_path, "distill", "--teacher", str(teacher), "--out", "two",
                 "--finetune-epochs", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    ckpt = {n: torch.load(tmp_path / n / "checkpoint.pt", weights_only=True)
            for n in ("one", "two")}
    assert ckpt["one"]["student"].keys() == ckpt["two"]["student"].keys()
    for key, value in ckpt["one"]["student"].items():  # the distilled student, before tuning
        torch.testing.assert_close(ckpt["two"]["student"][key], value, rtol=0, atol=0)
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=0, atol=1e-5)
    m1 = json.loads((tmp_path / "one" / "metrics.json").read_text())
    m2 = json.loads((tmp_path / "two" / "metrics.json").read_text())
    for key in ("test_accuracy_before_finetune", "val_accuracy_before_finetune", "luts"):
        assert m2[key] == m1[key]
    assert abs(m2["test_accuracy"] - m1["test_accuracy"]) <= 0.002
    assert {rank for rank, _ in writes(tmp_path)} == {"0"}
    assert {p.name for p in (tmp_path / "two").iterdir()} == {
        p.name for p in (tmp_path / "one").iterdir()}


def test_block_fit_work_units(monkeypatch):
    """How the ranks share a block: the closed form splits every memory group over the
    ranks; local training deals whole groups (its seed is the group's first neuron)."""
    from lutnn.distill.blocks import _work_units

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert _work_units(16, 16, split=True) == [(0, 0, 8), (0, 8, 16)]
    assert _work_units(10, 4, split=True) == [(0, 0, 2), (0, 2, 4), (4, 4, 6), (4, 6, 8),
                                              (8, 8, 9), (8, 9, 10)]
    assert _work_units(10, 4, split=False) == [(0, 0, 4), (4, 4, 8), (8, 8, 10)]
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert _work_units(10, 4, split=True) == [(0, 0, 4), (4, 4, 8), (8, 8, 10)]


def test_sim_device_auto_is_the_cpu_here(tiny_npz, tmp_path):
    """``lutnn sim --device auto``: the PyTorch side of the comparison on the chosen device
    (the CPU on this machine), still equal to the IR simulator."""
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: auto would pick it")
    from lutnn.pipeline import export_run, simulate_run

    train("teacher-mlp", tmp_path / "run", model_overrides=TINY_TEACHER, train_cfg=CFG,
          data=str(tiny_npz), log=lambda _: None)
    export_run(tmp_path / "run")
    result = simulate_run(tmp_path / "run", device="auto", backend="numpy")
    assert result["mismatches"] == 0 and result["vectors"] == 100
