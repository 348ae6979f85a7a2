"""IR persistence (save/load round trip, clear errors on bad files) and the netlist summary."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import typing
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from lutnn.errors import LutnnError
from lutnn.ir import (
    BitLayer,
    BitplaneEncoder,
    FeatureEncoder,
    GroupSumHead,
    InputEncoder,
    LogicLayer,
    LoweredHead,
    LutLayer,
    Netlist,
    OrLayer,
    ThresholdLayer,
    format_summary,
    load_netlist,
    netlist_summary,
    save_netlist,
)
from lutnn.ir.dispatch import MissingEntryError, NodeTable
from lutnn.ir.layers import ALL_NODE_TYPES, MAX_LUT_K, NODE_TYPES
from lutnn.ir.passes import lower
from lutnn.ir.serialize import JSON_NAME, LAYER_TYPES, NPZ_NAME
from lutnn.ir.summary import rows as summary_rows
from lutnn.sim import simulate


def all_types_netlist() -> Netlist:
    """encoder (2 ch x 6 px x 2 levels) -> LUT6 x 16 -> threshold x 12 -> OR x 6 -> head 3."""
    rng = np.random.default_rng(1)
    enc = InputEncoder("enc", 2, 12, np.array([0, 128], np.int16))
    lut = LutLayer(
        "lut",
        24,
        rng.integers(0, 24, (16, 6)).astype(np.int32),
        rng.integers(0, 2, (16, 64)).astype(np.uint8),
    )
    thr = ThresholdLayer(
        "thr",
        16,
        rng.integers(0, 16, (12, 5)).astype(np.int32),
        rng.integers(-1, 2, (12, 5)).astype(np.int8),
        rng.integers(0, 7, 12).astype(np.int32),
        rng.random(12) < 0.5,
    )
    orl = OrLayer("pool", 12, rng.integers(0, 12, (6, 2)).astype(np.int32))
    head = GroupSumHead("head", 6, 3)
    meta = {"model": "test", "accuracy": 0.5, "levels": [0, 128], "nested": {"a": None}}
    net = Netlist(24, (lut, thr, orl), encoder=enc, head=head, meta=meta)
    net.validate()
    return net


def _assert_layers_equal(a, b) -> None:
    assert type(a) is type(b)
    for name, value in vars(a).items():
        other = getattr(b, name)
        if isinstance(value, np.ndarray):
            assert other.dtype == value.dtype, name
            assert_array_equal(other, value)
        else:
            assert other == value, name


def test_round_trip_all_layer_types(tmp_path):
    net = all_types_netlist()
    save_netlist(net, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [JSON_NAME, NPZ_NAME]
    back = load_netlist(tmp_path / "out")
    assert back.input_bits == net.input_bits and back.meta == net.meta
    _assert_layers_equal(back.encoder, net.encoder)
    _assert_layers_equal(back.head, net.head)
    assert len(back.layers) == len(net.layers)
    for a, b in zip(back.layers, net.layers, strict=True):
        _assert_layers_equal(a, b)
    x = np.random.default_rng(0).integers(0, 256, (70, 12)).astype(np.uint8)
    assert_array_equal(simulate(back, x).scores, simulate(net, x).scores)


def test_round_trip_minimal(tmp_path):
    """No encoder, no head, no layers: the bare input is a valid netlist too."""
    save_netlist(Netlist(5, ()), tmp_path)
    back = load_netlist(tmp_path)
    assert (back.input_bits, back.layers, back.encoder, back.head, back.meta) == (
        5,
        (),
        None,
        None,
        {},
    )


def test_json_is_readable(tmp_path):
    save_netlist(all_types_netlist(), tmp_path)
    doc = json.loads((tmp_path / JSON_NAME).read_text())
    assert doc["version"] == Netlist.VERSION
    assert [e["type"] for e in doc["layers"]] == ["LutLayer", "ThresholdLayer", "OrLayer"]
    assert doc["layers"][0]["arrays"]["tables"] == {
        "key": "0/tables",
        "dtype": "uint8",
        "shape": [16, 64],
    }
    assert doc["encoder"]["channels"] == 2 and doc["head"]["num_classes"] == 3


def test_every_unlowered_ir_type_is_serializable():
    lowered = {LogicLayer, LoweredHead}
    assert set(LAYER_TYPES.values()) == set(ALL_NODE_TYPES) - lowered
    assert set(typing.get_args(BitLayer)) | {InputEncoder, FeatureEncoder, BitplaneEncoder,
                                             GroupSumHead} == set(NODE_TYPES) - {LoweredHead}


def test_lowered_netlist_is_not_saved(tmp_path):
    net = lower(all_types_netlist())
    with pytest.raises(MissingEntryError, match="'ir.serialize' has no entry for IR node type"):
        save_netlist(net, tmp_path)


def test_array_declarations_drive_validation():
    lut = LutLayer("l", 4, np.zeros((3, 2), np.int32), np.zeros((3, 5), np.uint8))
    with pytest.raises(ValueError, match=r"'l': tables must have shape \(3, 4\) "
                                         r"\(out_width, table_size\), got \(3, 5\)"):
        lut.validate()
    thr = ThresholdLayer("t", 4, np.zeros((2, 3), np.int32), np.zeros((2, 3), np.int16),
                         np.zeros(2, np.int32), np.zeros(2, bool))
    with pytest.raises(ValueError, match="'t': weights must have dtype int8, got int16"):
        thr.validate()
    for cls in ALL_NODE_TYPES:  # every declared array is a field of the class
        fields = {f.name for f in dataclasses.fields(cls)}
        assert {spec.name for spec in cls.ARRAYS} <= fields, cls


def test_k_above_the_ir_limit_is_named():
    lut = LutLayer("wide", 9, np.zeros((1, 9), np.int32), np.zeros((1, 512), np.uint8))
    with pytest.raises(ValueError, match=f"k must be in 1..{MAX_LUT_K}, got 9"):
        lut.validate()


def test_save_rejects_bad_netlists(tmp_path):
    bad = Netlist(3, (OrLayer("o", 4, np.zeros((1, 1), np.int32)),))
    with pytest.raises(ValueError, match="'o'"):
        save_netlist(bad, tmp_path)
    with pytest.raises(ValueError, match="meta"):
        save_netlist(Netlist(3, (), meta={"x": object()}), tmp_path)
    assert not any(tmp_path.iterdir())


# ---- load errors: each names the problem ----


def _edit_json(folder: Path, edit) -> None:
    doc = json.loads((folder / JSON_NAME).read_text())
    edit(doc)
    (folder / JSON_NAME).write_text(json.dumps(doc))


def _edit_npz(folder: Path, edit) -> None:
    """Rewrite the arrays (and the checksum, so only the edit is wrong)."""
    with np.load(folder / NPZ_NAME) as f:
        arrays = dict(f)
    edit(arrays)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (folder / NPZ_NAME).write_bytes(buf.getvalue())
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    _edit_json(folder, lambda d: d.update(npz_sha256=digest))


@pytest.fixture
def saved(tmp_path) -> Path:
    save_netlist(all_types_netlist(), tmp_path)
    return tmp_path


def test_missing_files(tmp_path, saved):
    with pytest.raises(LutnnError, match="not found"):
        load_netlist(tmp_path / "nowhere")
    (saved / NPZ_NAME).unlink()
    with pytest.raises(LutnnError, match="arrays not found"):
        load_netlist(saved)


def test_malformed_json(saved):
    (saved / JSON_NAME).write_text('{"version": 1,')
    with pytest.raises(LutnnError, match="not valid JSON"):
        load_netlist(saved)
    (saved / JSON_NAME).write_text("[1, 2]")
    with pytest.raises(LutnnError, match="not a lutnn netlist"):
        load_netlist(saved)


def test_unknown_layer_type(saved):
    _edit_json(saved, lambda d: d["layers"][1].update(type="ConvLayer"))
    with pytest.raises(LutnnError, match="layer 1 has unknown layer type 'ConvLayer'"):
        load_netlist(saved)


def test_layer_type_in_wrong_place(saved):
    _edit_json(saved, lambda d: d["layers"][0].update(type="GroupSumHead"))
    with pytest.raises(LutnnError, match="layer 0 cannot be a GroupSumHead"):
        load_netlist(saved)


@pytest.mark.parametrize("version", [2, 0, "1", True, None])
def test_unsupported_version(saved, version):
    _edit_json(saved, lambda d: d.update(version=version))
    with pytest.raises(LutnnError, match="format version"):
        load_netlist(saved)


def test_missing_array(saved):
    _edit_npz(saved, lambda a: a.pop("1/weights"))
    with pytest.raises(LutnnError, match="array 'weights' of layer 1 .ThresholdLayer. is missing"):
        load_netlist(saved)


def test_wrong_dtype_array(saved):
    _edit_npz(saved, lambda a: a.update({"0/tables": a["0/tables"].astype(np.int64)}))
    with pytest.raises(LutnnError, match="'tables' of layer 0 .LutLayer. has dtype int64"):
        load_netlist(saved)


def test_bad_scalar_field(saved):
    _edit_json(saved, lambda d: d["layers"][2].update(in_width="12"))
    with pytest.raises(LutnnError, match="'in_width' must be int"):
        load_netlist(saved)


def test_failed_validation_is_wrapped(saved):
    _edit_npz(saved, lambda a: a.update({"0/tables": np.full((16, 64), 3, np.uint8)}))
    with pytest.raises(
        LutnnError, match="invalid netlist: layer 'lut': table entries must be 0 or 1"
    ):
        load_netlist(saved)


def test_mixed_save_is_refused(tmp_path, saved):
    """An npz from another save (e.g. an interrupted overwrite) does not pass as this one's."""
    other = all_types_netlist()
    save_netlist(Netlist(other.input_bits, other.layers[:1], encoder=other.encoder), tmp_path / "b")
    (saved / NPZ_NAME).write_bytes((tmp_path / "b" / NPZ_NAME).read_bytes())
    with pytest.raises(LutnnError, match="checksum mismatch"):
        load_netlist(saved)


