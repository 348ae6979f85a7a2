"""Tabular data (issue 16): tables, the per-feature fixed-point encoder, models and fetchers.

The PyTorch encoder, the IR simulators and the RTL must compare the same integers: the
Hypothesis properties put inputs exactly on, and one float step either side of, each
threshold's boundary in fixed point.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lutnn.data import DistributiveThermometer, UniformThermometer, fit_encoders, load_dataset
from lutnn.data.encodings import snap_thresholds
from lutnn.data.fetch_tables import UNSW_FILES, fetch_table
from lutnn.data.tables import read_csv_table
from lutnn.errors import LutnnError, ToolNotFoundError
from lutnn.frontend import to_ir
from lutnn.ir import FeatureEncoder, GroupSumHead, Netlist, load_netlist, save_netlist
from lutnn.models import build_model, config_to_dict, make_config
from lutnn.presets import PRESETS
from lutnn.sim import simulate
from lutnn.sim.packed import encode_features_packed, unpack_bits
from lutnn.sim.reference import encode_features_reference, simulate_reference
from lutnn.train import load_run, predict, train

# -- fixed-point encoding at the threshold boundaries ------------------------------------------


@st.composite
def boundary_case(draw):
    """A fitted-looking encoder and inputs on / next to the float boundary of each threshold."""
    width = draw(st.integers(1, 16))
    f = draw(st.integers(1, 4))
    levels = draw(st.integers(1, min(5, (1 << width) - 1)))  # the encoders' limit: 2^W - 1
    top = 1 << width
    scale = np.array([draw(st.floats(1e-3, 1e4)) for _ in range(f)], np.float64)
    offset = np.array([draw(st.floats(-1e3, 1e3)) for _ in range(f)], np.float64)
    thr = np.sort(np.array([[draw(st.integers(0, top)) for _ in range(levels)]
                            for _ in range(f)], np.int32), axis=1)
    rows = []
    for t in range(levels):
        base = offset + (thr[:, t] - 0.5) / scale  # where (x - offset)*scale + 1/2 == thr
        for step in (-2, -1, 0, 1, 2):
            v = base.copy()
            for _ in range(abs(step)):
                v = np.nextafter(v, np.inf if step > 0 else -np.inf)
            rows.append(v)
    x = np.stack(rows).astype(np.float32).astype(np.float64)  # floats the data could hold
    return width, thr, scale, offset, x


def _oracle_fixed(x, offset, scale, width):
    """The definition with Python floats (IEEE double, one operation at a time)."""
    return [[min(max(math.floor((float(v) - float(o)) * float(s) + 0.5), 0), (1 << width) - 1)
             for v, o, s in zip(row, offset, scale, strict=True)] for row in x]


@settings(max_examples=80, deadline=None)
@given(boundary_case())
def test_fixed_point_encoding_is_exact_at_threshold_boundaries(case):
    width, thr, scale, offset, x = case
    f, levels = thr.shape
    enc = FeatureEncoder("e", f, f, width, thr, scale, offset)
    enc.validate()
    fixed = enc.to_fixed(x)
    np.testing.assert_array_equal(fixed, _oracle_fixed(x, offset, scale, width))
    want = (fixed[:, :, None] >= thr[None]).reshape(len(x), -1)  # bit f*T + t
    np.testing.assert_array_equal(encode_features_reference(enc, fixed), want)
    np.testing.assert_array_equal(unpack_bits(encode_features_packed(enc, fixed), len(x)), want)
    module = UniformThermometer((f,), levels, width=width)  # same buffers as the IR node
    module.thresholds.copy_(torch.from_numpy(thr))
    module.scale.copy_(torch.from_numpy(scale))
    module.offset.copy_(torch.from_numpy(offset))
    bits = module(torch.from_numpy(x.astype(np.float32))).numpy().astype(bool)
    np.testing.assert_array_equal(bits, want)
    node = to_ir(torch.nn.Sequential(module), (f,)).encoder
    np.testing.assert_array_equal(node.thresholds, thr)
    np.testing.assert_array_equal(node.scale, scale)


def test_fixed_point_mapping_clips_and_refuses_nan():
    enc = FeatureEncoder("e", 1, 1, 3, np.array([[1, 8]], np.int32), np.array([2.0]),
                         np.array([1.0]))
    assert enc.to_fixed(np.array([[-5.0], [1.24], [1.25], [100.0]])).ravel().tolist() == [
        0, 0, 1, 7]
    with pytest.raises(ValueError, match="NaN or infinite"):
        enc.to_fixed(np.array([[np.nan]]))
    with pytest.raises(ValueError, match=r"integer inputs must lie in 0..7"):
        enc.to_fixed(np.array([[8]]))
    bad = FeatureEncoder("e", 1, 1, 3, np.array([[5, 2]], np.int32), np.array([1.0]),
                         np.array([0.0]))
    with pytest.raises(ValueError, match="non-decreasing"):
        bad.validate()


def test_distributive_thresholds_sit_at_training_quantiles_on_images_and_tables():
    x = np.arange(100, dtype=np.float32)[:, None].repeat(2, axis=1)
    x[:, 1] = 0  # a constant feature: scale 1, every value maps to 0
    enc = DistributiveThermometer((2,), levels=3, width=8).fit(x)
    assert enc.offset.tolist() == [0.0, 0.0] and enc.scale[1].item() == 1.0
    q = np.floor(x[:, 0].astype(np.float64) * (255 / 99) + 0.5)
    assert enc.thresholds[0].tolist() == [q[25] + 1, q[50] + 1, q[75] + 1]
    assert enc.thresholds[1].tolist() == [1, 1, 1]  # x > 0: never, a constant bit
    images = np.random.default_rng(0).integers(0, 256, (50, 1, 3, 3), dtype=np.uint8)
    img = DistributiveThermometer((1, 3, 3), levels=2).fit(images)
    assert img.width == 8 and img.scale.tolist() == [1.0] * 9 and img.offset.tolist() == [0.0] * 9
    with pytest.raises(ValueError, match="images are 8-bit"):
        DistributiveThermometer((1, 3, 3), levels=2, width=12)


def test_feature_encoder_netlist_saves_loads_and_simulates(tmp_path):
    enc = FeatureEncoder("enc", 2, 2, 5, np.array([[0, 3], [7, 32]], np.int32),
                         np.array([1.5, 2.0]), np.array([0.25, -1.0]))
    net = Netlist(4, (), encoder=enc, head=GroupSumHead("head", 4, 2))
    save_netlist(net, tmp_path)
    back = load_netlist(tmp_path)
    assert isinstance(back.encoder, FeatureEncoder) and back.encoder.width == 5
    np.testing.assert_array_equal(back.encoder.scale, enc.scale)
    x = np.random.default_rng(1).normal(size=(70, 2)) * 10
    np.testing.assert_array_equal(simulate(back, x).layer_bits[0],
                                  simulate_reference(net, x).layer_bits[0])


# -- tables: parsing and its errors --------------------------------------------------------------


def _write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("a,b,y\n1,,0\n2,3,1\n", r"missing value in column 'b' at line 2"),
    ("a,b,y\n1,NA,0\n2,3,1\n", r"missing value in column 'b' at line 2 \('NA'\)"),
    ("a,b,y\n1,tcp,0\n2,3,1\n", r"column 'b' is not numeric \(line 2: 'tcp'\)"),
    ("a,b,y\n1,nan,0\n2,3,1\n", r"column 'b' holds NaN or infinite values \(line 2"),
    ("a,b,y\n1,inf,0\n2,3,1\n", r"NaN or infinite"),
    ("a,b,y\n1,2\n2,3,1\n", r"line 2 has 2 fields, the header 3"),
    ("a,b,y\n1,2,\n2,3,1\n", r"the label at line 2 is missing"),
    ("a,a,y\n1,2,0\n", r"names column 'a' twice"),
    ("abc\n1\n", r"a table needs features and a label"),
])
def test_csv_errors_say_what_is_wrong(tmp_path, text, message):
    with pytest.raises(LutnnError, match=message):
        read_csv_table(_write(tmp_path, text))


def test_csv_label_column_must_exist(tmp_path):
    path = _write(tmp_path, "a,b,y\n1,2,0\n2,3,1\n")
    with pytest.raises(LutnnError, match=r"has no column 'kind' for the labels; its columns: "
                                         r"a, b, y"):
        read_csv_table(path, label="kind")


def _class_csv(tmp_path, n=200, label_first=False, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)) + y[:, None] * np.array([2.0, -1.5, 0.0, 1.0])
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    lines = ["kind,f0,f1,f2,f3" if label_first else "f0,f1,f2,f3,kind"]
    for row, c in zip(x, names, strict=True):
        cells = [f"{v:.6f}" for v in row]
        lines.append(",".join([c, *cells] if label_first else [*cells, c]))
    return _write(tmp_path, "\n".join(lines) + "\n", "flowers.csv"), y


def test_csv_string_labels_become_class_names_and_the_split_is_seeded(tmp_path):
    path, y = _class_csv(tmp_path, label_first=True)
    ds = load_dataset(path, val_size=20, seed=3, label="kind")
    assert ds.tabular and ds.input_shape == (4,) and ds.x_train.dtype == np.float32
    assert ds.class_names == ("setosa", "versicolor", "virginica") and ds.num_classes == 3
    assert ds.feature_names == ("f0", "f1", "f2", "f3")
    assert len(ds.x_test) == 40 and len(ds.x_train) + len(ds.x_val) == 160
    again = load_dataset(path, val_size=50, seed=9, label="kind")  # the test split is fixed
    np.testing.assert_array_equal(ds.x_test, again.x_test)
    with pytest.raises(LutnnError, match="--label names the label column of a .csv table"):
        load_dataset(tmp_path / "x.npz", label="kind")


def test_npz_tables_and_their_errors(tmp_path):
    rng = np.random.default_rng(0)
    good = {"x_train": rng.normal(size=(30, 3)), "y_train": np.array(["a", "b", "c"] * 10),
            "x_test": rng.normal(size=(10, 3)), "y_test": np.array(["b", "c"] * 5)}
    np.savez(tmp_path / "good.npz", **good)
    ds = load_dataset(tmp_path / "good.npz", val_size=5)
    assert ds.class_names == ("a", "b", "c") and ds.input_shape == (3,)
    for change, message in [
        (dict(x_test=rng.normal(size=(10, 4))), r"x_train has 3 features but x_test 4"),
        (dict(x_train=np.full((30, 3), np.nan)), r"x_train holds NaN or infinite values "
         r"\(x_train row 0, feature 0: nan\)"),
        (dict(x_test=np.full((10, 3), 1e39)), r"x_test holds values beyond float32's range"),
        (dict(y_train=np.zeros(29, np.int64)), r"y_train has shape \(29,\); expected \(30,\)"),
        (dict(x_test=np.zeros((10, 3), np.int64)), r"x_test must hold float features"),
    ]:
        np.savez(tmp_path / "bad.npz", **{**good, **change})
        with pytest.raises(LutnnError, match=message):
            load_dataset(tmp_path / "bad.npz", val_size=5)


def test_image_models_refuse_tables(tmp_path):
    from lutnn.train import TrainConfig

    path, _ = _class_csv(tmp_path)
    for model in ("lut-cnn", "teacher-cnn", "teacher-mobilenet"):
        with pytest.raises(LutnnError, match=rf"{model} is an image model and needs \[C, H, W\] "
                                             r"images; this data is a table of 4 features"):
            train(model, tmp_path / model, data=str(path), log=lambda _: None,
                  train_cfg=TrainConfig(val_size=20))


# -- models on tables: PyTorch == simulator == RTL -----------------------------------------------


TINY = {"epochs": 2, "batch_size": 32, "val_size": 30, "eval_batch_size": 100}


@pytest.fixture(scope="module")
def table_runs(tmp_path_factory):
    from lutnn.train import TrainConfig

    root = tmp_path_factory.mktemp("table_runs")
    path, _ = _class_csv(root, n=300)
    cfg = TrainConfig(**TINY)
    runs = {"lut": root / "lut", "teacher": root / "teacher"}
    train("lut-mlp", runs["lut"], data=str(path), train_cfg=cfg, log=lambda _: None,
          model_overrides={"layers": [60, 30], "k": 4, "encoder": "distributive", "levels": 6,
                           "width": 10})
    train("teacher-mlp", runs["teacher"], data=str(path), train_cfg=cfg, log=lambda _: None,
          model_overrides={"hidden": [24], "group_size": 6, "levels": 5})
    return path, runs


def _rtl(netlist, x, workdir):
    from lutnn.hdl import run_rtl

    try:
        return run_rtl(netlist, x, workdir=workdir)
    except ToolNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.mark.tools
@pytest.mark.parametrize("kind", ["lut", "teacher"])
def test_torch_simulator_and_rtl_agree_on_a_table(table_runs, kind, tmp_path):
    path, runs = table_runs
    model, record = load_run(runs[kind])
    assert record["class_names"] == ["setosa", "versicolor", "virginica"]
    assert record["input_shape"] == [4]
    ds = load_dataset(path, val_size=30)
    netlist = to_ir(model, (4,))
    assert isinstance(netlist.encoder, FeatureEncoder)
    torch_classes = predict(model, ds.x_test)
    np.testing.assert_array_equal(simulate(netlist, ds.x_test).classes, torch_classes)
    np.testing.assert_array_equal(simulate_reference(netlist, ds.x_test).classes, torch_classes)
    np.testing.assert_array_equal(_rtl(netlist, ds.x_test, tmp_path), torch_classes)
    assert (torch_classes == ds.y_test).mean() > 0.45  # it learned something (chance: 1/3)


def test_lutnn_sim_maps_the_floats_of_the_recorded_table(table_runs):
    from lutnn.pipeline import simulate_run

    _, runs = table_runs
    result = simulate_run(runs["lut"])
    assert result["vectors"] == 60 and result["mismatches"] == 0


def test_distillation_works_on_a_table(table_runs, tmp_path):
    from lutnn.distill import DistillConfig, distill

    _, runs = table_runs
    metrics = distill(runs["teacher"], tmp_path / "student",
                      DistillConfig(k=4, tree=(4,), finetune_epochs=1), log=lambda _: None)
    model, record = load_run(tmp_path / "student")
    assert record["class_names"] == ["setosa", "versicolor", "virginica"]
    ds = load_dataset(table_runs[0], val_size=30)
    np.testing.assert_array_equal(simulate(to_ir(model, (4,)), ds.x_test).classes,
                                  predict(model, ds.x_test))
    assert metrics["luts"] > 0


def test_distributive_encoder_on_images_exports_bit_exact():
    x = np.random.default_rng(0).integers(0, 256, (80, 1, 6, 6), dtype=np.uint8)
    cfg = make_config("teacher-mlp", {"encoder": "distributive", "levels": 3, "hidden": [12],
                                      "group_size": 4})
    model = build_model("teacher-mlp", cfg, (1, 6, 6), 2)
    fit_encoders(model, x)
    net = to_ir(model.eval(), (1, 6, 6))
    assert net.encoder.width == 8 and net.encoder.thresholds.shape == (36, 3)
    np.testing.assert_array_equal(simulate(net, x.reshape(80, -1)).classes, predict(model, x))


@given(st.lists(st.integers(0, 256), min_size=1, max_size=8), st.integers(0, 7))
def test_snap_thresholds_rounds_to_multiples_and_keeps_the_order(values, snap):
    thr = np.sort(np.array(values))
    out = snap_thresholds(thr, snap, 8)
    step = 1 << snap
    assert np.all(out % step == 0) and np.all(np.diff(out) >= 0)
    if snap:
        assert np.all(out >= step) and np.all(out <= 256)
        # nearest multiple, halves up, unless the clip to [step, 256] moved it
        inside = (thr >= step // 2) & (thr <= 256)
        np.testing.assert_array_equal(out[inside], (thr[inside] + step // 2) // step * step)
    else:
        np.testing.assert_array_equal(out, thr)


def test_snapped_encoder_reads_only_the_top_bits_and_exports_bit_exact():
    """With snap S every comparator equals ``(x >> S) >= (threshold >> S)``, and a snapped
    LUT-Net exports with the simulator equal to PyTorch on every sample."""
    x = np.random.default_rng(0).integers(0, 256, (200, 1, 6, 6), dtype=np.uint8)
    cfg = make_config("lut-mlp", {"encoder": "distributive", "levels": 3, "snap": 5,
                                  "layers": [40, 20], "k": 4})
    model = build_model("lut-mlp", cfg, (1, 6, 6), 2)
    fit_encoders(model, x)
    enc = model[0]
    thr = enc.thresholds.numpy()
    assert enc.snap == 5 and np.all(thr % 32 == 0) and np.all(thr >= 32)
    flat = x.reshape(200, 36, 1).astype(np.int64)
    top_bits = (flat >> 5) >= (thr[None] >> 5)  # (n, P, T)
    bits = enc(torch.from_numpy(x).float()).numpy().reshape(200, 3, 36).transpose(0, 2, 1)
    np.testing.assert_array_equal(bits, top_bits)
    net = to_ir(model.eval(), (1, 6, 6))
    np.testing.assert_array_equal(simulate(net, x.reshape(200, -1)).classes, predict(model, x))


def test_snap_is_refused_where_it_cannot_apply():
    with pytest.raises(LutnnError, match="snap applies to the fitted encoders"):
        build_model("lut-mlp", make_config("lut-mlp", {"encoder": "threshold", "snap": 2,
                                                       "layers": [20]}), (1, 4, 4), 2)
    with pytest.raises(LutnnError, match="snap must be an integer in 0..7"):
        build_model("lut-mlp", make_config("lut-mlp", {"encoder": "distributive", "snap": 8,
                                                       "layers": [20]}), (1, 4, 4), 2)


def test_jsc_preset_config_round_trips():
    preset = PRESETS["jsc-large"]
    cfg = make_config(preset.model, preset.config)
    assert make_config(preset.model, config_to_dict(cfg)) == cfg
    json.loads(json.dumps(config_to_dict(cfg)))
    model = build_model(preset.model, cfg, (16,), 5)
    enc = model[0]
    assert isinstance(enc, DistributiveThermometer) and enc.width == 16
    assert model[2].in_features == 16 * 200 and model[2].out_features == 1000
    assert PRESETS["jsc-small"].config["layers"] == [50]


# -- fetchers ------------------------------------------------------------------------------------


ARFF = """% tiny hls4ml_lhc_jets_hlf in OpenML's format
@RELATION hls4ml_lhc_jets_hlf

