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
                                       ({"halve": [1, 2]}, "one 0 or 1 per layer"),
                                       ({"tree_width": 1}, "tree_width must be"),
                                       ({"tree_width": 7}, "tree_width must be"),
                                       ({"window_tree": 1}, "window_tree must be"),
                                       ({"window_tree": 7}, "window_tree must be"),
                                       ({"prune_epochs": 2}, "tree_width or window_tree"),
                                       ({"neuron_hidden": 4}, "set tree_width too"),
                                       ({"neuron_hidden": 4, "tree_width": 3,
                                         "neuron_hidden_scope": "conv"}, "'dense' or 'all'"),
                                       ({"neuron_hidden": 4, "tree_width": 3,
                                         "neuron_hidden_scope": "all"}, "set max_fan_in 1..6"),
                                       ({"activation": "tanh"}, "unknown quantizer"),
                                       ({"limit_scope": "head"}, "'all', 'conv' or 'dense'")])
def test_bad_mobilenet_configs_are_refused(bad, match):
    from lutnn.errors import LutnnError

    with pytest.raises(LutnnError, match=match):
        build_model("teacher-mobilenet", make_config("teacher-mobilenet",
                                                     {**TINY_MOBILENET, **bad}), (1, 8, 8), 3)


@pytest.mark.skipif(not HAVE_IVERILOG, reason="iverilog not installed")
@pytest.mark.parametrize("sparsity", [{}, {"max_fan_in": 5},
                                      {"tree_width": 3, "window_tree": 2}])
def test_tiny_mobilenet_distilled_and_streamed(tiny_npz, tmp_path, sparsity):
    """Teacher (dense, each neuron connected to 5 inputs, or every neuron as a tree of
    6-input neurons) -> distill (fit, KD fine-tuning with shifts) -> export --conv
    stream -> sim --rtl: RTL == simulator == PyTorch on every test image, streamed with
    stalls."""
    from lutnn.distill import DistillConfig, distill
    from lutnn.pipeline import export_run, simulate_run
    from lutnn.train import TrainConfig, train

    teacher, student = tmp_path / "teacher", tmp_path / "student"
    train("teacher-mobilenet", teacher,
          model_overrides={**TINY_MOBILENET, **sparsity},
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


@pytest.mark.parametrize("name", ["mobilenet-large", "mobilenet-small", "mobilenet-tree"])
def test_mobilenet_presets_build_and_are_found_by_their_runs(name):
    """Each teacher preset builds for MNIST, and a run record with its model and config
    (with every default filled in, as run.json has it) is recognised as that preset."""
    from lutnn.models import config_to_dict
    from lutnn.presets import PRESETS, distill_defaults, preset_of_run

    preset = PRESETS[name]
    cfg = make_config(preset.model, preset.config)
    model = build_model(preset.model, cfg, (1, 28, 28), 10)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    record = {"model": preset.model, "config": config_to_dict(cfg)}
    assert preset_of_run(record) == name
    assert distill_defaults(record) == preset.distill
    changed = {**record, "config": {**record["config"], "group_size": 7}}
    assert preset_of_run(changed) is None and distill_defaults(changed) == {}


def test_distill_cli_takes_the_teacher_presets_defaults(tmp_path, monkeypatch):
    """`lutnn distill --teacher T` fills DistillConfig from T's preset; flags override it."""
    from lutnn import io
    from lutnn.cli import main
    from lutnn.models import config_to_dict
    from lutnn.presets import PRESETS

    preset = PRESETS["mobilenet-small"]
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    io.write_json(teacher / "run.json", {"model": preset.model, "config": config_to_dict(
        make_config(preset.model, preset.config))})
    seen = {}

    def fake_distill(teacher_dir, out, cfg, **_):
        seen["cfg"] = cfg
        raise SystemExit(0)

    monkeypatch.setattr("lutnn.distill.distill", fake_distill)
    with pytest.raises(SystemExit):
        main(["distill", "--teacher", str(teacher), "--out", str(tmp_path / "s"),
              "--finetune-epochs", "7"])
    cfg = seen["cfg"]
    assert cfg.finetune_epochs == 7  # the flag
    assert (cfg.finetune_kd_alpha, cfg.finetune_shift) == (
        preset.distill["finetune_kd_alpha"], preset.distill["finetune_shift"])  # the preset


def test_kd_finetuning_loss_is_the_hand_computed_mix(tiny_npz, tmp_path, monkeypatch):
    """Distillation's fine-tuning with finetune_kd_alpha = a, temperature T minimises
    (1 - a) * CE(s, y) + a * T^2 * KL(softmax(t / T) || softmax(s / T)) with t the teacher's
    eval-mode scores: the loss it trains on equals that sum written out by hand."""
    import math

    import lutnn.distill.run as run_module
    from lutnn.distill import DistillConfig, distill
    from lutnn.train import TrainConfig, load_run, train

    teacher = tmp_path / "teacher"
    train("teacher-mobilenet", teacher, model_overrides=TINY_MOBILENET,
          train_cfg=TrainConfig(epochs=1, batch_size=32, val_size=60, eval_batch_size=100,
                                lr=1e-2), data=str(tiny_npz), log=lambda _: None)
    captured = {}
    real_fit = run_module.fit

    def spy(model, params, data, cfg, checkpoint, **kw):
        captured["loss_fn"], captured["model"] = kw["loss_fn"], model
        captured["x"], captured["y"] = data.x_train[:8], data.y_train[:8]
        return real_fit(model, params, data, cfg, checkpoint, **kw)

    monkeypatch.setattr(run_module, "fit", spy)
    alpha, temp = 0.3, 3.0
    distill(teacher, tmp_path / "s", DistillConfig(finetune_epochs=1, finetune_kd_alpha=alpha,
                                                    finetune_kd_temperature=temp),
            log=lambda _: None)
    model, (x, y) = captured["model"].eval(), (captured["x"], captured["y"])
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y).long()
    got = float(captured["loss_fn"](model, xt, yt))
    t_model = load_run(teacher)[0].eval()
    with torch.no_grad():
        s_scores, t_scores = model(xt).tolist(), t_model(xt).tolist()
    want = 0.0
    for s, t, label in zip(s_scores, t_scores, y.tolist(), strict=True):
        ce = -s[label] + math.log(sum(math.exp(v) for v in s))
        p = [math.exp(v / temp) for v in s]
        q = [math.exp(v / temp) for v in t]
        p, q = [v / sum(p) for v in p], [v / sum(q) for v in q]
        kl = sum(qi * (math.log(qi) - math.log(pi)) for pi, qi in zip(p, q, strict=True))
        want += ((1 - alpha) * ce + alpha * temp**2 * kl) / len(y)
    assert got == pytest.approx(want, rel=1e-5)


