"""Fixed-seed distillations give the same student, bit for bit, as the recorded golden run.

The golden file ``tests/golden/distill_students.json`` holds, per case, the sha256 of every
tensor of the student's ``model.pt`` (of a LUT table, its entries' signs: the bits the hardware
holds, sign(0) = +1; the tables' low float bits from local training were seen to differ
between two setups of the same pinned torch while every bit, accuracy and loss stayed equal)
and the run's accuracies, agreements and fine-tuning
history (floats compared exactly), plus the hash of the teacher that ``lutnn train`` made.
A refactor of distillation or of the training loop must leave them unchanged; a change of the
numbers on purpose re-records the file with ``LUTNN_UPDATE_GOLDEN=1 pytest
tests/test_distill_golden.py`` and says why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch

from lutnn import io
from lutnn.distill import DistillConfig, distill
from lutnn.models import build_model, config_to_dict, make_config
from lutnn.train import TrainConfig, train

GOLDEN = Path(__file__).parent / "golden" / "distill_students.json"
UPDATE = os.environ.get("LUTNN_UPDATE_GOLDEN") == "1"

TEACHER = {"hidden": [16], "group_size": 4, "levels": 2, "binary_weights": False}
TEACHER_TRAIN = TrainConfig(epochs=2, batch_size=32, val_size=60, eval_batch_size=100)
CNN_TEACHER = {"channels": [4], "hidden": [16], "group_size": 4, "levels": 2,
               "binary_weights": False}

#: case -> (teacher, distillation settings): closed form alone, with fine-tuning of all tables,
#: local training with partial targets and last-block fine-tuning, a convolution; on the two
#: untrained teachers fine-tuning improves the student, so the selected tables are fine-tuned
CASES = {
    "fit": ("mlp", DistillConfig(finetune_epochs=0)),
    "fit_finetune": ("mlp", DistillConfig(finetune_epochs=2)),
    "fit_train_partial_last": ("mlp", DistillConfig(
        method="fit+train", local_epochs=1, target="partial", unseen="nearest",
        finetune_epochs=2, finetune_scope="last", finetune_lr=5e-2)),
    "cnn_finetune": ("cnn", DistillConfig(conv_positions=8, finetune_epochs=2,
                                          finetune_batch_size=64, finetune_lr=5e-2)),
    "untrained_mlp_finetune": ("mlp0", DistillConfig(finetune_epochs=2, finetune_lr=5e-2)),
}

#: metrics that must not move (exact floats): everything the tables determine
METRIC_KEYS = ("val_accuracy", "test_accuracy", "val_accuracy_before_finetune",
               "test_accuracy_before_finetune", "luts", "finetune_epochs")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tensor_hash(t: torch.Tensor) -> str:
    """``dtype shape sha256[:16]`` of a tensor's bytes."""
    data = t.detach().cpu().contiguous().numpy().tobytes()
    return f"{t.dtype} {list(t.shape)} {hashlib.sha256(data).hexdigest()[:16]}"


def state_hashes(path: Path) -> dict[str, str]:
    """Tensor hashes of a checkpoint; a LUT table (``*.tables``) as its entries' signs."""
    return {k: tensor_hash(v >= 0 if k.endswith("tables") else v)
            for k, v in io.load_checkpoint(path).items()}


def summary(out: Path) -> dict:
    """Hashes of the student's tensors and the metrics the tables determine."""
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "state": state_hashes(out / "model.pt"),
        "metrics": {k: metrics[k] for k in METRIC_KEYS},
        "agreement": [[layer["agreement"], layer["train_agreement"], layer["local_agreement"]]
                      for layer in metrics["layers"]],
        "finetune": [[h["loss"], h["val_accuracy"]] for h in metrics["finetune_history"]],
    }


@pytest.fixture(scope="module")
def teachers(tiny_npz, tmp_path_factory) -> dict[str, Path]:
    """A trained MLP teacher (through ``lutnn train``), untrained CNN and MLP teachers."""
    root = tmp_path_factory.mktemp("golden_teachers")
    train("teacher-mlp", root / "mlp", model_overrides=TEACHER, train_cfg=TEACHER_TRAIN,
          data=str(tiny_npz), log=lambda _: None)
    for folder, name, overrides in (("cnn", "teacher-cnn", CNN_TEACHER),
                                    ("mlp0", "teacher-mlp", TEACHER)):
        cfg = make_config(name, overrides)
        torch.manual_seed(0)
        model = build_model(name, cfg, (1, 8, 8), 3)
        io.write_json(root / folder / "run.json", {
            "model": name, "config": config_to_dict(cfg),
            "train": {"val_size": 60, "seed": 0}, "data": str(tiny_npz),
            "input_shape": [1, 8, 8], "num_classes": 3,
        })
        io.save_checkpoint(root / folder / "model.pt", model.state_dict())
    return {"mlp": root / "mlp", "cnn": root / "cnn", "mlp0": root / "mlp0"}


def _golden() -> dict:
    return json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}


def _record(key: str, value) -> None:
    golden = _golden()
    golden[key] = value
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")


def test_teacher_is_the_recorded_one(teachers):
    """``lutnn train`` with a fixed seed gives the recorded teacher weights, bit for bit."""
    got = state_hashes(teachers["mlp"] / "model.pt")
    if UPDATE:
        _record("teacher", got)
    assert got == _golden()["teacher"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_student_is_the_recorded_one(teachers, tmp_path, case):
    teacher, cfg = CASES[case]
    distill(teachers[teacher], tmp_path, cfg, log=lambda _: None)
    got = summary(tmp_path)
    if UPDATE:
        _record(case, got)
    want = _golden()[case]
    for key in want["state"]:
        assert got["state"].get(key) == want["state"][key], f"{case}: tensor {key} changed"
    assert got == want