{attributes}
@ATTRIBUTE class {{g,q,t,w,z}}

@DATA
{rows}
"""


def _jsc_files(folder: Path, n: int = 50) -> bytes:
    rng = np.random.default_rng(0)
    attrs = "\n".join(f"@ATTRIBUTE 'f{j}' NUMERIC" for j in range(16))
    rows = "\n".join(",".join([*(f"{v:.5f}" for v in rng.normal(size=16)), "gqtwz"[i % 5]])
                     for i in range(n))
    data = ARFF.format(attributes=attrs, rows=rows).encode()
    (folder / "jets.arff").write_bytes(data)
    return data


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def local_server(tmp_path):
    """An http.server on 127.0.0.1 serving ``tmp_path`` (stopped after the test)."""
    def handler(*args, **kwargs):
        return _Quiet(*args, directory=str(tmp_path), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_fetch_jsc_from_a_local_openml(local_server, tmp_path_factory):
    folder, url = local_server
    data = _jsc_files(folder)
    desc = {"data_set_description": {"url": f"{url}/jets.arff",
                                     "md5_checksum": hashlib.md5(data).hexdigest()}}
    (folder / "api").mkdir()
    (folder / "api" / "42468").write_text(json.dumps(desc))
    out = tmp_path_factory.mktemp("cache") / "jsc.npz"
    path = fetch_table("jsc", source=f"{url}/api/", dest=out)
    ds = load_dataset(path, val_size=5)
    assert ds.input_shape == (16,) and ds.class_names == ("g", "q", "t", "w", "z")
    assert len(ds.x_test) == 10 and ds.feature_names[0] == "f0"
    record = json.loads((out.parent / "source.json").read_text())
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert fetch_table("jsc", source="http://127.0.0.1:9/never", dest=out) == out  # cached
    good = out.read_bytes()
    out.write_bytes(good[:-10])  # a damaged cache is refused, --force fetches it again
    with pytest.raises(LutnnError, match="does not match the SHA-256 its source.json records"):
        fetch_table("jsc", source="http://127.0.0.1:9/never", dest=out)
    assert fetch_table("jsc", source=f"{url}/api/", dest=out, force=True) == out
    assert out.read_bytes() == good
    desc["data_set_description"]["md5_checksum"] = "0" * 32
    (folder / "api" / "42468").write_text(json.dumps(desc))
    with pytest.raises(LutnnError, match="MD5 mismatch"):
        fetch_table("jsc", source=f"{url}/api/", dest=out, force=True)


def _unsw_csv(n, seed):
    rng = np.random.default_rng(seed)
    cols = ["id", "dur", "proto", "service", "state", *(f"c{j}" for j in range(38)),
            "attack_cat", "label"]
    lines = [",".join(cols)]
    for i in range(n):
        lab = i % 2
        vals = [str(i), f"{rng.random():.4f}", ["tcp", "udp"][i % 2], "-", ["FIN", "INT"][lab],
                *(f"{v:.3f}" for v in rng.random(38) + lab), ["Normal", "DoS"][lab], str(lab)]
        lines.append(",".join(vals))
    return "\n".join(lines) + "\n"


def test_fetch_unsw_from_a_file_url(tmp_path, monkeypatch, capsys):
    import lutnn.data.fetch_tables as ft
    from lutnn.cli import main

    (tmp_path / UNSW_FILES["train"]).write_text(_unsw_csv(40, 0))
    (tmp_path / UNSW_FILES["test"]).write_text(_unsw_csv(20, 1))
    monkeypatch.setattr(ft, "UNSW_ROWS", {"train": 40, "test": 20})
    out = tmp_path / "cache" / "unsw.npz"
    path = fetch_table("unsw-nb15", source=tmp_path.as_uri(), dest=out)
    ds = load_dataset(path, val_size=5)
    assert ds.input_shape == (42,) and ds.class_names == ("normal", "attack")
    assert "proto" in ds.feature_names and "attack_cat" not in ds.feature_names
    monkeypatch.setattr(ft, "UNSW_ROWS", {"train": 175_341, "test": 82_332})
    with pytest.raises(LutnnError, match=r"40 rows, the published file has 175341"):
        fetch_table("unsw-nb15", source=str(tmp_path), dest=out, force=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert main(["data", "unsw-nb15"]) == 2
    assert "has no stable download link" in capsys.readouterr().err
