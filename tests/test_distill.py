"""Distillation: closed-form fit against exhaustive oracles, exact small neurons, resume,
clear errors, and the student exported to the IR and simulated bit for bit."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import lutnn.distill.memory as memory
import lutnn.distill.run as run_mod
import lutnn.training.loop as train_mod
from lutnn import io
from lutnn.cli import main
from lutnn.distill import DistillConfig, build_student, distill, fit_block, plan_student
from lutnn.distill.cache import BitCache, BitCacheWriter
from lutnn.distill.fit import (
    count_addresses,
    majority_tables,
    stage_addresses,
    stage_bits,
)
from lutnn.distill.memory import plan_chunks
from lutnn.errors import LutnnError
from lutnn.models import build_model, config_to_dict, make_config
from lutnn.nn.binary import BinaryLinear
from lutnn.nn.conv import LoweredConv2d
from lutnn.nn.lut import LUTLayer
from lutnn.nn.wiring import weight_order
from lutnn.student import first_stage_wiring, stage_widths
from lutnn.train import TrainConfig, load_run, train


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a shared, loaded 2-core machine a 2-thread ``unfold`` (im2col) was
    measured ~100x slower than a 1-thread one (docs/results_distill.md)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY_TEACHER = {"hidden": [16], "group_size": 4, "levels": 2, "binary_weights": False}
TINY_TRAIN = TrainConfig(epochs=2, batch_size=32, val_size=60, eval_batch_size=100)


def all_patterns(n: int) -> torch.Tensor:
    """float bits [2^n, n]: every input pattern, row a = bits of a."""
    a = torch.arange(2**n)
    return ((a[:, None] >> torch.arange(n)[None, :]) & 1).float()


def random_teacher(fan_in: int, neurons: int, seed: int, groups: int = 1) -> BinaryLinear:
    torch.manual_seed(seed)
    layer = BinaryLinear(fan_in, neurons, groups=groups)
    with torch.no_grad():
        layer.bn.running_mean.uniform_(-2, 2)
        layer.bn.running_var.uniform_(0.5, 2)
        layer.bn.weight.uniform_(-1, 1)  # some negative scales: falling neurons
        layer.bn.bias.uniform_(-0.5, 0.5)
    return layer.eval()


# ----------------------------------------------------------------------- closed-form oracle


@pytest.mark.parametrize("seed", range(4))
def test_majority_fit_reaches_exhaustive_optimum(seed):
    """One k=3 LUT over the top-|w| inputs of an 8-input neuron, rows = every pattern with a
    random multiplicity: the fit's agreement equals the best of all 2^(2^3) tables."""
    k, fan_in = 3, 8
    teacher = random_teacher(fan_in, 1, seed)
    gen = torch.Generator().manual_seed(seed)
    x = all_patterns(fan_in).repeat_interleave(torch.randint(0, 4, (2**fan_in,), generator=gen),
                                               dim=0)
    target = (teacher.preactivation(x) >= 0).to(torch.uint8)  # (R, 1)
    wiring = weight_order(teacher.weight.detach(), k, 1)  # (1, k)
    counts = count_addresses(torch.zeros(1, 2**k, 2, dtype=torch.int64),
                             stage_addresses(x, wiring), target)
    bits, values = majority_tables(counts)
    assert torch.equal(bits, values >= 0)
    fitted = (stage_bits(x, wiring, bits) == target).sum().item()
    addr = stage_addresses(x, wiring)[:, 0]
    best = max(
        (torch.tensor(table)[addr] == target[:, 0]).sum().item()
        for table in itertools.product([0, 1], repeat=2**k)
    )
    assert fitted == best


