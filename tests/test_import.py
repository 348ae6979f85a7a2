"""``lutnn import``: real Brevitas and plain PyTorch networks, built and trained briefly here,
their own QONNX exports, all imported and checked against the original bit for bit; the
imported runs distilled, exported and simulated; every refusal of issue 24 item 3.

The networks live in a module written to a temporary folder (``lutnn_test_nets``), imported
by ``lutnn import`` as ``lutnn_test_nets:FACTORY`` like a user's own module.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from lutnn.cli import main
from lutnn.errors import LutnnError
from lutnn.interop import import_network, input_mapping
from lutnn.interop.convert import batchnorm_of_step, rank_cuts
from lutnn.train import load_run

NETS = '''
import torch
from torch import nn


def _brevitas():
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
    from brevitas.quant import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst

    class UnitWeights(SignedBinaryWeightPerTensorConst):
        scaling_const = 1.0  # +-1 weights: every sum exact in float32

    return QuantConv2d, QuantIdentity, QuantLinear, SignedBinaryActPerTensorConst, UnitWeights


def act(bits=1):
    _, QuantIdentity, _, Act, _ = _brevitas()
    return QuantIdentity(act_quant=Act) if bits == 1 else QuantIdentity(bit_width=bits)


def dense(n_in, n_out, **kw):
    _, _, QuantLinear, _, Unit = _brevitas()
    kw.setdefault("weight_quant", Unit)
    return QuantLinear(n_in, n_out, bias=False, **kw)


def conv(c_in, c_out, k, padding=0):
    QuantConv2d, _, _, _, Unit = _brevitas()
    return QuantConv2d(c_in, c_out, k, padding=padding, bias=False, weight_quant=Unit)


def lfc(classes=3, pixels=64, hidden=32, head_bn=False, act_bits=1, weight_bits=1, scale=None):
    """FINN's LFC in small: sign(input), then [1-bit dense + BN + sign] x 2, a 1-bit dense."""
    from brevitas.quant import Int8WeightPerTensorFloat, SignedBinaryWeightPerTensorConst

    w = {} if weight_bits == 1 else {"weight_quant": Int8WeightPerTensorFloat,
                                     "weight_bit_width": weight_bits}
    if scale is not None:
        w = {"weight_quant": SignedBinaryWeightPerTensorConst}  # its own scale, 0.1
    layers = [act(), nn.Flatten(), dense(pixels, hidden, **w), nn.BatchNorm1d(hidden),
              act(act_bits), dense(hidden, hidden, **w), nn.BatchNorm1d(hidden), act(),
              dense(hidden, classes, **w)]
    return nn.Sequential(*layers, *([nn.BatchNorm1d(classes)] if head_bn else []))


def lfc_bn_head():
    return lfc(head_bn=True)


def lfc_2bit_act():
    return lfc(act_bits=2)


def lfc_4bit_weights():
    return lfc(weight_bits=4)


def lfc_scaled():
    return lfc(scale=0.1)


def cnv(classes=3, pool=None):
    """FINN's CNV in small: [1-bit conv + BN + sign] -> max pool -> conv -> dense -> dense."""
    pool = pool or nn.MaxPool2d(2)
    return nn.Sequential(act(), conv(1, 8, 3), nn.BatchNorm2d(8), act(), pool,
                         conv(8, 8, 2), nn.BatchNorm2d(8), act(), nn.Flatten(),
                         dense(32, 16), nn.BatchNorm1d(16), act(), dense(16, classes))


def cnv_relu(classes=3):
    """1-bit QuantReLU ({0, s}: zero padding is bit 0, so the padded conv is exact) and a
    1-bit QuantHardTanh."""
    from brevitas.nn import QuantHardTanh, QuantReLU

    _, _, _, Act, _ = _brevitas()
    return nn.Sequential(act(), conv(1, 8, 3), nn.BatchNorm2d(8), QuantReLU(bit_width=1),
                         nn.MaxPool2d(2), conv(8, 8, 3, padding=1), nn.BatchNorm2d(8),
                         QuantReLU(bit_width=1), nn.Flatten(), dense(72, 16),
                         nn.BatchNorm1d(16), QuantHardTanh(act_quant=Act), dense(16, classes))