def test_max_fan_in_connects_each_neuron_to_that_many_inputs():
    """Each neuron reads exactly max_fan_in inputs: flipping an unconnected input bit never
    changes its pre-activation, flipping a connected one changes the +-1 sum by 2."""
    from lutnn.nn.binary import BinaryLinear

    torch.manual_seed(0)
    layer = BinaryLinear(50, 6, binary_weights=True, max_fan_in=7).eval()
    mask = layer.connections
    assert mask.shape == (6, 50) and (mask.sum(1) == 7).all()
    x = torch.randint(0, 2, (1, 50)).float()
    base = layer.linear_sum(x)[0]
    for i in range(50):
        flipped = x.clone()
        flipped[0, i] = 1 - flipped[0, i]
        delta = (layer.linear_sum(flipped)[0] - base).abs()
        assert torch.equal(delta, 2 * mask[:, i]), i
    assert BinaryLinear(50, 6, max_fan_in=50).connections is None  # not below the fan-in


def _binary_linears(teacher: torch.nn.Module) -> list:
    """The teacher's BinaryLinear layers in order, a lowered conv's inner one included."""
    from lutnn.nn.binary import BinaryLinear

    layers = [m.inner if isinstance(m, LoweredConv2d) else m for m in teacher]
    return [m for m in layers if isinstance(m, BinaryLinear)]