@pytest.mark.parametrize("seed", range(3))
def test_last_stage_fit_is_optimal_given_first_stage(seed):
    """Tree [2 LUTs of k=3] -> 1 LUT of 2 inputs on a 6-input neuron: the last stage, fitted on
    the (fixed) first-stage outputs, is the best of all 2^(2^2) last-stage tables."""
    teacher = random_teacher(6, 1, seed)
    model = nn.Sequential(teacher)
    plan = plan_student(model, 3, (2,))[0]
    assert plan.widths == (2, 1) and plan.ks == (3, 2)
    student = build_student(model, 3, (2,))
    x = all_patterns(6)
    fit_block(teacher, list(student), plan, x)
    first, last = student[0].eval(), student[1].eval()
    h, target = first(x), (teacher.preactivation(x) >= 0).float()[:, 0]
    fitted = (last(h)[:, 0] == target).sum().item()
    addr = stage_addresses(h, last.inputs)[:, 0]
    best = max((torch.tensor(t, dtype=torch.float32)[addr] == target).sum().item()
               for t in itertools.product([0, 1], repeat=4))
    assert fitted == best


def test_unseen_address_rules():
    counts = torch.tensor([[[5, 0], [0, 0], [0, 0], [0, 1]]])  # k=2; addresses 1, 2 unseen
    bits, _ = majority_tables(counts, "majority")
    assert bits.int().tolist() == [[0, 0, 0, 1]]  # overall 5 zeros vs 1 one
    counts = torch.tensor([[[5, 0], [0, 0], [0, 0], [0, 1]], [[0, 0], [0, 0], [0, 0], [0, 0]]])
    bits, values = majority_tables(counts, "nearest")
    # address 1 (01) and 2 (10) are both at distance 1 from 0 (5 zeros) and 3 (1 one)
    assert bits[0].int().tolist() == [0, 0, 0, 1]
    assert bits[1].int().tolist() == [1, 1, 1, 1]  # nothing seen: overall majority, sign(0)=+1
    assert torch.equal(bits, values >= 0)


# ------------------------------------------------------------------------ mapping and wiring