def test_corrupt_npz(saved):
    (saved / NPZ_NAME).write_bytes(b"not a zip")
    _edit_json(saved, lambda d: d.update(npz_sha256=hashlib.sha256(b"not a zip").hexdigest()))
    with pytest.raises(LutnnError, match="unreadable arrays"):
        load_netlist(saved)


# ---- summary ----


def test_summary_counts():
    s = netlist_summary(all_types_netlist())
    assert [
        (r["type"], r["name"], r["in_width"], r["out_width"], r["fan_in"], r["nodes"])
        for r in s["layers"]
    ] == [
        ("InputEncoder", "enc", 12, 24, 1, 24),
        ("LutLayer", "lut", 24, 16, 6, 16),
        ("ThresholdLayer", "thr", 16, 12, 5, 12),
        ("OrLayer", "pool", 12, 6, 2, 6),
        ("GroupSumHead", "head", 6, 3, 2, 3),
    ]
    t = s["totals"]
    assert (t["lut_nodes"], t["lut_nodes_by_k"], t["lut_table_bits"]) == (16, {6: 16}, 1024)
    assert (t["threshold_neurons"], t["or_gates"], t["comparators"]) == (12, 6, 24)
    assert (t["input_bits"], t["output_bits"], t["num_classes"]) == (24, 6, 3)
    json.dumps(s)  # JSON-ready


