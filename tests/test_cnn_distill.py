"""CNN distillation, end to end on a tiny MobileNet-like teacher: trained, distilled with
KD fine-tuning, exported as a stream, and streamed through the RTL with stalls (== the IR
simulator == PyTorch); the teacher presets build; distill reads its defaults from the
teacher's preset."""

from __future__ import annotations

import shutil

import pytest
import torch

from lutnn.models import build_model, make_config
from lutnn.nn.conv import LoweredConv2d

HAVE_IVERILOG = shutil.which("iverilog") is not None and shutil.which("vvp") is not None

TINY_MOBILENET = {"stem_channels": 4, "channels": [6], "hidden": [], "group_size": 3,
                  "levels": 2, "downsample": "stride", "depth_multiplier": 2,
                  "binary_weights": False}


def test_strided_mobilenet_shapes_and_multiplier():
    """stride: 8x8 -> stem 4x4 -> block 2x2; the depthwise conv has m filters per channel."""
    cfg = make_config("teacher-mobilenet", TINY_MOBILENET)
    model = build_model("teacher-mobilenet", cfg, (1, 8, 8), 3)
    convs = [m for m in model if isinstance(m, LoweredConv2d)]
    assert [c.stride for c in convs] == [(2, 2), (2, 2), (1, 1)]
    depthwise = convs[1].inner
    assert (depthwise.groups, depthwise.out_features, depthwise.weight.shape[1]) == (4, 8, 9)
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 3)
    assert model[-2].in_features == 6 * 2 * 2


def test_halve_chooses_which_layers_downsample():
    cfg = make_config("teacher-mobilenet", {**TINY_MOBILENET, "halve": [0, 1]})
    model = build_model("teacher-mobilenet", cfg, (1, 8, 8), 3)
    assert model[-2].in_features == 6 * 4 * 4  # 8x8 stem, then 4x4
    pooled = make_config("teacher-mobilenet", {**TINY_MOBILENET, "downsample": "pool"})
    assert build_model("teacher-mobilenet", pooled, (1, 8, 8), 3)[-2].in_features == 6 * 2 * 2


@pytest.mark.parametrize("bad,match", [({"downsample": "avg"}, "downsample must be"),
                                       ({"halve": [1]}, "one 0 or 1 per layer"),
                                       ({"halve": [1, 2]}, "one 0 or 1 per layer")])
def test_bad_mobilenet_configs_are_refused(bad, match):
    from lutnn.errors import LutnnError

    with pytest.raises(LutnnError, match=match):
        build_model("teacher-mobilenet", make_config("teacher-mobilenet",
                                                     {**TINY_MOBILENET, **bad}), (1, 8, 8), 3)


@pytest.mark.skipif(not HAVE_IVERILOG, reason="iverilog not installed")
def test_tiny_mobilenet_distilled_and_streamed(tiny_npz, tmp_path):
    """Teacher -> distill (fit, KD fine-tuning with shifts) -> export --conv stream ->
    sim --rtl: RTL == simulator == PyTorch on every test image, streamed with stalls."""
    from lutnn.distill import DistillConfig, distill
    from lutnn.pipeline import export_run, simulate_run
    from lutnn.train import TrainConfig, train

    teacher, student = tmp_path / "teacher", tmp_path / "student"
    train("teacher-mobilenet", teacher, model_overrides=TINY_MOBILENET,
          train_cfg=TrainConfig(epochs=1, batch_size=32, val_size=60, eval_batch_size=100,
                                lr=1e-2, shift=1), data=str(tiny_npz), log=lambda _: None)
    cfg = DistillConfig(finetune_epochs=1, finetune_kd_alpha=0.5, finetune_shift=1,
                        memory_budget_mb=2048)
    metrics = distill(teacher, student, cfg, log=lambda _: None)
    assert metrics["test_accuracy"] > 0.5  # 3 classes: learnt something
    info = export_run(student, conv="stream")
    assert info["conv"] == "stream"
    r = simulate_run(student, rtl=True, vectors=100, simulator="icarus", backend="numpy")
    assert r["mismatches"] == 0 and r["rtl_mismatches"] == 0, r
    assert r["vectors"] == 100 and r["conv"] == "stream"
