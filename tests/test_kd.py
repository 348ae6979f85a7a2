"""Training a LUT-Net against a teacher's class scores (knowledge distillation)."""

from __future__ import annotations

import math

import pytest
import torch

from lutnn.errors import LutnnError
from lutnn.train import TrainConfig, kd_loss, train
from lutnn.training.kd import standardize


def test_kd_loss_equals_its_definition_on_a_hand_made_example() -> None:
    s = torch.tensor([[2.0, 0.0, -1.0]])  # student scores
    t = torch.tensor([[0.0, 3.0, 0.0]])  # teacher scores
    y = torch.tensor([0])
    alpha, temp = 0.25, 2.0
    # written out: softmax by hand, KL(q || p) = sum q (log q - log p)
    ps = [math.exp(v / temp) for v in (2.0, 0.0, -1.0)]
    qs = [math.exp(v / temp) for v in (0.0, 3.0, 0.0)]
    p = [v / sum(ps) for v in ps]
    q = [v / sum(qs) for v in qs]
    kl = sum(qi * (math.log(qi) - math.log(pi)) for pi, qi in zip(p, q, strict=True))
    ce = -math.log(math.exp(2.0) / sum(math.exp(v) for v in (2.0, 0.0, -1.0)))
    want = (1 - alpha) * ce + alpha * temp**2 * kl
    assert kd_loss(s, t, y, alpha, temp).item() == pytest.approx(want, rel=1e-6)
    assert kd_loss(s, t, y, 0.0, temp).item() == pytest.approx(ce, rel=1e-6)


def test_standardized_kd_ignores_the_students_score_span() -> None:
    """The soft term on standardized scores is the same for a student whose head spans 6x
    the range (and sits elsewhere); on raw scores it is not.  Hand-made: standardized s is
    (s - mean) / std, with the sample standard deviation."""
    s = torch.tensor([[2.0, 0.0, -1.0], [1.0, 1.0, 4.0]])
    t = torch.tensor([[0.0, 3.0, 0.0], [5.0, -5.0, 0.0]])
    y = torch.tensor([0, 2])
    wide = 6 * s + 10
    soft = kd_loss(s, t, y, 1.0, 2.0, standardized=True)
    assert kd_loss(wide, t, y, 1.0, 2.0, standardized=True).item() == pytest.approx(
        soft.item(), rel=1e-5)
    assert kd_loss(wide, t, y, 1.0, 2.0).item() != pytest.approx(kd_loss(s, t, y, 1.0, 2.0).item())
    row = [2.0, 0.0, -1.0]
    mean = sum(row) / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in row) / 2)
    assert standardize(s)[0].tolist() == pytest.approx([(v - mean) / std for v in row], rel=1e-5)
    assert standardize(torch.ones(1, 4)).tolist() == [[0.0] * 4]  # equal scores: all 0
    # the hard term reads the raw scores: alpha 0 is plain cross-entropy either way
    assert kd_loss(wide, t, y, 0.0, 2.0, standardized=True).item() == pytest.approx(
        torch.nn.functional.cross_entropy(wide, y).item(), rel=1e-6)


def test_train_with_a_teacher_records_its_fingerprint(tiny_npz, tmp_path) -> None:
    teacher_dir = tmp_path / "teacher"
    train("teacher-mlp", teacher_dir, model_overrides={"hidden": [32], "group_size": 4},
          train_cfg=TrainConfig(epochs=1, val_size=50), data=str(tiny_npz), log=lambda _: None)
    student = tmp_path / "student"
    cfg = TrainConfig(epochs=1, val_size=50, teacher=str(teacher_dir), kd_alpha=0.7)
    metrics = train("lut-mlp", student, model_overrides={"layers": [60, 30]}, train_cfg=cfg,
                    data=str(tiny_npz), log=lambda _: None)
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    from lutnn import io

    record = io.read_json(student / "run.json")
    from lutnn.runfolder import model_fingerprint

    assert record["teacher_sha256"] == model_fingerprint(teacher_dir)  # of the weights
    assert record["train"]["kd_alpha"] == 0.7
    with pytest.raises(LutnnError, match="kd-alpha"):
        train("lut-mlp", tmp_path / "bad", model_overrides={"layers": [60, 30]},
              train_cfg=TrainConfig(epochs=1, val_size=50, teacher=str(teacher_dir),
                                    kd_alpha=1.5), data=str(tiny_npz), log=lambda _: None)