def test_tree_teacher_neurons_read_at_most_six_inputs():
    """tree_width: each pointwise and dense neuron becomes tree_width neurons of 6 random
    inputs, then one reading its own tree_width of them (groups = neurons); the student plans
    one LUT per neuron for every one of those layers."""
    from lutnn.student import plan_student

    cfg = make_config("teacher-mobilenet", {**TINY_MOBILENET, "hidden": [5], "tree_width": 3})
    torch.manual_seed(0)
    teacher = build_model("teacher-mobilenet", cfg, (1, 8, 8), 3)
    linears = _binary_linears(teacher)
    # stem, depthwise, then (first level, second level) for pointwise, dense, head
    shapes = [(m.in_features, m.out_features, m.groups) for m in linears]
    assert shapes == [(18, 4, 1), (36, 8, 4), (8, 18, 1), (18, 6, 6), (24, 15, 1),
                      (15, 5, 5), (5, 27, 1), (27, 9, 9)]
    for first in linears[2::2]:  # connected to 6 at random; every input when there are <= 6
        fan_in = 6 if first.connections is None else set(first.connections.sum(1).tolist())
        assert fan_in == (6 if first.in_features <= 6 else {6.0}), first
    plans = plan_student(teacher, 6, (6,))
    assert [p.widths for p in plans[2:]] == [(1,)] * 6
    assert teacher(torch.zeros(2, 1, 8, 8)).shape == (2, 3)


def test_activation_sets_every_neurons_backward():
    """activation: the binary activation's backward of every neuron of the teacher."""
    from lutnn.nn.binary import ste_sign

    cfg = make_config("teacher-mobilenet", {**TINY_MOBILENET, "max_fan_in": 6, "tree_width": 3,
                                            "activation": "ste"})
    teacher = build_model("teacher-mobilenet", cfg, (1, 8, 8), 3)
    assert {layer.act.quantizer for layer in _binary_linears(teacher)} == {ste_sign}