def test_format_summary():
    text = format_summary(all_types_netlist())
    lines = text.splitlines()
    assert lines[0].split() == ["type", "name", "in", "out", "fan-in", "nodes"]
    assert lines[2].split() == ["LutLayer", "lut", "24", "16", "6", "16"]
    assert lines[-1] == (
        "total: 16 LUT nodes (k=6: 16), 12 threshold neurons, 6 OR gates; 24 -> 6 bits -> 3 classes"
    )


def test_summary_of_a_lowered_netlist():
    rows = netlist_summary(lower(all_types_netlist()))["layers"]
    assert [r["type"] for r in rows] == ["InputEncoder", "LogicLayer", "LogicLayer", "OrLayer",
                                         "LoweredHead"]
    assert rows[1]["out_width"] == 16 and rows[-1]["out_width"] == 3


def test_missing_backend_entry_names_backend_and_type():
    class NewLayer:
        name = "new"

    table = NodeTable("sim.example")
    with pytest.raises(MissingEntryError, match="'sim.example' has no entry for IR node type "
                                                "NewLayer"):
        table(NewLayer())


@pytest.mark.parametrize("backend", ["summary", "serialize", "sim.packed", "sim.reference",
                                     "hdl.emit"])
def test_every_backend_covers_its_node_types(backend):
    from lutnn.hdl import emit
    from lutnn.sim import packed, reference

    lowered = {InputEncoder, FeatureEncoder, BitplaneEncoder, OrLayer, LogicLayer,
               LoweredHead}  # what the emitter reads
    covered, want = {
        "summary": (summary_rows.node_types, set(ALL_NODE_TYPES)),
        "serialize": (set(LAYER_TYPES.values()), set(ALL_NODE_TYPES) - {LogicLayer, LoweredHead}),
        "sim.packed": (packed.BLOCKS.node_types, set(ALL_NODE_TYPES)),
        "sim.reference": (reference.BLOCKS.node_types, set(ALL_NODE_TYPES)),
        "hdl.emit": (emit.BLOCKS.node_types, lowered),
    }[backend]
    assert covered == want
