"""The compiled C back end equals the golden simulator, bit for bit (classes, scores, output
bits), on random netlists of every node type (unlowered and lowered), on the trained MNIST
net for all 10,000 test images, and on hand-made inputs that pin the header's bit order."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from conftest import SHARED_MNIST as MNIST
from lutnn.csrc import compile_netlist, compile_source, emit_c, find_compiler, have_compiler
from lutnn.csrc import emit as emit_module
from lutnn.csrc.emit import BLOCKS
from lutnn.errors import LutnnError, ToolNotFoundError
from lutnn.ir import (
    FeatureEncoder,
    GroupSumHead,
    InputEncoder,
    LutLayer,
    Netlist,
    ThresholdLayer,
)
from lutnn.ir.layers import NODE_TYPES
from lutnn.ir.passes import lower, minimize
from lutnn.sim import simulate
from strategies import lowering_netlists as netlists
from strategies import random_inputs

needs_cc = pytest.mark.skipif(not have_compiler(), reason="no C compiler (cc/gcc/clang)")


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    """Compiled libraries cached per test session (by source hash), not in ~/.cache."""
    monkeypatch.setenv("LUTNN_CACHE", str(tmp_path_factory.getbasetemp() / "lutnn-cache"))


def assert_c_equals_sim(net: Netlist, x: np.ndarray, word: int) -> None:
    want = simulate(net, x, keep_layers=False)
    compiled = compile_netlist(net, word=word)
    assert_array_equal(compiled.output_bits(x), want.output_bits)
    if net.head is not None:
        scores, classes = compiled.scores(x)
        assert_array_equal(scores, want.scores)
        assert_array_equal(classes, want.classes)
        assert_array_equal(compiled.classify(x), want.classes)


def test_every_node_type_has_an_entry():
    assert BLOCKS.node_types == set(NODE_TYPES)


@needs_cc
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=netlists(), seed=st.integers(0, 2**16), word=st.sampled_from([64, 256]),
       lowered=st.booleans())
def test_c_equals_simulator_on_random_netlists(net, seed, word, lowered):
    """Unlowered (encoder, LUT, threshold, OR, group-sum head) and lowered (LogicLayer,
    LoweredHead) forms; 300 samples: several 64-sample words and a partial last one."""
    x = random_inputs(net, 300, seed)
    assert_c_equals_sim(minimize(lower(net)) if lowered else net, x, word)


@needs_cc
def test_encoder_of_constant_bits_compiles():
    """Every feature threshold out of range (2**W: never reached): no input byte is read,
    and the C still compiles under -Werror (found by the random-netlist test in CI)."""
    enc = FeatureEncoder("enc", 1, 1, 8, np.array([[256]], np.int32), np.ones(1), np.zeros(1))
    lut = LutLayer("l0", 1, np.zeros((2, 1), np.int32), np.array([[1, 1], [1, 0]], np.uint8))
    net = Netlist(1, (lut,), encoder=enc, head=GroupSumHead("head", 2, 2))
    assert_c_equals_sim(net, np.arange(0, 256, 5, dtype=np.uint8)[:, None], 64)


@needs_cc
@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("word", [64, 256])
def test_threshold_layers_and_heads_by_branch(word, loop, monkeypatch):
    """Fan-ins that reach every popcount width, thresholds 0..F+1, repeated inputs; as
    straight-line code and as the table-driven loop of big layers."""
    monkeypatch.setattr(emit_module, "THRESHOLD_LOOP_CONNECTIONS", 0 if loop else 10**9)
    rng = np.random.default_rng(1)
    width, layers = 40, []
    for i, fan_in in enumerate((1, 6, 7, 40, 130)):
        n = 30
        inputs = rng.integers(0, width, (n, fan_in)).astype(np.int32)
        weights = rng.choice(np.array([-1, 0, 1], np.int8), (n, fan_in))
        thresholds = rng.integers(0, fan_in + 2, n).astype(np.int32)
        layers.append(ThresholdLayer(f"t{i}", width, inputs, weights, thresholds,
                                     rng.random(n) < 0.5))
        width = n
    net = Netlist(40, tuple(layers), head=GroupSumHead("head", 30, 3))
    x = rng.integers(0, 2, (1000, 40)).astype(np.uint8)
    assert_c_equals_sim(net, x, word)
    assert_c_equals_sim(minimize(lower(net)), x, word)


@needs_cc
@pytest.mark.parametrize("word", [64, 256])
def test_header_bit_order_by_hand(word):
    """What the header documents, on hand-made inputs: pixel c*H*W + p, encoder bit
    (c*T + t)*H*W + p = pixel >= threshold t; LUT address = sum_j input_j << j; scores
    [n][C]; ties to the lowest class; sample b of a block at bit b % 64 of lane b / 64."""
    enc = InputEncoder("enc", 2, 6, np.array([10, 200], np.int16))  # 2 channels of 3 pixels
    net = compile_netlist(Netlist(12, (), encoder=enc), word=word)
    bits = net.output_bits(np.array([[0, 10, 255, 9, 201, 150]], np.uint8))[0]
    # bit (c*2 + t)*3 + p: channel 0 (pixels 0, 10, 255), then channel 1 (9, 201, 150)
    assert bits.astype(int).tolist() == [0, 1, 1, 0, 0, 1,  # c0: >= 10, then >= 200
                                         0, 1, 1, 0, 1, 0]  # c1: >= 10, then >= 200
    # Bytes are bits without an encoder; a LUT reads input j as address bit j.
    lut = LutLayer("l", 3, np.array([[0, 2]], np.int32), np.array([[0, 0, 1, 0]], np.uint8))
    net = compile_netlist(Netlist(3, (lut,)), word=word)
    x = np.array([[0, 0, 0], [1, 0, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1]], np.uint8)
    assert net.output_bits(x)[:, 0].astype(int).tolist() == [0, 0, 1, 0, 1]
    # The head: class c counts bits c*G..c*G+G-1; scores row-major; a tie goes to class 0.
    head_net = compile_netlist(Netlist(4, (), head=GroupSumHead("h", 4, 2)), word=word)
    x = np.array([[1, 1, 0, 1], [0, 1, 1, 1], [1, 0, 0, 0]], np.uint8)
    scores, classes = head_net.scores(x)
    assert scores.tolist() == [[2, 1], [1, 2], [1, 0]]
    assert classes.tolist() == [0, 1, 0]
    # One sample differs: only its row changes, wherever it falls in a word or a lane.
    for b in (0, 63, 64, 130, 255, 256, 261):
        x = np.zeros((262, 4), np.uint8)  # 262: a partial last word for 64 and 256
        x[b] = [0, 0, 1, 1]
        want = np.zeros(262, np.uint8)
        want[b] = 1
        assert_array_equal(head_net.classify(x), want)


@needs_cc
@pytest.mark.parametrize("width", [4, 8])
def test_feature_encoder(width):
    """Thresholds of their own per feature (constants 0 and 2**W too), float inputs mapped to
    fixed point as the simulator maps them; features wider than a byte are refused."""
    rng = np.random.default_rng(4)
    p, t = 6, 3
    thr = np.sort(rng.integers(0, (1 << width) + 1, (p, t)), axis=1).astype(np.int32)
    thr[0] = [0, 1, 1 << width]
    enc = FeatureEncoder("f", 2, p, width, thr, rng.uniform(1, 20, p), rng.uniform(-1, 1, p))
    layer = LutLayer("l", p * t, rng.integers(0, p * t, (8, 3)).astype(np.int32),
                     rng.integers(0, 2, (8, 8)).astype(np.uint8))
    net = Netlist(p * t, (layer,), encoder=enc, head=GroupSumHead("h", 8, 2))
    x = rng.normal(0, 1, (200, p))
    assert_c_equals_sim(net, x, 64)
    assert_c_equals_sim(Netlist(p * t, (), encoder=enc), x, 256)
    wide = FeatureEncoder("f", 2, p, 12, thr, enc.scale, enc.offset)
    with pytest.raises(LutnnError, match="12-bit features"):
        emit_c(Netlist(p * t, (), encoder=wide))



@needs_cc
def test_c_artifact_saves_and_loads_the_files(tmp_path, monkeypatch):
    """CArtifact.load reads back what save wrote (source, header, encoder, the library it
    compiled, used without compiling again); an edited source loads as edited."""
    from lutnn.csrc import build as build_module
    from lutnn.csrc.backend import CArtifact, CBackend

    rng = np.random.default_rng(7)
    p, t = 5, 3
    thr = np.sort(rng.integers(0, 257, (p, t)), axis=1).astype(np.int32)
    enc = FeatureEncoder("f", 1, p, 8, thr, rng.uniform(1, 20, p), rng.uniform(-1, 1, p))
    layer = LutLayer("l", p * t, rng.integers(0, p * t, (8, 3)).astype(np.int32),
                     rng.integers(0, 2, (8, 8)).astype(np.uint8))
    net = Netlist(p * t, (layer,), encoder=enc, head=GroupSumHead("h", 8, 2))
    x = rng.normal(0, 1, (300, p))
    artifact = CBackend(word=64).emit(net)
    saved = artifact.save(tmp_path)
    loaded = CArtifact.load(tmp_path)
    assert loaded.source == artifact.source and loaded.latency == 0
    for key in ("thresholds", "scale", "offset"):
        assert_array_equal(getattr(loaded.encoder, key), getattr(enc, key))
    assert loaded.library is not None and loaded.library.path == saved["library"]
    with monkeypatch.context() as m:
        m.setattr(build_module, "find_compiler", lambda: pytest.fail("compiled again"))
        assert_array_equal(loaded.compiled().classify(x), simulate(net, x).classes)

    c_file = tmp_path / "lutnn.c"
    c_file.write_text(c_file.read_text() + "/* edited */\n")
    edited = CArtifact.load(tmp_path)
    assert edited.source.source.endswith("/* edited */\n") and edited.library is None
    assert edited.source.digest != artifact.source.digest
    CBackend(word=64).emit(dataclasses.replace(net, encoder=None)).save(tmp_path)
    assert CArtifact.load(tmp_path).encoder is None and not (tmp_path / "encoder").exists()
    (tmp_path / "lutnn.h").unlink()
    with pytest.raises(LutnnError, match="lutnn.h is gone"):
        CArtifact.load(tmp_path)

@needs_cc
def test_threads_split_the_batch():
    rng = np.random.default_rng(2)
    layer = LutLayer("l", 20, rng.integers(0, 20, (30, 6)).astype(np.int32),
                     rng.integers(0, 2, (30, 64)).astype(np.uint8))
    net = Netlist(20, (layer,), head=GroupSumHead("h", 30, 3))
    x = rng.integers(0, 2, (1000, 20)).astype(np.uint8)
    compiled = compile_netlist(net, word=64)
    want = simulate(net, x).classes
    for threads in (1, 2, 3, 7):
        assert_array_equal(compiled.classify(x, threads=threads), want)
    assert compiled.classify(x[:0]).shape == (0,)


@needs_cc
def test_source_compiles_with_warnings_as_errors(tmp_path):
    """The flags hold -Wall -Wextra -Werror, so a warning fails the build: the emitted source
    builds clean, and the same source with an unused variable does not."""
    rng = np.random.default_rng(3)
    layer = ThresholdLayer("t", 8, rng.integers(0, 8, (4, 9)).astype(np.int32),
                           np.ones((4, 9), np.int8), np.full(4, 4, np.int32), np.zeros(4, bool))
    src = emit_c(Netlist(8, (layer,)), word=256)
    lib = compile_source(src, tmp_path / "ok")
    assert lib.path.is_file()
    assert {"-Wall", "-Wextra", "-Werror"} <= set(json.loads(
        (tmp_path / "ok" / "build.json").read_text())["flags"])
    bad = dataclasses.replace(src, source=src.source + "static int unused_fn(void) { int u; "
                              "return 0; }\n", digest="x")
    with pytest.raises(LutnnError, match="could not compile"):
        compile_source(bad, tmp_path / "bad")


def test_missing_compiler_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("LUTNN_CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(ToolNotFoundError, match="LUTNN_CC.*--backend numpy"):
        find_compiler()
    monkeypatch.delenv("LUTNN_CC")
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on the PATH
    assert not have_compiler()
    with pytest.raises(ToolNotFoundError, match="no C compiler found"):
        compile_netlist(Netlist(2, (), head=GroupSumHead("h", 2, 2)))


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, mnist_dir) -> Path:
    """A trained MNIST run made here in seconds: a tiny lut-mlp (1,568 input bits, 30 + 30
    LUT4) trained 1 epoch on 2,000 training images, exported; its data file keeps all 10,000
    test images.  Shared by the module: copy it before writing into it."""
    from conftest import TINY_LUT
    from lutnn.data import load_dataset
    from lutnn.pipeline import export_run
    from lutnn.train import TrainConfig, train

    root = tmp_path_factory.mktemp("mnist_run")
    ds = load_dataset(str(mnist_dir), val_size=1)
    np.savez(root / "mnist_small.npz", x_train=ds.x_train[:2000], y_train=ds.y_train[:2000],
             x_test=ds.x_test, y_test=ds.y_test)
    run = root / "run"
    train("lut-mlp", run, model_overrides=TINY_LUT, data=str(root / "mnist_small.npz"),
          train_cfg=TrainConfig(epochs=1, batch_size=100, val_size=200), log=lambda _: None)
    export_run(run)
    return run


@needs_cc
@pytest.mark.slow
@pytest.mark.parametrize("word", [64, 256])
def test_trained_mnist_net_all_test_images(word, mnist_run):
    """A trained MNIST net: classes and scores equal on all 10,000 test images."""
    from lutnn.ir.serialize import load_netlist

    net = load_netlist(mnist_run / "hdl")
    x = np.load(mnist_run.parent / "mnist_small.npz")["x_test"]
    x = x.reshape(len(x), -1)
    assert len(x) == 10000
    assert_c_equals_sim(net, x, word)


@needs_cc
@pytest.mark.slow
def test_cli_compile_and_sim_backends(tmp_path, monkeypatch, capsys, mnist_run):
    """`lutnn compile RUN` writes the library and header; `lutnn sim --backend c` matches
    PyTorch; with no compiler, auto falls back to numpy with a note and c is an error."""
    import shutil

    from lutnn.cli import main

    run = tmp_path / "run"
    shutil.copytree(mnist_run, run)
    assert main(["compile", str(run), "--word", "256", "--out", str(tmp_path / "c")]) == 0
    assert {"lutnn.c", "lutnn.h", "liblutnn.so", "build.json", "compile.json"} <= {
        p.name for p in (tmp_path / "c").iterdir()}
    assert main(["sim", str(run), "--backend", "c", "--threads", "2", "--vectors", "3000"]) == 0
    record = json.loads((run / "sim.json").read_text())
    assert record["backend"] == "c" and record["mismatches"] == 0 and record["threads"] == 2
    monkeypatch.setenv("LUTNN_CC", str(tmp_path / "no-such-cc"))
    capsys.readouterr()
    assert main(["sim", str(run), "--vectors", "500"]) == 0
    assert "note: numpy simulator used" in capsys.readouterr().out
    assert json.loads((run / "sim.json").read_text())["backend"] == "numpy"
    assert main(["sim", str(run), "--backend", "c", "--vectors", "500"]) == 2


FAMILIES = {  # small configs: the node types and shapes of each family, not its accuracy
    "teacher-mlp": {"hidden": [256], "group_size": 20},
    "teacher-cnn": {"channels": [4, 8], "hidden": [64], "group_size": 10},
    "teacher-mobilenet": {"stem_channels": 4, "channels": [8], "hidden": [64], "group_size": 10},
    "lut-mlp": {"layers": [1000, 500]},
    "lut-cnn": {"channels": [4, 8], "layers": [200], "group_size": 10},
}


@needs_cc
@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_model_family_on_mnist_test_images(family):
    """Each model family (XNOR teachers: MLP, CNN, MobileNet; LUT-Nets: MLP, CNN), converted
    untrained (to_ir folds its initial BatchNorm: thresholds near half the fan-in), C == the
    simulator on all 10,000 MNIST test images, classes and scores."""
    import torch

    from lutnn.data import load_dataset
    from lutnn.frontend import to_ir
    from lutnn.models import build_model, make_config

    if not MNIST.is_dir():
        pytest.skip(f"needs MNIST at {MNIST}")
    torch.manual_seed(0)
    model = build_model(family, make_config(family, FAMILIES[family]), (1, 28, 28), 10).eval()
    net = to_ir(model, (1, 28, 28))
    x = load_dataset(str(MNIST), val_size=1).x_test
    assert_c_equals_sim(net, x.reshape(len(x), -1), 256)


@needs_cc
def test_compiled_net_docstring_example():
    enc = InputEncoder("enc", 1, 2, np.array([128], np.int16))
    net = compile_netlist(Netlist(2, (), encoder=enc, head=GroupSumHead("head", 2, 2)))
    assert net.classify(np.array([[0, 200], [200, 0], [0, 0]], np.uint8)).tolist() == [1, 0, 0]


def test_encoder_whose_thresholds_are_all_constant_compiles() -> None:
    """Thresholds 0 and 256 only: the encoder loop reads no pixel (found by Hypothesis)."""
    from lutnn.ir import GroupSumHead, InputEncoder, Netlist

    enc = InputEncoder("enc", 1, 4, np.array([0, 256], np.int16))
    net = Netlist(8, (), encoder=enc, head=GroupSumHead("head", 8, 2))
    x = np.random.default_rng(0).integers(0, 256, (70, 4), dtype=np.uint8)
    for word in (64, 256):
        assert_c_equals_sim(net, x, word)