@pytest.mark.parametrize("scope", ["conv", "dense"])
def test_limit_scope_limits_only_its_part(scope):
    """limit_scope: max_fan_in and tree_width apply to the convolutions or to the dense tail
    only; the other part's neurons read every input (one BinaryLinear each, no mask)."""
    cfg = make_config("teacher-mobilenet", {**TINY_MOBILENET, "hidden": [5], "max_fan_in": 6,
                                            "tree_width": 3, "limit_scope": scope})
    teacher = build_model("teacher-mobilenet", cfg, (1, 8, 8), 3)
    flatten = next(i for i, m in enumerate(teacher) if isinstance(m, torch.nn.Flatten))
    convs = _binary_linears(teacher[:flatten])
    dense = _binary_linears(teacher[flatten:])
    limited, full = (convs, dense) if scope == "conv" else (dense, convs)
    plain = full if scope == "conv" else full[2:]  # the stem and depthwise are small anyway
    assert plain and all(m.connections is None and m.groups == 1 for m in plain)
    assert [m.out_features for m in full] == ([5, 9] if scope == "conv" else [4, 8, 6])
    assert all(m.in_features // m.groups <= 6 or m.connections is not None for m in limited)


def test_window_tree_neurons_read_at_most_six_inputs():
    """window_tree: each stem and depthwise neuron becomes window_tree neurons of 6 inputs of
    its 3x3 window, then a 1x1 neuron reading its own window_tree of them; with tree_width
    every neuron of the teacher reads at most 6 inputs, one LUT each in the student."""
    from lutnn.student import plan_student

    cfg = make_config("teacher-mobilenet", {**TINY_MOBILENET, "window_tree": 2,
                                            "tree_width": 3})
    torch.manual_seed(0)
    teacher = build_model("teacher-mobilenet", cfg, (1, 8, 8), 3)
    linears = _binary_linears(teacher)
    # (first level, second level) for the stem, depthwise, pointwise and head
    shapes = [(m.in_features, m.out_features, m.groups) for m in linears]
    assert shapes == [(18, 8, 1), (8, 4, 4), (36, 16, 4), (16, 8, 8), (8, 18, 1),
                      (18, 6, 6), (24, 27, 1), (27, 9, 9)]
    for layer in linears:  # the stem reads 6 of 18, a depthwise neuron 6 of its 9
        per_group = layer.in_features // layer.groups
        fan_in = layer.connections.sum(1) if layer.connections is not None else None
        assert per_group <= 6 or set(fan_in.tolist()) == {6.0}, layer
    plans = plan_student(teacher, 6, (6,))
    assert [p.widths for p in plans] == [(1,)] * 8
    assert teacher(torch.zeros(2, 1, 8, 8)).shape == (2, 3)


@pytest.mark.parametrize("conv_positions,wiring", [(0, {}), (1, {}), (0, {"prune_epochs": 1}),
                                                   (0, {"window_tree": 2, "prune_epochs": 1}),
                                                   (1, {"neuron_hidden": 4}),
                                                   (0, {"neuron_hidden": 3,
                                                        "neuron_hidden_scope": "all"})])
def test_a_tree_teacher_is_copied_exactly(tiny_npz, tmp_path, conv_positions, wiring):
    """Every neuron of fan-in <= 6 (max_fan_in 6 on the stem and depthwise convs, tree_width
    on the rest) is one LUT6: the addresses the data shows get the teacher's bit, the others
    the neuron's truth table, so before fine-tuning the student's class scores equal the
    teacher's on any image: fitted on every position of the training images or on one per
    image (most addresses unseen), checked on the training images and on random noise; with
    random wiring or wiring learned by pruning, and with neurons that carry an MLP
    (neuron_hidden: their truth tables are not threshold functions)."""
    import numpy as np

    from lutnn.data.datasets import load_dataset
    from lutnn.distill import DistillConfig, distill
    from lutnn.train import TrainConfig, train
    from lutnn.training.record import load_run

    teacher, student = tmp_path / "teacher", tmp_path / "student"
    train("teacher-mobilenet", teacher,
          model_overrides={**TINY_MOBILENET, "max_fan_in": 6, "tree_width": 3, **wiring},
          train_cfg=TrainConfig(epochs=1, batch_size=32, val_size=60, eval_batch_size=100,
                                lr=1e-2), data=str(tiny_npz), log=lambda _: None)
    cfg = DistillConfig(finetune_epochs=0, conv_positions=conv_positions,
                        memory_budget_mb=2048)
    distill(teacher, student, cfg, log=lambda _: None)
    t_model, s_model = load_run(teacher)[0].eval(), load_run(student)[0].eval()
    fitted = load_dataset(str(tiny_npz), val_size=60, seed=0).x_train  # the split it fits
    noise = torch.randint(0, 256, (300, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    for x in (torch.from_numpy(np.asarray(fitted)).float(), noise.float()):
        with torch.no_grad():
            assert torch.equal(s_model(x), t_model(x))


def test_students_of_a_sparse_teacher_read_exactly_its_connections():
    """A neuron of fan-in <= 36 under tree (6,): its 6 first-stage LUTs read exactly the
    inputs it is connected to (weight order ranks the unconnected ones last)."""
    from lutnn.student import build_student, plan_student

    cfg = make_config("teacher-mobilenet", {**TINY_MOBILENET, "channels": [40],
                                            "depth_multiplier": 10, "max_fan_in": 30})
    torch.manual_seed(0)
    teacher = build_model("teacher-mobilenet", cfg, (1, 8, 8), 3)
    pointwise = teacher[3].inner  # fan-in 40 -> 30 connections per neuron
    assert pointwise.connections is not None
    student = build_student(teacher, 6, (6,))
    plan = next(p for p in plan_student(teacher, 6, (6,)) if p.teacher_index == 3)
    wiring = student[plan.student_indices[0]].inner.inputs.reshape(40, -1)  # (neurons, 36)
    for n in range(40):
        connected = set(torch.nonzero(pointwise.connections[n]).flatten().tolist())
        assert set(wiring[n].tolist()) == connected


def test_a_sparse_binary_teacher_exports_bit_exact():
    """XNOR export of a max_fan_in teacher (0 weights on unconnected slots): the IR
    simulator's classes equal PyTorch's."""
    import numpy as np
    from numpy.testing import assert_array_equal

    from lutnn.frontend import to_ir
    from lutnn.sim import simulate

    cfg = make_config("teacher-mobilenet", {**TINY_MOBILENET, "binary_weights": True,
                                            "hidden": [12], "max_fan_in": 5})
    torch.manual_seed(1)
    model = build_model("teacher-mobilenet", cfg, (1, 8, 8), 3)
    x = np.random.default_rng(0).integers(0, 256, (300, 1, 8, 8)).astype(np.uint8)
    model.train()(torch.from_numpy(x).float())  # BatchNorm statistics away from the init
    model.eval()
    want = model(torch.from_numpy(x).float()).argmax(1).numpy()
    for spatial in (True, False):
        net = to_ir(model, (1, 8, 8), spatial=spatial)
        assert_array_equal(simulate(net, x.reshape(300, -1)).classes, want)


@pytest.mark.skipif(not HAVE_IVERILOG, reason="iverilog not installed")
def test_a_sparse_xnor_teacher_streams_bit_exact(tmp_path):
    """The XNOR stream of a max_fan_in teacher (0 weights on unconnected slots, in the
    convolutions and the dense head) == PyTorch on 200 images, with stalls (Icarus)."""
    import numpy as np
    from numpy.testing import assert_array_equal

    from lutnn.frontend import to_ir
    from lutnn.hdl.stream_rtl import run_stream

    cfg = make_config("teacher-mobilenet", {**TINY_MOBILENET, "binary_weights": True,
                                            "max_fan_in": 5})
    torch.manual_seed(1)
    model = build_model("teacher-mobilenet", cfg, (1, 8, 8), 3)
    x = np.random.default_rng(0).integers(0, 256, (200, 1, 8, 8)).astype(np.uint8)
    model.train()(torch.from_numpy(x).float())  # BatchNorm statistics away from the init
    want = model.eval()(torch.from_numpy(x).float()).argmax(1).numpy()
    net = to_ir(model, (1, 8, 8), spatial=True)
    got = run_stream(net, x.reshape(200, -1), simulator="icarus", workdir=tmp_path, gap=0.3,
                     stall=0.3)
    assert_array_equal(got.outputs, want)


def test_pruned_connections_keep_the_largest_weights():
    """prune_epochs 3, limit 7 of 50: every input connected at first; after epoch e each
    neuron keeps its 7 + round(43 (1 - e/3)^3) inputs of largest |W| (a subset of those it
    kept before), 7 from epoch 3 on, and nothing changes after that."""
    import numpy as np

    from lutnn.nn.binary import BinaryLinear

    torch.manual_seed(0)
    layer = BinaryLinear(50, 6, binary_weights=True, max_fan_in=7, prune_epochs=3)
    assert torch.equal(layer.connections, torch.ones(6, 50))
    weight = layer.weight.detach().abs().numpy()
    rank = np.argsort(-weight, axis=1)  # (6, 50): inputs by falling |W|, per neuron
    for epoch, keep in [(1, 20), (2, 9), (3, 7)]:
        assert layer.fan_in_after(epoch) == keep
        assert layer.end_epoch(epoch)
        want = np.zeros((6, 50))
        np.put_along_axis(want, rank[:, :keep], 1.0, axis=1)
        np.testing.assert_array_equal(layer.connections.numpy(), want)
    assert not layer.end_epoch(4)
    assert not BinaryLinear(50, 6, max_fan_in=7).end_epoch(1)  # random wiring: fixed


def test_a_pruned_teacher_keeps_the_weights_of_its_final_wiring(tiny_npz, tmp_path,
                                                                 monkeypatch):
    """Weights chosen on validation before the last cut have another structure: training
    selects among the epochs from the last cut on, even when an earlier epoch scored higher
    (validation made to fall here), so every limited neuron of model.pt reads max_fan_in."""
    from lutnn.nn.binary import BinaryLinear
    from lutnn.train import TrainConfig, train
    from lutnn.training import loop
    from lutnn.training.record import load_run

    scores = iter([0.9, 0.5, 0.4])
    monkeypatch.setattr(loop, "accuracy", lambda *args, **kwargs: next(scores))
    run = tmp_path / "teacher"
    metrics = train("teacher-mobilenet", run,
                    model_overrides={**TINY_MOBILENET, "max_fan_in": 6, "tree_width": 3,
                                     "prune_epochs": 2},
                    train_cfg=TrainConfig(epochs=3, batch_size=32, val_size=60,
                                          eval_batch_size=100, lr=1e-2),
                    data=str(tiny_npz), log=lambda _: None)
    assert [h["val_accuracy"] for h in metrics["history"]] == [0.9, 0.5, 0.4]
    model = load_run(run)[0]
    limited = [m for m in model.modules()
               if isinstance(m, BinaryLinear) and m.connections is not None]
    assert limited  # stem (18 inputs), pointwise and head first levels
    for layer in limited:
        assert (layer.connections.sum(1) == 6).all(), layer
