"""QONNX out (``lutnn export RUN --format qonnx``): lutnn's XNOR teachers as QONNX, run by
qonnx's own executor and compared with lutnn's simulator bit for bit (classes, scores, every
stage's bits); random netlists reach every converter branch, tiny trained teachers (MLP on
images and on a table, CNN, MobileNet with sparse fan-in) the whole command.  Skipped with a
reason when the interop extra (onnx, qonnx) is missing.
"""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from tests.conftest import TINY_TEACHER
from tests.strategies import threshold_layer

from lutnn.errors import LutnnError
from lutnn.ir import FeatureEncoder, GroupSumHead, InputEncoder, Netlist
from lutnn.ir.options import ExportOptionError, ExportOptions
from lutnn.ir.spatial import ImageFlatten, OrPool, XnorConv
from lutnn.qonnx import QONNXBackend, float32_boundaries
from lutnn.sim import simulate

pytest.importorskip("onnx", reason="the interop extra is not installed: pip install "
                                   "'lutnn[interop]'")
pytest.importorskip("qonnx", reason="the interop extra is not installed: pip install "
                                    "'lutnn[interop]'")

from lutnn.qonnx.check import compare  # noqa: E402  (after the skip: it needs qonnx to run)


def _agree(net: Netlist, input_shape: tuple[int, ...], x: np.ndarray) -> None:
    artifact = QONNXBackend(input_shape).emit(net)
    check = compare(artifact.model.model.SerializeToString(), list(artifact.stages), net, x)
    assert check.exact, check.as_dict()


# --- random netlists: every converter, edge thresholds, padding, groups, ternary weights ---