@pytest.mark.parametrize("groups", [1, 4])
def test_lut_seeing_all_inputs_reproduces_the_neuron(groups):
    """Fan-in F <= k: one LUT per neuron reads all F inputs and equals the teacher exactly,
    dense and grouped (depthwise-like), on every input pattern."""
    fan_in = 5
    teacher = random_teacher(fan_in * groups, 3 * groups, seed=groups, groups=groups)
    model = nn.Sequential(teacher)
    plan = plan_student(model, 6, (6,))[0]
    assert plan.widths == (1,) and plan.ks == (fan_in,)
    student = build_student(model, 6, (6,))
    x = all_patterns(fan_in * groups) if groups == 1 else torch.randint(0, 2, (4000, 20)).float()
    fit_block(teacher, list(student), plan, x)
    wiring = student[0].inputs
    group_of_neuron = torch.arange(3 * groups).repeat_interleave(1) // 3
    assert torch.equal(wiring // fan_in, group_of_neuron[:, None].expand_as(wiring))
    torch.testing.assert_close(student.eval()(x), teacher(x), rtol=0, atol=0)


def test_first_stage_wiring_is_weight_order_and_stays_in_groups():
    teacher = random_teacher(64, 4, seed=0)
    plan = plan_student(nn.Sequential(teacher), 6, (6,))[0]
    wiring = first_stage_wiring(teacher, plan, "weight_order")
    assert torch.equal(wiring, weight_order(teacher.weight.detach(), 6, 6))
    grouped = random_teacher(9 * 4, 4, seed=1, groups=4)  # depthwise 3x3 over 4 channels
    plan = plan_student(nn.Sequential(grouped), 6, (6,))[0]
    assert plan.widths == (2, 1)  # ceil(9 / 6) LUTs, the second wraps to the top ranks
    for mode in ("weight_order", "random"):
        wiring = first_stage_wiring(grouped, plan, mode, seed=3).reshape(4, 12)
        for o in range(4):
            assert set(wiring[o].tolist()) == set(range(9 * o, 9 * o + 9))  # every input read
            for lut in wiring[o].reshape(2, 6):
                assert len(set(lut.tolist())) == 6


def test_stage_widths():
    assert stage_widths(2352, 6, (6,)) == ((6, 1), (6, 6))
    assert stage_widths(2352, 6, (36, 6)) == ((36, 6, 1), (6, 6, 6))
    assert stage_widths(100, 6, (36, 6)) == ((6, 1), (6, 6))  # 36 LUTs would exceed 17
    assert stage_widths(20, 6, (6,)) == ((4, 1), (6, 4))
    assert stage_widths(6, 6, (6,)) == ((1,), (6,))
    assert stage_widths(50, 6, ()) == ((1,), (6,))
    # a wide tree for wide neurons: (8, 2) reads 48 inputs; a stem neuron of 18 inputs, too
    # narrow for 8, still reads all 18 (3 LUTs and one), not 12 through the 2 left
    assert stage_widths(256, 6, (8, 2)) == ((8, 2, 1), (6, 4, 2))
    assert stage_widths(18, 6, (8, 2)) == ((3, 1), (6, 3))
    assert stage_widths(9, 6, (8, 2)) == ((2, 1), (6, 2))
    with pytest.raises(LutnnError, match="each stage must be"):
        plan_student(nn.Sequential(random_teacher(8, 2, 0)), 6, (12,))


@pytest.mark.parametrize(
    "block,named",
    [
        (nn.ReLU(), "block 1 (ReLU)"),
        (LoweredConv2d(1, 2, 3, nn.Linear(9, 2)), "block 1 (LoweredConv2d with inner Linear)"),
        (LUTLayer(8, 4, 2), "block 1 (LUTLayer)"),
    ],
)
def test_unsupported_block_is_named(block, named):
    teacher = nn.Sequential(BinaryLinear(8, 8), block)
    with pytest.raises(LutnnError, match=rf"{named.replace('(', '[(]').replace(')', '[)]')} "
                                         r"cannot be distilled; supported"):
        plan_student(teacher, 6, (6,))


def test_budget_splits_neurons_with_the_same_result(monkeypatch):
    """The memory scheduler's chunking (rows and neuron groups) does not change the fit."""
    teacher = random_teacher(40, 12, seed=5)
    model = nn.Sequential(teacher)
    plan = plan_student(model, 6, (6,))[0]
    x = torch.randint(0, 2, (1000, 40), generator=torch.Generator().manual_seed(0)).float()
    whole = build_student(model)
    fit_block(teacher, list(whole), plan, x)
    monkeypatch.setattr(memory, "plan_chunks", lambda *a, **k: (300, 5))  # 4 chunks, 3 groups
    split = build_student(model)
    fit_block(teacher, list(split), plan, x)
    for a, b in zip(whole.state_dict().values(), split.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_memory_budget_too_small_is_a_clear_error():
    with pytest.raises(LutnnError, match=r"memory budget 1 MB is too small .* --memory-budget"):
        plan_chunks(1, 1000, 100, 10, "block l2_dense")


def test_bit_cache_roundtrip(tmp_path):
    bits = torch.randint(0, 2, (37, 13), dtype=torch.uint8)
    with BitCacheWriter(tmp_path / "c.npy", 37, 13) as w:
        w.append(bits[:20])
        w.append(bits[20:])
    cache = BitCache(tmp_path / "c.npy", 13)
    assert torch.equal(cache.read(0, 37), bits) and torch.equal(cache.read(5, 9), bits[5:9])
    assert np.array_equal(np.load(tmp_path / "c.npy"), cache.read_packed(0, 37))
    with pytest.raises(AssertionError), BitCacheWriter(tmp_path / "d.npy", 5, 13) as w:
        w.append(bits[:3])
    assert not (tmp_path / "d.npy").exists()  # an incomplete cache is never published


# ----------------------------------------------------------------------- whole runs (tiny data)


@pytest.fixture(scope="module")
def tiny_teacher(tiny_npz, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("teacher")
    train("teacher-mlp", out, model_overrides=TINY_TEACHER, train_cfg=TINY_TRAIN,
          data=str(tiny_npz), log=lambda _: None)
    return out


def test_distill_run_folder_metrics_and_plot(tiny_teacher, tmp_path):
    cfg = DistillConfig(finetune_epochs=1, method="fit+train", local_epochs=1)
    metrics = distill(tiny_teacher, tmp_path, cfg, log=lambda _: None)
    for name in ("run.json", "model.pt", "metrics.json", "distill.png", "checkpoint.pt"):
        assert (tmp_path / name).is_file()
    assert not (tmp_path / "cache").exists()
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("test_accuracy", "teacher_test_accuracy", "luts", "peak_memory_mb", "seconds",
                "layers", "test_accuracy_before_finetune", "val_accuracy"):
        assert key in on_disk
    assert [layer["name"] for layer in on_disk["layers"]] == ["l2_dense", "l3_dense"]
    for layer in on_disk["layers"]:
        assert 0.5 < layer["agreement"] <= 1 and layer["luts"] > 0
    assert on_disk["luts"] == sum(layer["luts"] for layer in on_disk["layers"])
    assert metrics["test_accuracy"] > 0.8  # chance is 1/3
    student, record = load_run(tmp_path)  # rebuilt from run.json, wiring from the state dict
    assert record["model"] == "lut-student"
    from lutnn.train import accuracy

    assert accuracy(student, *_test_split(tiny_teacher)) == pytest.approx(
        metrics["test_accuracy"])


def _test_split(teacher_dir: Path):
    from lutnn.data import load_dataset

    record = json.loads((teacher_dir / "run.json").read_text())
    ds = load_dataset(record["data"], val_size=60, seed=0)
    return ds.x_test, ds.y_test


def test_resume_after_interrupt_equals_uninterrupted(tiny_teacher, tmp_path, monkeypatch):
    cfg = DistillConfig(finetune_epochs=2, method="fit+train", local_epochs=1)
    distill(tiny_teacher, tmp_path / "whole", cfg, log=lambda _: None)

    real_block, calls = run_mod.distill_block, []

    def killed_in_second_block(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_block(*args, **kwargs)

    monkeypatch.setattr(run_mod, "distill_block", killed_in_second_block)
    with pytest.raises(KeyboardInterrupt):
        distill(tiny_teacher, tmp_path / "split", cfg, log=lambda _: None)
    assert not (tmp_path / "split" / "metrics.json").exists()
    with pytest.raises(LutnnError, match="already holds a run; pass --resume"):
        distill(tiny_teacher, tmp_path / "split", cfg, log=lambda _: None)
    monkeypatch.setattr(run_mod, "distill_block", real_block)

    real_finetune, ft_calls = train_mod.train_epoch, []

    def killed_in_second_epoch(*args, **kwargs):
        ft_calls.append(1)
        if len(ft_calls) == 2:
            raise KeyboardInterrupt
        return real_finetune(*args, **kwargs)

    monkeypatch.setattr(train_mod, "train_epoch", killed_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        distill(tiny_teacher, tmp_path / "split", cfg, resume=True, log=lambda _: None)
    monkeypatch.setattr(train_mod, "train_epoch", real_finetune)
    split = distill(tiny_teacher, tmp_path / "split", cfg, resume=True, log=lambda _: None)

    whole_sd = io.load_checkpoint(tmp_path / "whole" / "model.pt")
    split_sd = io.load_checkpoint(tmp_path / "split" / "model.pt")
    for key in whole_sd:
        torch.testing.assert_close(whole_sd[key], split_sd[key], rtol=0, atol=0)
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    for key in ("test_accuracy", "val_accuracy", "test_accuracy_before_finetune", "luts"):
        assert whole[key] == split[key]
    assert [x["agreement"] for x in whole["layers"]] == [x["agreement"] for x in split["layers"]]


def test_cli_distill_and_user_errors(tiny_npz, tiny_teacher, tmp_path, capsys):
    out = tmp_path / "student"
    code = main(["distill", "--teacher", str(tiny_teacher), "--out", str(out),
                 "--memory-budget", "4096", "--wiring", "random", "--method", "fit"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["wiring"] == "random" and metrics["memory_budget_mb"] == 4096
    capsys.readouterr()
    assert main(["distill", "--teacher", str(tiny_teacher), "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["distill", "--teacher", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    assert "not found" in capsys.readouterr().err
    lut_teacher = tmp_path / "lut"
    train("lut-mlp", lut_teacher, model_overrides={"layers": [30, 12], "levels": 2},
          train_cfg=TrainConfig(epochs=1, batch_size=64, val_size=60), data=str(tiny_npz),
          log=lambda _: None)
    assert main(["distill", "--teacher", str(lut_teacher), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "teacher block 2 (LUTLayer) cannot be distilled" in err and "Traceback" not in err


# ------------------------------------------------------------------ export + simulation (MNIST)


@pytest.fixture(scope="module")
def small_mnist(mnist_dir, tmp_path_factory) -> Path:
    """2,000 MNIST training and 300 test images as an .npz (keeps the runs short)."""
    from lutnn.data import load_mnist

    x_train, y_train, x_test, y_test = load_mnist(mnist_dir)
    path = tmp_path_factory.mktemp("mnist") / "mnist_small.npz"
    np.savez(path, x_train=x_train[:2000], y_train=y_train[:2000], x_test=x_test[:300],
             y_test=y_test[:300])
    return path


def _save_untrained_teacher(folder: Path, name: str, overrides: dict, data: Path) -> None:
    """A teacher run folder with initial weights: enough to test mapping and export."""
    cfg = make_config(name, overrides)
    torch.manual_seed(0)
    model = build_model(name, cfg, (1, 28, 28), 10)
    io.write_json(folder / "run.json", {
        "model": name, "config": config_to_dict(cfg), "train": {"val_size": 200, "seed": 0},
        "data": str(data), "input_shape": [1, 28, 28], "num_classes": 10,
    })
    io.save_checkpoint(folder / "model.pt", model.state_dict())


@pytest.mark.parametrize(
    "name,overrides",
    [
        ("teacher-mlp", {"hidden": [64], "group_size": 5, "binary_weights": False}),
        ("teacher-mobilenet", {"stem_channels": 4, "channels": [8], "hidden": [16],
                               "group_size": 3, "binary_weights": False}),
    ],
)
def test_student_exports_and_simulates_bit_exact(small_mnist, tmp_path, name, overrides):
    from lutnn.data import load_dataset
    from lutnn.frontend import to_ir
    from lutnn.sim.packed import simulate

    _save_untrained_teacher(tmp_path / "t", name, overrides, small_mnist)
    cfg = DistillConfig(conv_positions=8, finetune_epochs=0)
    distill(tmp_path / "t", tmp_path / "s", cfg, log=lambda _: None)
    student, record = load_run(tmp_path / "s")
    x = load_dataset(str(small_mnist), val_size=200, seed=0).x_test  # uint8 [300, 1, 28, 28]
    netlist = to_ir(student, tuple(record["input_shape"]))
    result = simulate(netlist, x.reshape(len(x), -1))
    with torch.no_grad():
        scores = student(torch.from_numpy(x).float())
        body = student[:-1](torch.from_numpy(x).float())
    np.testing.assert_array_equal(result.output_bits, body.numpy().astype(bool))
    np.testing.assert_array_equal(result.classes, scores.argmax(1).numpy())


def test_finetune_scope_last_keeps_earlier_blocks_locked(tiny_teacher, tmp_path):
    distill(tiny_teacher, tmp_path / "none", DistillConfig(finetune_epochs=0), log=lambda _: None)
    cfg = DistillConfig(finetune_epochs=2, finetune_scope="last", finetune_lr=5e-2)
    distill(tiny_teacher, tmp_path / "last", cfg, log=lambda _: None)
    before = io.load_checkpoint(tmp_path / "none" / "model.pt")
    fine = io.load_checkpoint(tmp_path / "last" / "finetune.pt")
    assert fine["epoch"] == 2
    after = fine["model"]  # the student after the last fine-tuning epoch
    plans = plan_student(load_run(tiny_teacher)[0], 6, (6,))
    last = {f"{i}.tables" for i in plans[-1].student_indices}
    for key in before:
        if key.endswith("tables") and key not in last:
            torch.testing.assert_close(before[key], after[key], rtol=0, atol=0)
    assert any(not torch.equal(before[k], after[k]) for k in last)


def test_models_do_not_import_distillation():
    """No import cycle: the model families (``lut-student`` included) build students through
    :mod:`lutnn.student`, never through :mod:`lutnn.distill`, which imports them."""
    import subprocess
    import sys

    code = ("import sys, lutnn.models, lutnn.train; "
            "print(sorted(m for m in sys.modules if m.startswith('lutnn.distill')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------ run-folder integrity (issue 10, item 2, 7)


def test_distill_refuses_labels_the_teacher_has_no_class_for(tiny_npz, tiny_teacher, tmp_path):
    d = np.load(tiny_npz)
    y_train = d["y_train"].copy()
    # a stray label: a 6-class student; (1000 is refused by lutnn.data before, see
    # tests/test_bad_inputs.py: it would leave 997 classes empty)
    y_train[0] = 5
    np.savez(tmp_path / "stray.npz", x_train=d["x_train"], y_train=y_train,
             x_test=d["x_test"], y_test=d["y_test"])
    with pytest.raises(LutnnError, match=r"labels up to 5, but the teacher .* has 3 classes"):
        distill(tiny_teacher, tmp_path / "s", DistillConfig(finetune_epochs=0),
                data=str(tmp_path / "stray.npz"), log=lambda _: None)
    np.savez(tmp_path / "big.npz", x_train=np.zeros((100, 10, 10), np.uint8),
             y_train=d["y_train"][:100], x_test=np.zeros((9, 10, 10), np.uint8),
             y_test=d["y_test"][:9])
    with pytest.raises(LutnnError, match=r"images of .* are \[1, 10, 10\], but the teacher"):
        distill(tiny_teacher, tmp_path / "t", DistillConfig(finetune_epochs=0),
                data=str(tmp_path / "big.npz"), log=lambda _: None)


def test_distill_resume_refuses_a_changed_teacher(tiny_teacher, tmp_path, monkeypatch):
    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_teacher, teacher)
    cfg = DistillConfig(finetune_epochs=0)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_mod, "distill_block", killed)
    with pytest.raises(KeyboardInterrupt):
        distill(teacher, tmp_path / "s", cfg, log=lambda _: None)
    monkeypatch.undo()
    state = io.load_checkpoint(tmp_path / "s" / "checkpoint.pt")["state"]
    assert set(state) == {f.name for f in dataclasses.fields(run_mod.DistillState)}
    sd = io.load_checkpoint(teacher / "model.pt")
    sd = {k: (v + 1 if v.is_floating_point() else v) for k, v in sd.items()}  # retrained
    io.save_checkpoint(teacher / "model.pt", sd)
    with pytest.raises(LutnnError, match=r"teacher .*model.pt changed since this distillation"):
        distill(teacher, tmp_path / "s", cfg, resume=True, log=lambda _: None)


@pytest.mark.parametrize("deleted", [("checkpoint.pt", "finetune.pt"),
                                     ("checkpoint.pt", "finetune.pt", "metrics.json")])
def test_finished_distillation_is_not_overwritten(tiny_teacher, tmp_path, deleted):
    """A finished run without its checkpoints (deleted to save space) is still a run."""
    out = tmp_path / "s"
    distill(tiny_teacher, out, DistillConfig(finetune_epochs=1), log=lambda _: None)
    for name in deleted:
        (out / name).unlink()
    model = (out / "model.pt").read_bytes()
    with pytest.raises(LutnnError, match="already holds a run; pass --resume"):
        distill(tiny_teacher, out, DistillConfig(finetune_epochs=0), log=lambda _: None)
    assert (out / "model.pt").read_bytes() == model


def test_a_run_from_before_a_new_setting_resumes_with_its_default(tiny_teacher, tmp_path):
    """A finished distillation whose run.json and metrics.json predate a DistillConfig field
    (here finetune_table_scale) resumes as finished: the missing field counts as its default,
    while a non-default value of it is a different run and is refused."""
    out = tmp_path / "s"
    cfg = DistillConfig(finetune_epochs=1)
    distill(tiny_teacher, out, cfg, log=lambda _: None)
    for name, section in (("run.json", "distill"), ("metrics.json", "config")):
        record = io.read_json(out / name)
        del record[section]["finetune_table_scale"]
        io.write_json(out / name, record)
    model = (out / "model.pt").read_bytes()
    lines = []
    distill(tiny_teacher, out, cfg, resume=True, log=lines.append)
    assert any("is finished" in line for line in lines), lines
    assert (out / "model.pt").read_bytes() == model
    changed = dataclasses.replace(cfg, finetune_table_scale=0.5)
    with pytest.raises(LutnnError, match="--finetune-table-scale 1.0 then, 0.5 now"):
        distill(tiny_teacher, out, changed, resume=True, log=lambda _: None)