def cnv_pool_first():
    """A max pool of the real sums, before the activation."""
    return nn.Sequential(act(), conv(1, 8, 3), nn.BatchNorm2d(8), nn.MaxPool2d(2), act(),
                         nn.Flatten(), dense(72, 3))


class LogSoftmaxed(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = lfc()

    def forward(self, x):
        return torch.nn.functional.log_softmax(self.net(x), dim=1)


def lfc_log_softmax():
    return LogSoftmaxed()


def cnv_avg_pool():
    return cnv(pool=nn.AvgPool2d(2))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp, self.flat = act(), nn.Flatten()
        self.fc1, self.bn1, self.a1 = dense(64, 16), nn.BatchNorm1d(16), act()
        self.fc2, self.bn2, self.a2 = dense(16, 16), nn.BatchNorm1d(16), act()
        self.head = dense(16, 3)

    def forward(self, x):
        h = self.a1(self.bn1(self.fc1(self.flat(self.inp(x)))))
        return self.head(self.a2(self.bn2(self.fc2(h))) + h)


def residual():
    return Residual()


def raises():
    raise ValueError("no such size")


class Sign(nn.Module):
    """A plain PyTorch sign: +1 where x >= 0, else -1."""

    def forward(self, x):
        return torch.where(x >= 0, 1.0, -1.0)


class Step(nn.Module):
    """A {0, 1} activation: 1 where x >= 0."""

    def forward(self, x):
        return (x >= 0).float()


def _binarize(model, seed):
    """+-alpha weights (alpha per output), random BN statistics: a plain binarized net."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                alpha = torch.rand(m.weight.shape[0], generator=g) + 0.5
                sign = torch.where(torch.rand(m.weight.shape, generator=g) < 0.5, -1.0, 1.0)
                m.weight.copy_(sign * alpha.view(-1, *[1] * (m.weight.dim() - 1)))
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.randn(m.num_features, generator=g))
                m.bias.copy_(torch.randn(m.num_features, generator=g))
    return model.eval()


def plain_mlp():
    """Plain PyTorch: sign of (x - 0.5), Linear (+ bias) + BN + sign, Linear head."""
    torch.manual_seed(0)
    return _binarize(nn.Sequential(nn.Flatten(), Shift(), Sign(), nn.Linear(64, 24),
                                   nn.BatchNorm1d(24), Sign(), nn.Linear(24, 3)), 1)


class Shift(nn.Module):
    def forward(self, x):
        return x - 0.5


def plain_cnn():
    """Plain PyTorch, {0, 1} activations: a padded conv (zero padding = bit 0), max pool."""
    torch.manual_seed(0)
    return _binarize(nn.Sequential(Shift(), Step(), nn.Conv2d(1, 6, 3, padding=1),
                                   nn.BatchNorm2d(6), Step(), nn.MaxPool2d(2), nn.Flatten(),
                                   nn.Linear(96, 3)), 2)


def plain_cnn_bipolar_padding():
    """A padded conv on +-1 values: zero padding is neither value."""
    torch.manual_seed(0)
    return _binarize(nn.Sequential(Shift(), Sign(), nn.Conv2d(1, 6, 3, padding=1),
                                   nn.BatchNorm2d(6), Sign(), nn.Flatten(),
                                   nn.Linear(384, 3)), 3)
'''

MODULE = "lutnn_test_nets"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """The module of test networks, importable as ``lutnn_test_nets``."""
    folder = tmp_path_factory.mktemp("nets")
    (folder / f"{MODULE}.py").write_text(textwrap.dedent(NETS))
    sys.path.insert(0, str(folder))
    import importlib

    module = importlib.import_module(MODULE)
    yield module
    sys.path.remove(str(folder))
    sys.modules.pop(MODULE, None)


def _tiny_xy(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    data = np.load(path)
    return torch.from_numpy(data["x_train"]).float()[:, None], torch.from_numpy(data["y_train"])


def train_briefly(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, low: float,
                  steps: int = 30, seed: int = 0) -> torch.nn.Module:
    """A few Adam steps on images fed as ``low .. 1`` (pixels / 255 scaled)."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    inputs = low + x / 255 * (1 - low)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (64,))
        loss = torch.nn.functional.cross_entropy(model(inputs[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained(nets, tiny_npz, tmp_path_factory):
    """Brevitas LFC, CNV and variants, trained 30 steps on ``tiny_npz`` (fed -1..1, FINN's
    convention): their weights, and the LFC's and CNV's own QONNX exports."""
    pytest.importorskip("brevitas", reason="the interop extra: pip install lutnn[interop]")
    pytest.importorskip("qonnx", reason="the interop extra: pip install lutnn[interop]")
    from brevitas.export import export_qonnx

    folder = tmp_path_factory.mktemp("trained")
    x, y = _tiny_xy(tiny_npz)
    files = {}
    for name in ("lfc", "cnv", "cnv_relu", "lfc_bn_head", "lfc_scaled"):
        model = train_briefly(getattr(nets, name)(), x, y, low=-1.0)
        torch.save(model.state_dict(), folder / f"{name}.pt")
        if name in ("lfc", "cnv"):  # the QONNX tests' (an export takes seconds)
            export_qonnx(model, torch.zeros(1, 1, 8, 8),
                         export_path=str(folder / f"{name}.onnx"))
        files[name] = folder / name
    return files


def _classes(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).argmax(1).numpy()


def _check_run(out: Path, original, pixels: np.ndarray, low: float = -1.0) -> dict:
    """The run loads; its teacher's classes equal the original's on ``pixels``; returns
    import.json."""
    record = json.loads((out / "import.json").read_text())
    for check in record["agreement"].values():
        assert check["class_mismatches"] == 0 and check["float_ties"] == 0
        assert all(v == 0 for v in check["bit_mismatches"].values())
        assert all(v > 0 for v in check["bits_compared"].values())
    teacher, run = load_run(out)
    assert run["model"] == "teacher-imported"
    ours = _classes(teacher, pixels.astype(np.float32))
    np.testing.assert_array_equal(ours, original(input_mapping(low, 1.0)(pixels)))
    return record


def _pixels(tiny_npz: Path, n_random: int = 300) -> np.ndarray:
    """The tiny set's test images and random images, uint8 [n, 1, 8, 8]."""
    test = np.load(tiny_npz)["x_test"][:, None]
    noise = np.random.default_rng(7).integers(0, 256, (n_random, 1, 8, 8), dtype=np.uint8)
    return np.concatenate([test, noise])


@pytest.mark.parametrize("name", ["lfc", "cnv", "cnv_relu"])
def test_brevitas_module_imports_bit_exact(name, nets, trained, tiny_npz, tmp_path):
    out = tmp_path / "run"
    record = import_network(f"{MODULE}:{name}", str(tiny_npz), out,
                            weights=str(trained[name]) + ".pt", input_range=(-1.0, 1.0),
                            log=lambda _: None)
    assert record["format"] == "brevitas" and record["head"]["kind"] == "xnor"
    model = getattr(nets, name)()
    model.load_state_dict(torch.load(str(trained[name]) + ".pt", weights_only=True))
    model.eval()

    def original(x):
        return _classes(model, x)

    _check_run(out, original, _pixels(tiny_npz))
    expected = {"lfc": ["flatten", "dense out=32", "dense out=32", "dense out=96 sparse=1"],
                "cnv": ["conv out=8 kernel=3x3 stride=1x1 padding=0x0 groups=1",
                        "pool kernel=2x2 stride=2x2",
                        "conv out=8 kernel=2x2 stride=1x1 padding=0x0 groups=1", "flatten",
                        "dense out=16", "dense out=48 sparse=1"],
                "cnv_relu": ["conv out=8 kernel=3x3 stride=1x1 padding=0x0 groups=1",
                             "pool kernel=2x2 stride=2x2",
                             "conv out=8 kernel=3x3 stride=1x1 padding=1x1 groups=1", "flatten",
                             "dense out=16", "dense out=48 sparse=1"]}
    assert record["layers"] == expected[name]


@pytest.mark.parametrize("name", ["lfc", "cnv"])
def test_their_qonnx_export_imports_bit_exact(name, trained, tiny_npz, tmp_path):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    out = tmp_path / "run"
    onnx_file = str(trained[name]) + ".onnx"
    record = import_network(onnx_file, str(tiny_npz), out, input_range=(-1.0, 1.0),
                            log=lambda _: None)
    assert record["format"] == "qonnx"
    model = ModelWrapper(onnx_file)
    name_in, name_out = model.graph.input[0].name, model.graph.output[0].name

    def original(x):  # qonnx's executor, one sample at a time (the file's batch is 1)
        return np.array([execute_onnx(model, {name_in: x[i:i + 1]})[name_out].argmax()
                         for i in range(len(x))])

    _check_run(out, original, _pixels(tiny_npz, n_random=60))


def test_a_bn_on_the_scores_gives_a_ranked_head(nets, trained, tiny_npz, tmp_path):
    """Per-class BN on the scores: no popcount of agreements orders them, the ranked head
    (thresholds at the cut values) does, exactly."""
    out = tmp_path / "run"
    record = import_network(f"{MODULE}:lfc_bn_head", str(tiny_npz), out,
                            weights=str(trained["lfc_bn_head"]) + ".pt",
                            input_range=(-1.0, 1.0), log=lambda _: None)
    assert record["head"]["kind"] == "ranked"
    model = nets.lfc_bn_head()
    model.load_state_dict(torch.load(str(trained["lfc_bn_head"]) + ".pt", weights_only=True))
    model.eval()
    _check_run(out, lambda x: _classes(model, x), _pixels(tiny_npz))


def test_float_ties_of_a_scaled_original_are_reported_not_hidden(trained, tiny_npz, tmp_path):
    """Weights of scale 0.1 sum with float32 rounding: equal XNOR sums can come out 1.0 and
    1.0000001.  Where the classes differ only by such a tie (lutnn's exact scores are equal),
    import.json counts a float tie; the bits still agree everywhere."""
    out = tmp_path / "run"
    record = import_network(f"{MODULE}:lfc_scaled", str(tiny_npz), out,
                            weights=str(trained["lfc_scaled"]) + ".pt",
                            input_range=(-1.0, 1.0), random_samples=2000, log=lambda _: None)
    agreement = record["agreement"]
    assert all(a["class_mismatches"] == 0 for a in agreement.values())
    assert all(v == 0 for a in agreement.values() for v in a["bit_mismatches"].values())
    assert agreement["random"]["float_ties"] > 0  # 2000 random images meet some


@pytest.mark.parametrize("name", ["plain_mlp", "plain_cnn"])
def test_plain_pytorch_module_imports_bit_exact(name, nets, tiny_npz, tmp_path):
    out = tmp_path / "run"
    record = import_network(f"{MODULE}:{name}", str(tiny_npz), out, log=lambda _: None)
    assert record["format"] == "torch"
    model = getattr(nets, name)()
    _check_run(out, lambda x: _classes(model, x), _pixels(tiny_npz), low=0.0)
    assert record["encoder_threshold"] == 128  # x - 0.5 >= 0 with x = p / 255: p >= 128
    if name == "plain_cnn":  # a {0, 1} activation: the padded conv is exact
        assert record["layers"][0] == "conv out=6 kernel=3x3 stride=1x1 padding=1x1 groups=1"


def test_the_imported_run_distills_exports_and_simulates(trained, tiny_npz, tmp_path, capsys):
    """The imported CNV teacher is a run like a trained one: the XNOR teacher exports and
    simulates (IR == PyTorch), and distills into a LUT student that does too."""
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    assert main(["import", str(trained["cnv"]) + ".onnx", "--data", str(tiny_npz), "--out",
                 str(teacher), "--input-range=-1,1"]) == 0
    assert "every activation bit agree" in capsys.readouterr().out
    assert main(["distill", "--teacher", str(teacher), "--out", str(student),
                 "--finetune-epochs", "0", "--samples", "200"]) == 0
    for run in (teacher, student):
        assert main(["export", str(run)]) == 0
        assert main(["sim", str(run)]) == 0
        sim = json.loads((run / "sim.json").read_text())
        assert sim["mismatches"] == 0 and sim["vectors"] == 100
    metrics = json.loads((student / "metrics.json").read_text())
    assert metrics["teacher_model"] == "teacher-imported" and metrics["luts"] > 0


def _multithreshold_qonnx(path: Path, levels: int) -> str:
    """A QONNX file by hand, FINN's streamlined form: MultiThreshold activations (the hidden
    one with ``levels`` thresholds per channel; 1 = 1 bit, scaled to +-1), MatMul layers of
    +-1 weights."""
    from onnx import TensorProto, helper, numpy_helper
    from qonnx.util.basic import qonnx_make_model

    rng = np.random.default_rng(3)
    domain = "qonnx.custom_op.general"

    def threshold(name, x, t, out, n=1):
        return helper.make_node("MultiThreshold", [x, t], [out], domain=domain, name=name,
                                out_dtype="BIPOLAR" if n == 1 else "INT2",
                                out_scale=2.0 if n == 1 else 1.0,
                                out_bias=-1.0 if n == 1 else 0.0)

    inits = {"t0": np.zeros((1, 1), np.float32),
             "w1": rng.choice([-1.0, 1.0], (64, 16)).astype(np.float32),
             "t1": np.sort(rng.integers(-6, 7, (16, levels)), axis=1).astype(np.float32),
             "w2": rng.choice([-1.0, 1.0], (16, 3)).astype(np.float32),
             "shape": np.array([1, 64], np.int64)}
    nodes = [threshold("in_quant", "x", "t0", "q"),
             helper.make_node("Reshape", ["q", "shape"], ["flat"], name="flatten"),
             helper.make_node("MatMul", ["flat", "w1"], ["h"], name="fc1"),
             threshold("act1", "h", "t1", "a1", levels),
             helper.make_node("MatMul", ["a1", "w2"], ["scores"], name="fc2")]
    graph = helper.make_graph(
        nodes, "multithreshold",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = qonnx_make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                   helper.make_opsetid(domain, 1)])
    path.write_bytes(model.SerializeToString())
    return str(path)


def test_finn_style_multithreshold_qonnx_imports_bit_exact(tiny_npz, tmp_path):
    """MultiThreshold activations and MatMul layers (FINN's streamlined form), built by hand,
    executed by qonnx: imported, and its classes equal qonnx's on test and random images."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    onnx_file = _multithreshold_qonnx(tmp_path / "mt.onnx", levels=1)
    out = tmp_path / "run"
    record = import_network(onnx_file, str(tiny_npz), out, input_range=(-1.0, 1.0),
                            log=lambda _: None)
    assert record["layers"] == ["flatten", "dense out=16", "dense out=48 sparse=1"]
    model = ModelWrapper(onnx_file).transform(InferShapes())

    def original(x):
        return np.array([execute_onnx(model, {"x": x[i:i + 1]})["scores"].argmax()
                         for i in range(len(x))])

    _check_run(out, original, _pixels(tiny_npz, n_random=60))
    with pytest.raises(LutnnError, match=r"layer 'act1' \(MultiThreshold\): a 2-bit activation"):
        import_network(_multithreshold_qonnx(tmp_path / "mt2.onnx", levels=3), str(tiny_npz),
                       tmp_path / "run2", input_range=(-1.0, 1.0), log=lambda _: None)


def _export_qonnx(model: torch.nn.Module, path: Path) -> str:
    from brevitas.export import export_qonnx

    export_qonnx(model.eval(), torch.zeros(1, 1, 8, 8), export_path=str(path))
    return str(path)


REFUSALS = {  # factory -> what the one line says (the layer, why)
    "lfc_2bit_act": "layer '4' (QuantIdentity): a 2-bit activation",
    "lfc_4bit_weights": "layer '2' (QuantLinear): its weight quantizer has 4 bits",
    "cnv_avg_pool": "layer '4' (AvgPool2d): an average pool",
    "residual": "layer 'add' (add): a residual add",
    "plain_cnn_bipolar_padding": "layer '2' (Conv2d): pads with 0, which is neither of its "
                                 "input values -1 and 1",
    "cnv_pool_first": "layer '2' (BatchNorm2d): its output takes",
    "lfc_log_softmax": "layer 'log_softmax' (log_softmax): a softmax couples the classes",
}
QONNX_REFUSALS = {  # the same networks through their QONNX export
    "lfc_2bit_act": "(Quant): a 2-bit activation",
    "lfc_4bit_weights": "(Gemm): its weight quantizer",
    "cnv_avg_pool": "(AveragePool): an average pool",
    "residual": "(Add): a residual add",
}


def _refused(source: str, data: Path, out: Path, **kw) -> str:
    with pytest.raises(LutnnError) as info:
        import_network(source, str(data), out, log=lambda _: None, **kw)
    message = str(info.value)
    assert "\n" not in message
    assert not out.exists() and not list(out.parent.glob(f".{out.name}.import-*"))
    return message


@pytest.mark.parametrize("factory", sorted(REFUSALS))
def test_what_cannot_map_is_refused_naming_the_layer(factory, nets, tiny_npz, tmp_path):
    pytest.importorskip("brevitas", reason="the interop extra: pip install lutnn[interop]")
    message = _refused(f"{MODULE}:{factory}", tiny_npz, tmp_path / "run",
                       input_range=(-1.0, 1.0))
    assert REFUSALS[factory] in message


@pytest.mark.parametrize("factory", sorted(QONNX_REFUSALS))
def test_what_cannot_map_in_qonnx_is_refused_naming_the_node(factory, nets, tiny_npz,
                                                             tmp_path):
    pytest.importorskip("qonnx", reason="the interop extra: pip install lutnn[interop]")
    onnx_file = _export_qonnx(getattr(nets, factory)(), tmp_path / "model.onnx")
    message = _refused(onnx_file, tiny_npz, tmp_path / "run", input_range=(-1.0, 1.0))
    assert QONNX_REFUSALS[factory] in message


@pytest.mark.parametrize("source, weights, says", [
    ("no_such_module:lfc", None, "factory module 'no_such_module' not found"),
    (f"{MODULE}:no_such_factory", None, f"module '{MODULE}' has no factory 'no_such_factory'"),
    (f"{MODULE}:raises", None, f"the factory {MODULE}:raises raised ValueError: no such size"),
    (f"{MODULE}:lfc", "cnv", "do not fit the module of"),
    (f"{MODULE}:lfc", "junk", "is not a PyTorch state-dict file"),
    ("junk.onnx", None, "is not an ONNX file"),
    ("not/a/file.onnx", None, "is neither a QONNX file nor a module factory"),
])
def test_a_source_that_does_not_load_is_refused(source, weights, says, nets, trained,
                                                tiny_npz, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "junk.onnx").write_text("this is not a protobuf\n")
    (tmp_path / "junk").write_bytes(b"\x00\x01 not a zip")
    if weights == "cnv":
        weights = str(trained["cnv"]) + ".pt"
    assert says in _refused(source, tiny_npz, tmp_path / "run", weights=weights)


def test_a_missing_extra_is_one_line_naming_it(nets, trained, tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "qonnx", None)  # `import qonnx` now fails
    message = _refused(str(trained["lfc"]) + ".onnx", tiny_npz, tmp_path / "run")
    assert "pip install lutnn[interop]" in message and "qonnx" in message


def test_an_input_range_that_makes_the_input_quantizer_constant(nets, trained, tiny_npz,
                                                                tmp_path):
    """Fed 0..1, a sign at 0 gives +1 for every pixel: refused, naming the quantizer."""
    message = _refused(f"{MODULE}:lfc", tiny_npz, tmp_path / "run",
                       weights=str(trained["lfc"]) + ".pt", input_range=(0.0, 1.0))
    assert "layer '0' (QuantIdentity): the input quantizer gives 1 value(s)" in message


def test_cli_refusal_is_exit_2_and_one_line(tiny_npz, tmp_path, capsys):
    code = main(["import", "nope:lfc", "--data", str(tiny_npz), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("lutnn import: error:")
    with pytest.raises(SystemExit) as exit_:
        main(["import", "x:y", "--data", "d", "--out", "o", "--input-range", "1,1"])
    assert exit_.value.code == 2
    assert "two different finite numbers" in capsys.readouterr().err


def test_a_table_is_refused(tmp_path):
    """lutnn import checks on images: a table's floats have no pixel range to map."""
    table = tmp_path / "t.csv"
    table.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    with pytest.raises(LutnnError, match="checks on images"):
        import_network("x:y", str(table), tmp_path / "run", log=lambda _: None)


def test_an_out_folder_with_files_is_refused(tiny_npz, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.pt").write_bytes(b"")
    with pytest.raises(LutnnError, match="not an empty folder"):
        import_network("x:y", str(tiny_npz), tmp_path / "run", log=lambda _: None)


def test_batchnorm_of_step_is_the_step_through_lutnns_own_fold():
    """Every (t, invert, fan-in) through BinaryLinear's BatchNorm and the IR fold: the same
    step (the oracle: (count >= t) XOR invert)."""
    from lutnn.frontend.fold import fold_batchnorm_sign

    cases = [(t, inv, f) for f in range(0, 7) for t in range(0, f + 1) for inv in (False, True)]
    t, inv, fan = (np.array(v) for v in zip(*cases, strict=True))
    mean, gamma, beta = batchnorm_of_step(t, inv, fan)
    got_t, got_inv = fold_batchnorm_sign(fan, np.zeros(len(fan)), mean, np.ones(len(fan)),
                                         gamma, beta, 1e-5)
    count = np.arange(7)[None, :]
    want = (count >= t[:, None]) ^ inv[:, None]
    have = (count >= got_t[:, None]) ^ got_inv[:, None]
    valid = count <= fan[:, None]
    np.testing.assert_array_equal(have[valid], want[valid])


def test_rank_cuts_order_random_affine_class_scores_exactly():
    """The ranked head's popcounts pick the class float argmax picks (lowest on ties), for
    random per-class affine scores of random sums, ties included."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        classes, fan = rng.integers(2, 6), rng.integers(1, 9)
        slope = rng.choice([-2.0, -0.5, 0.5, 1.0, 3.0], classes).astype(np.float32)
        offset = rng.integers(-4, 5, classes).astype(np.float32) / 2
        sums = np.arange(-fan, fan + 1, 2, dtype=np.float32)  # (F + 1,)
        scores = (slope[None, :] * sums[:, None] + offset[None, :]).astype(np.float32)
        cuts = rank_cuts([scores[:, c] for c in range(classes)])
        pick = rng.integers(0, fan + 1, (200, classes))  # each class's sum index
        value = scores[pick, np.arange(classes)]  # (200, C)
        rank = (value[:, :, None] >= cuts[None, None, :]).sum(-1)
        np.testing.assert_array_equal(rank.argmax(1), value.argmax(1))


@pytest.mark.slow
def test_mnist_lfc_from_module_and_qonnx_agree_on_real_digits(nets, mnist_dir, tmp_path):
    """A 784-64-64-10 Brevitas LFC trained 60 steps on MNIST, imported from its module and
    from its QONNX export: both agree with it on 1,000 real test digits and random images."""
    pytest.importorskip("qonnx", reason="the interop extra: pip install lutnn[interop]")
    from lutnn.data import load_mnist

    x_train, y_train, x_test, y_test = load_mnist(mnist_dir, fetch=False)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    data = tmp_path / "mnist-part.npz"
    np.savez(data, x_train=arrays["x_train"][:3000], y_train=arrays["y_train"][:3000],
             x_test=arrays["x_test"][:1000], y_test=arrays["y_test"][:1000])
    model = nets.lfc(classes=10, pixels=784, hidden=64)
    x = torch.from_numpy(arrays["x_train"][:3000]).float()[:, None]
    train_briefly(model, x, torch.from_numpy(arrays["y_train"][:3000]).long(), low=-1.0,
                  steps=60)
    weights = tmp_path / "lfc.pt"
    torch.save(model.state_dict(), weights)
    from brevitas.export import export_qonnx

    export_qonnx(model, torch.zeros(1, 1, 28, 28), export_path=str(tmp_path / "lfc.onnx"))
    factory = tmp_path / "mnist_lfc.py"
    factory.write_text(f"from {MODULE} import lfc\n\ndef build():\n"
                       "    return lfc(classes=10, pixels=784, hidden=64)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        for source, kw in (("mnist_lfc:build", {"weights": str(weights)}),
                           (str(tmp_path / "lfc.onnx"), {})):
            out = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}"
            record = import_network(source, str(data), out, input_range=(-1.0, 1.0),
                                    log=lambda _: None, **kw)
            test = record["agreement"]["test"]
            assert test["samples"] == 1000 and test["class_mismatches"] == 0
            assert sum(test["bits_compared"].values()) == 1000 * (784 + 64 + 64)
            pixels = np.concatenate([arrays["x_test"][:1000, None], np.random.default_rng(
                1).integers(0, 256, (200, 1, 28, 28), dtype=np.uint8)])
            if "weights" in kw:
                _check_run(out, lambda v: _classes(model, v), pixels)
            metrics = json.loads((out / "metrics.json").read_text())
            assert metrics["test_accuracy"] > 0.5
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mnist_lfc", None)