def _xnor_conv(rng, name, shape, groups, pad, pad_value, stride) -> XnorConv:
    c = shape[0]
    n = groups * int(rng.integers(1, 3))
    fan_in = c // groups * 9
    weights = rng.choice(np.array([-1, 1, -1, 1, 0], np.int8), (n, fan_in))
    if rng.random() < 0.5:
        weights[weights == 0] = 1  # all connected: BipolarQuant; else Quant (ternary)
    thresholds = rng.choice([0, fan_in // 2, fan_in // 2 + 1, fan_in, fan_in + 1], n)
    return XnorConv(name, *shape, 3, 3, stride, stride, pad, pad, weights,
                    thresholds.astype(np.int32), rng.random(n) < 0.5, groups=groups,
                    pad_value=pad_value)


@st.composite
def xnor_netlists(draw):
    """encoder (pixel thresholds or per-pixel ones) -> [XNOR conv -> OR pool] ->
    flatten -> 1..2 dense XNOR layers (repeated inputs, 0 weights, edge thresholds) -> head."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    c, levels, side = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(4, 6))
    if draw(st.booleans()):
        values = rng.choice(np.arange(0, 257), levels, replace=False)
        encoder = InputEncoder("enc", c, c * side * side, np.sort(values).astype(np.int16))
    else:
        per_pixel = np.sort(rng.integers(0, 257, (c * side * side, levels)), axis=1)
        encoder = FeatureEncoder("enc", c, c * side * side, 8, per_pixel.astype(np.int32),
                                 np.ones(c * side * side), np.zeros(c * side * side))
    shape, layers = (c * levels, side, side), []
    if draw(st.booleans()):
        groups = draw(st.sampled_from([g for g in (1, c * levels) if shape[0] % g == 0]))
        conv = _xnor_conv(rng, "conv", shape, groups, draw(st.integers(0, 1)),
                          draw(st.integers(0, 1)), draw(st.integers(1, 2)))
        layers.append(conv)
        shape = conv.out_shape
        if shape[1] >= 2 and draw(st.booleans()):
            layers.append(OrPool("pool", *shape, 2, 2, 2, 2))
            shape = layers[-1].out_shape
        layers.append(ImageFlatten("flat", *shape))
    width = int(np.prod(shape))
    classes, group = draw(st.integers(2, 4)), draw(st.integers(1, 5))
    dense = draw(st.integers(1, 2))
    for i in range(dense):
        n = classes * group if i == dense - 1 else draw(st.integers(1, 12))
        layers.append(threshold_layer(f"dense{i}", width, n, draw(st.integers(1, 20)), rng))
        width = n
    net = Netlist(encoder.out_width, tuple(layers), encoder, GroupSumHead("head", width, classes))
    net.validate()
    return net, (c, side, side)


def _pixels(net: Netlist, batch: int, seed: int) -> np.ndarray:
    """uint8 pixels at, beside and away from every encoder threshold."""
    rng = np.random.default_rng(seed)
    t = net.encoder.thresholds.ravel().astype(np.int64)
    near = np.concatenate([t - 1, t, t + 1, rng.integers(0, 256, t.size)]).clip(0, 255)
    return rng.choice(near, (batch, net.encoder.in_width)).astype(np.uint8)


@settings(max_examples=25, deadline=None)
@given(case=xnor_netlists(), seed=st.integers(0, 2**31))
def test_random_xnor_netlists_run_bit_exact_in_qonnx(case, seed):
    net, shape = case
    x = _pixels(net, 24, seed).reshape(24, *shape)
    _agree(net, shape, x)


# --- a table's float features: float32 boundaries --------------------------------------------

def _table_encoder(rng, features=5, levels=3, width=6) -> FeatureEncoder:
    thresholds = np.sort(rng.integers(0, (1 << width) + 1, (features, levels)), axis=1)
    thresholds[0] = [0, 1, 1 << width][:levels]  # a constant 1, the lowest, a constant 0
    return FeatureEncoder("enc", features, features, width, thresholds.astype(np.int32),
                          rng.uniform(0.1, 40.0, features), rng.uniform(-3.0, 3.0, features))


def test_float32_boundaries_are_exact_at_every_threshold():
    """``x >= boundary`` is the comparator: at the boundary the fixed-point value reaches the
    threshold, one float32 below it does not (to_fixed, float64, as the simulator)."""
    enc = _table_encoder(np.random.default_rng(1))
    b = float32_boundaries(enc)  # (P, T)
    t = enc.thresholds
    assert (b[t == 0] == -np.inf).all() and (b[t == 1 << enc.width] == np.inf).all()
    inner = np.isfinite(b)
    assert inner.sum() >= 8
    for p, k in zip(*np.nonzero(inner), strict=True):
        at, below = b[p, k], np.nextafter(b[p, k], np.float32(-np.inf))
        row = np.zeros((2, enc.features), np.float32)
        row[:, p] = [at, below]
        fixed = enc.to_fixed(row)[:, p]
        assert fixed[0] >= t[p, k] > fixed[1], (p, k, at, fixed)


def test_table_netlist_runs_bit_exact_in_qonnx_at_the_boundaries():
    rng = np.random.default_rng(2)
    enc = _table_encoder(rng)
    dense = threshold_layer("dense", enc.out_width, 6, 8, rng)
    net = Netlist(enc.out_width, (dense,), enc, GroupSumHead("head", 6, 3))
    b = float32_boundaries(enc)
    edges = np.concatenate([b[np.isfinite(b)], np.nextafter(b[np.isfinite(b)], np.float32(-1e30)),
                            rng.uniform(-5, 5, 20).astype(np.float32)])
    x = rng.choice(edges, (64, enc.features)).astype(np.float32)
    _agree(net, (enc.features,), x)


# --- options and refusals ---------------------------------------------------------------------

def test_export_options_take_the_format():
    options = ExportOptions(format="qonnx")
    assert options.prune is False and options.to_json()["format"] == "qonnx"
    assert ExportOptions.from_json(options.to_json()) == options
    assert "format" not in ExportOptions().to_json()  # the Verilog record keeps its keys
    for bad in ({"form": "stream"}, {"argmax": "tree"}, {"pipeline": "none"},
                {"pipeline": "balanced", "levels_per_stage": 2}):
        with pytest.raises(ExportOptionError, match="option of the Verilog export"):
            ExportOptions(format="qonnx", **bad)
    with pytest.raises(ExportOptionError, match="--pipeline"):
        ExportOptions.from_flags(format="qonnx", pipeline="layer")
    with pytest.raises(ExportOptionError, match="format must be one of"):
        ExportOptions(format="onnx")


def _copy(run, tmp_path):
    dst = tmp_path / run.name
    shutil.copytree(run, dst)
    return dst


def test_a_lut_net_is_refused_in_one_line(tiny_runs, tmp_path):
    from lutnn.pipeline import export_qonnx_run

    run = _copy(tiny_runs["lut"], tmp_path)
    with pytest.raises(LutnnError, match="QONNX of a LUT network is out of scope") as err:
        export_qonnx_run(run)
    assert "\n" not in str(err.value)
    assert not (run / "qonnx").exists()


def test_a_missing_extra_names_what_to_install(tiny_runs, tmp_path, monkeypatch):
    from lutnn.cli import main

    run = _copy(tiny_runs["teacher"], tmp_path)
    monkeypatch.setitem(sys.modules, "qonnx", None)  # import qonnx raises ImportError
    with pytest.raises(LutnnError, match=r"pip install 'lutnn\[interop\]'"):
        QONNXBackend((1, 8, 8)).emit(Netlist(4, (), InputEncoder("e", 1, 4, np.array(
            [128], np.int16)), GroupSumHead("head", 4, 2)))
    assert main(["export", str(run), "--format", "qonnx"]) == 2
    assert not (run / "qonnx").exists()


def test_verilog_flags_with_qonnx_are_one_line_errors(tiny_runs, tmp_path, capsys):
    from lutnn.cli import main

    run = _copy(tiny_runs["teacher"], tmp_path)
    for flags in (["--pipeline", "none"], ["--conv", "stream"], ["--no-prune"]):
        assert main(["export", str(run), "--format", "qonnx", *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert "option of the Verilog export" in err and "\n" not in err, err
    assert main(["export", str(run), "--vectors", "5"]) == 2
    assert not (run / "qonnx").exists() and not (run / "hdl").exists()


# --- tiny trained teachers, the whole command ---------------------------------------------------

def _train(tmp_path, data, model, overrides):
    from lutnn.train import TrainConfig, train

    run = tmp_path / model
    train(model, run, model_overrides=overrides, data=str(data), log=lambda _: None,
          train_cfg=TrainConfig(epochs=1, batch_size=32, val_size=60))
    return run


def _check_export(run, n_file: int = 12) -> None:
    """Export as QONNX (checked there on every test sample), then run the *file* as written
    (batch 1) in qonnx's executor, sample by sample: classes equal to the simulator's and to
    PyTorch's."""
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    from lutnn.pipeline import _test_split, converted_netlist, export_qonnx_run
    from lutnn.train import load_run, predict

    info = export_qonnx_run(run, vectors=None)
    checked = info["checked"]
    assert checked["vectors"] == 100 and checked["class_mismatches"] == 0
    assert checked["score_mismatches"] == 0 and not any(checked["stage_bit_mismatches"].values())
    model, record = load_run(run)
    x, _ = _test_split(record, n_file)
    net = converted_netlist(model, record, stream=True)
    sim = simulate(net, x.reshape(len(x), -1))
    onnx.checker.check_model(onnx.load(run / info["model"]))
    wrapped = ModelWrapper(str(run / info["model"]))
    classes = [int(np.argmax(execute_onnx(wrapped, {"input": x[i:i + 1].astype(np.float32)})
                             ["scores"])) for i in range(len(x))]
    assert_array_equal(classes, sim.classes)
    assert_array_equal(classes, predict(model, x))


def test_tiny_teacher_mlp_exports_as_exact_qonnx(tiny_runs, tmp_path):
    _check_export(_copy(tiny_runs["teacher"], tmp_path))


@pytest.mark.parametrize("model,overrides", [
    ("teacher-cnn", {"channels": [4, 6], "hidden": [12], "group_size": 4}),
    ("teacher-mobilenet", {"stem_channels": 4, "channels": [8], "hidden": [12],
                           "group_size": 4, "max_fan_in": 6, "downsample": "stride"}),
    ("teacher-mlp", {**TINY_TEACHER, "encoder": "distributive"}),
])
def test_tiny_trained_teachers_export_as_exact_qonnx(tiny_npz, tmp_path, model, overrides):
    _check_export(_train(tmp_path, tiny_npz, model, overrides))


def test_a_table_teacher_exports_as_exact_qonnx(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 2, (500, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
    np.savez(tmp_path / "table.npz", x_train=x[:400], y_train=y[:400], x_test=x[400:],
             y_test=y[400:])
    _check_export(_train(tmp_path, tmp_path / "table.npz", "teacher-mlp",
                         {"hidden": [12], "group_size": 4, "levels": 3}))


def test_a_real_weight_teacher_is_refused(tiny_npz, tmp_path):
    from lutnn.pipeline import export_qonnx_run

    run = _train(tmp_path, tiny_npz, "teacher-mlp", {**TINY_TEACHER, "binary_weights": False})
    with pytest.raises(LutnnError, match="real weights: QONNX export is of XNOR teachers") as err:
        export_qonnx_run(run)
    assert "\n" not in str(err.value)
    assert not (run / "qonnx").exists()


def test_an_exported_teacher_comes_back_through_lutnn_import(tiny_npz, tmp_path):
    """Export -> ``lutnn import`` of that file -> export again: both files give the original
    teacher's classes on the test split (the Pad of a padded convolution is not imported
    yet, so the round trip is an MLP's)."""
    from lutnn.cli import main
    from lutnn.pipeline import _test_split, export_qonnx_run
    from lutnn.qonnx.check import execute
    from lutnn.train import load_run, predict

    run = _train(tmp_path, tiny_npz, "teacher-mlp", {**TINY_TEACHER, "encoder": "threshold"})
    first = export_qonnx_run(run)
    back = tmp_path / "imported"
    assert main(["import", str(run / first["model"]), "--data", str(tiny_npz), "--out",
                 str(back), "--input-range", "0,255"]) == 0
    second = export_qonnx_run(back)
    model, record = load_run(run)
    x, _ = _test_split(record, None)
    classes = [np.argmax(execute((r / info["model"]).read_bytes(), x)["scores"], axis=1)
               for r, info in ((run, first), (back, second))]
    assert_array_equal(classes[0], predict(model, x))
    assert_array_equal(classes[1], classes[0])
