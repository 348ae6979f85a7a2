"""Image classification datasets as uint8 arrays, with a seeded validation split.

:func:`load_dataset` reads MNIST (found or fetched, see :mod:`lutnn.data.mnist`), a folder of
IDX files in the MNIST layout (Fashion-MNIST, KMNIST, ...), or a ``.npz`` file.  The validation
set is carved out of the training set by a seeded permutation, so model selection never looks
at the test set.  :func:`batches` iterates mini-batches as torch tensors.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lutnn.data.idx import STANDARD_FILES, find_idx_files, read_idx
from lutnn.data.mnist import load_mnist
from lutnn.errors import LutnnError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/val/test split of images (or of a table's rows) and labels.

    Attributes:
        x_train, x_val, x_test: uint8 ``[n, C, H, W]`` pixel values 0..255, or for a table
            float32 ``[n, F]`` features (see :mod:`lutnn.data.tables`).
        y_train, y_val, y_test: int64 ``[n]`` class indices in ``0..num_classes-1``.
        num_classes: number of classes.
        name: a short name for logs and reports (``"mnist"``, the folder or file stem).
        class_names: a table's class names when its labels were strings (class i is
            ``class_names[i]``), else None.
        feature_names: a table's feature names, else None.
    """

    x_train: np.ndarray  # uint8 (N, C, H, W)
    y_train: np.ndarray  # int64 (N,)
    x_val: np.ndarray  # uint8 (Nv, C, H, W)
    y_val: np.ndarray  # int64 (Nv,)
    x_test: np.ndarray  # uint8 (Nt, C, H, W)
    y_test: np.ndarray  # int64 (Nt,)
    num_classes: int
    name: str
    class_names: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self.validate()

    @property
    def tabular(self) -> bool:
        """Whether the samples are a table's float feature vectors."""
        return self.x_train.ndim == 2

    @property
    def input_shape(self) -> tuple[int, ...]:
        """``(C, H, W)`` of one image, or ``(F,)`` for a table of F features."""
        return tuple(int(v) for v in self.x_train.shape[1:])

    def validate(self) -> None:
        """Check dtypes, shapes and label ranges; raise ``ValueError`` naming the field."""
        if self.num_classes < 1:
            raise ValueError(f"dataset {self.name!r}: num_classes must be >= 1")
        shape = self.x_train.shape[1:]
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            image = isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 4
            table = isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 2
            if not (image or table):
                raise ValueError(f"dataset {self.name!r}: x_{split} must be uint8 [n, C, H, W] "
                                 "images or float32 [n, F] features")
            if x.shape[1:] != shape:
                raise ValueError(
                    f"dataset {self.name!r}: x_{split} images are {x.shape[1:]}, x_train {shape}"
                )
            if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.shape != (len(x),):
                raise ValueError(f"dataset {self.name!r}: y_{split} must be int64 [{len(x)}]")
            if y.size and (y.min() < 0 or y.max() >= self.num_classes):
                raise ValueError(
                    f"dataset {self.name!r}: y_{split} must lie in 0..{self.num_classes - 1}"
                )


def _not_pixels_advice(arr: np.ndarray) -> str:
    """What to do with a .npz's samples that are not uint8 images, by their shape and values:
    ``.astype(np.uint8)`` only where it keeps every value."""
    if arr.ndim == 2:
        return ("2-D [n, F] samples are a table, whose features must be floats: convert them "
                "with .astype(np.float32)")
    if arr.dtype.kind not in "biuf" or arr.size == 0:
        return "store images as uint8 [n, H, W] or [n, C, H, W]"
    finite = arr.dtype.kind != "f" or bool(np.isfinite(arr).all())
    lo, hi = (arr.min(), arr.max()) if finite else (None, None)
    if finite and 0 <= lo and hi <= 255 and (arr.dtype.kind != "f" or (arr == np.round(arr)).all()):
        return "its values are whole numbers in 0..255: convert it with .astype(np.uint8)"
    if finite and arr.dtype.kind == "f" and 0 <= lo and hi <= 1:
        return "its values lie in 0..1: scale it with (x * 255).round().astype(np.uint8)"
    values = f"its values run from {lo} to {hi}" if finite else "it holds NaN or inf"
    return (f"{values}, which .astype(np.uint8) would wrap or cut: scale images to 0..255 "
            "first, or, if these are features, store a table: 2-D float32 [n, F] "
            "(x.reshape(len(x), -1).astype(np.float32))")


def _images(arr: np.ndarray, what: str) -> np.ndarray:
    """Return images as uint8 ``[n, C, H, W]``; ``[n, H, W]`` gains C = 1."""
    if arr.dtype != np.uint8 or arr.ndim == 2:
        raise LutnnError(f"{what} must hold uint8 pixel values 0..255, got dtype {arr.dtype} "
                         f"and shape {arr.shape}; {_not_pixels_advice(arr)}")
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[1] > 4 and arr.shape[3] <= 4:
        raise LutnnError(
            f"{what} has shape {arr.shape}, which looks channels-last [n, H, W, C]; "
            "transpose it to [n, C, H, W] (e.g. x.transpose(0, 3, 1, 2))"
        )
    if arr.ndim != 4 or arr.shape[0] == 0 or 0 in arr.shape[1:]:
        raise LutnnError(
            f"{what} has shape {arr.shape}; expected non-empty [n, H, W] or [n, C, H, W] images"
        )
    return np.ascontiguousarray(arr)


def _labels(arr: np.ndarray, n: int, what: str) -> np.ndarray:
    """Return labels as int64 ``[n]``, checking they are non-negative integers."""
    if arr.dtype.kind not in "iu":
        raise LutnnError(f"{what} must hold integer class labels, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] != n:
        raise LutnnError(f"{what} has shape {arr.shape}; expected ({n},), one label per image")
    if arr.size and arr.min() < 0:
        raise LutnnError(f"{what} holds a negative label ({arr.min()}); labels must be 0..K-1")
    return arr.astype(np.int64)


def _load_idx_folder(folder: Path) -> tuple[np.ndarray, ...]:
    found, missing = find_idx_files(folder)
    if missing:
        raise LutnnError(
            f"IDX dataset folder {folder} lacks: " + "; ".join(missing) + " (name them like MNIST)"
        )
    return tuple(read_idx(found[role]) for role in STANDARD_FILES)  # train x, y, test x, y


def _load_npz(path: Path) -> tuple[np.ndarray, ...]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in NPZ_KEYS if k not in npz.files]
            if missing:
                raise LutnnError(
                    f"{path} lacks key(s) {missing}; a dataset .npz needs {list(NPZ_KEYS)} "
                    f"(it has {sorted(npz.files)})"
                )
            return tuple(npz[k] for k in NPZ_KEYS)
    except LutnnError:
        raise
    except Exception as exc:  # zipfile/pickle/value errors for a corrupt or non-npz file
        raise LutnnError(
            f"{path} is not a readable .npz file ({type(exc).__name__}: {exc})"
        ) from None


class DataWarning(UserWarning):
    """Data lutnn can train on, but that is probably not what the user meant."""


def check_label_set(y_train: np.ndarray, y_test: np.ndarray, name: str,
                    class_names: tuple[str, ...] | None = None) -> None:
    """Refuse label sets no classifier can be meant for; warn about odd but usable ones.

    Classes are ``0..max(label)``, or the ``class_names`` a table names.  Refused: a single
    class in the training split, a label without a class name, or labels that leave at
    least as many classes without a training example as have one (a stray label 1000 among
    0..9, or 10^15: counted without allocating a class per number).  Warned
    (:class:`DataWarning`): a few classes without a training example, among them classes
    only the test split holds, or class names no label uses.

    Raises:
        LutnnError: naming the labels and what to do.
    """
    present = np.unique(y_train)
    top = int(max(y_train.max(), y_test.max(initial=0)))
    if class_names is not None and top >= len(class_names):
        raise LutnnError(f"{name}: a label is {top}, but class_names names only "
                         f"{len(class_names)} classes (0..{len(class_names) - 1}); give every "
                         "class a name")
    k = len(class_names) if class_names is not None else top + 1
    if len(present) < 2:
        raise LutnnError(
            f"{name}: the training labels hold a single class ({int(present[0])}); a classifier "
            "needs at least two classes"
        )
    if k - len(present) >= len(present):  # as many classes empty as not
        gaps = np.flatnonzero(present != np.arange(len(present)))
        first = int(gaps[0]) if gaps.size else len(present)
        span = (f"class_names names {k} classes" if class_names is not None
                else f"labels run to {k - 1}")
        raise LutnnError(
            f"{name}: {span}, but only {len(present)} classes have training examples, so "
            f"{k - len(present)} classes would be empty (e.g. {first}); relabel the classes "
            "as 0..K-1"
        )
    empty = np.setdiff1d(np.arange(k), present)  # k < 2 * len(present): small
    test_only = np.setdiff1d(np.unique(y_test), present)
    if len(test_only):
        warnings.warn(DataWarning(
            f"{name}: class(es) {', '.join(map(str, test_only.tolist()))} occur only in the "
            "test split; the model never sees an example of them"), stacklevel=3)
    elif len(empty) and class_names is not None:
        warnings.warn(DataWarning(
            f"{name}: class_names names {k} classes, but {len(empty)} of them have no "
            f"example in any split ({', '.join(class_names[i] for i in empty[:5])}"
            f"{', ...' if len(empty) > 5 else ''}); they are trained as empty classes: drop "
            "their names"), stacklevel=3)
    elif len(empty):
        warnings.warn(DataWarning(
            f"{name}: class(es) {', '.join(map(str, empty.tolist()))} have no example in any "
            "split (labels should be 0..K-1)"), stacklevel=3)


def data_source(path: str | os.PathLike | None) -> dict | None:
    """What a run records of its data set: ``{"path": absolute, "sha256": ...}``.

    The SHA-256 is the ``.npz`` file's, or for an IDX folder that of the four files'
    SHA-256s in order; ``None`` for MNIST (found by name and verified on its own).
    """
    if path is None or str(path) == "mnist":
        return None
    p = Path(path).resolve()
    if p.is_dir():
        found, _ = find_idx_files(p)
        digest = hashlib.sha256()
        for role in STANDARD_FILES:
            digest.update(_file_sha256(found[role]).encode())
        return {"path": str(p), "sha256": digest.hexdigest()}
    return {"path": str(p), "sha256": _file_sha256(p)}


def _file_sha256(path: Path) -> str:
    from lutnn.io import file_sha256

    return file_sha256(path)


def record_data_name(record: dict, what: str = "run.json") -> str:
    """The ``data`` a run record names (``"mnist"`` or the path as given).

    Raises:
        LutnnError: ``data`` is missing or not a string (a hand-edited record): the run's
            data is unknown, and MNIST is never assumed in its place.
    """
    data = record.get("data")
    if not isinstance(data, str) or not data:
        found = "missing" if data is None else repr(data)
        raise LutnnError(f"{what} names no data set ('data' is {found}), so the run's data is "
                         "unknown (MNIST is not assumed); put back \"data\": \"mnist\" or the "
                         "path it was trained on, or retrain the run")
    return data


def recorded_data(record: dict) -> str | None:
    """The data set a run was trained on, for ``load_dataset`` (None: MNIST), checked.

    A run records ``data`` as given and, since it records one, ``data_source`` (absolute
    path and checksum): a relative path is never resolved against another working directory.

    Raises:
        LutnnError: the record names no data set (``data`` is missing: never taken for
            MNIST), or the recorded data set is gone or its contents changed since training.
    """
    data = record_data_name(record)
    source = record.get("data_source")
    if data == "mnist":
        return None
    if not isinstance(source, dict):  # a run from before data_source: as given
        return data
    path = Path(source["path"])
    if not path.exists():
        raise LutnnError(f"the run's data set {path} (given as {data!r}) is gone; put it back "
                         "or retrain the run on the data at hand")
    if data_source(path)["sha256"] != source.get("sha256"):
        raise LutnnError(f"the run's data set {path} changed since training (its sha256 "
                         f"differs from the one in run.json); retrain, or restore the data")
    return str(path)


def recorded_test_data(record: dict) -> str | None:
    """The ``--test-data`` file a run was trained with (None: none), checked as
    :func:`recorded_data` checks ``data`` (``test_data_source``: path and SHA-256).

    Raises:
        LutnnError: the file is gone or changed since training.
    """
    given, source = record.get("test_data"), record.get("test_data_source")
    if given is None:
        return None
    if not isinstance(source, dict) or not isinstance(given, str):
        raise LutnnError(f"run.json names --test-data {given!r} without its test_data_source "
                         "(path and sha256); was it edited? retrain the run")
    path = Path(source["path"])
    if not path.is_file():
        raise LutnnError(f"the run's test data {path} (given as {given!r}) is gone; put it "
                         "back or retrain the run on the data at hand")
    if data_source(path)["sha256"] != source.get("sha256"):
        raise LutnnError(f"the run's test data {path} changed since training (its sha256 "
                         "differs from the one in run.json); retrain, or restore the file")
    return str(path)


#: the most examples an automatic validation split takes (:func:`auto_val_size`)
MAX_AUTO_VAL_SIZE = 5000


def auto_val_size(n: int) -> int:
    """The validation size when none is given: 10% of the ``n`` training examples, at most
    :data:`MAX_AUTO_VAL_SIZE` (5,000 of MNIST's 60,000), at least one while ``n >= 2``."""
    return min(MAX_AUTO_VAL_SIZE, max(1, n // 10)) if n >= 2 else 0


def split_indices(n: int, val_size: int | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into sorted ``(train_idx, val_idx)`` by a seeded permutation.

    ``val_idx`` is the first ``val_size`` entries of ``default_rng(seed).permutation(n)``
    (``val_size=None``: :func:`auto_val_size` of ``n``).

    Raises:
        LutnnError: ``val_size`` is not an integer in ``0..n-1`` (training must keep an example).
    """
    if val_size is None:
        val_size = auto_val_size(n)
    ok = isinstance(val_size, (int, np.integer)) and not isinstance(val_size, bool)
    if not ok or not 0 <= val_size < n:
        raise LutnnError(
            f"val_size must be an integer in 0..{n - 1} ({n} training examples), got {val_size!r}"
        )
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[val_size:]), np.sort(perm[:val_size])


def _load_table_dataset(path: Path, label: str | None, val_size: int | None,
                        seed: int, test_data: str | os.PathLike | None = None) -> Dataset:
    """A ``.csv`` / ``.npz`` table (:mod:`lutnn.data.tables`), split as images are; with
    ``test_data``, its test split from that file."""
    from lutnn.data.tables import load_table

    t = load_table(path, label, test_data)
    name = path.stem
    if t.y_train.size and t.y_train.min() < 0 or t.y_test.size and t.y_test.min() < 0:
        raise LutnnError(f"{name}: a label is negative; labels must be 0..K-1 or class names")
    check_label_set(t.y_train, t.y_test, name, t.class_names)
    num_classes = (len(t.class_names) if t.class_names is not None
                   else int(max(t.y_train.max(), t.y_test.max(initial=0))) + 1)
    train_idx, val_idx = split_indices(len(t.x_train), val_size, seed)
    return Dataset(
        x_train=t.x_train[train_idx], y_train=t.y_train[train_idx],
        x_val=t.x_train[val_idx], y_val=t.y_train[val_idx],
        x_test=t.x_test, y_test=t.y_test, num_classes=num_classes, name=name,
        class_names=t.class_names, feature_names=t.feature_names,
    )  # fmt: skip


def _not_a_dataset(path: Path) -> str:
    """What ``path`` (an existing file of no dataset kind) is, for the refusal."""
    tools = {".gz": "gunzip -k", ".bz2": "bunzip2 -k", ".xz": "unxz -k", ".zip": "unzip"}
    tool = tools.get(path.suffix.lower())
    if tool is not None:
        inner = Path(path.stem).suffix.lower()
        then = f"the {inner}" if inner in (".csv", ".npz") else "what it holds"
        return (f"a compressed {inner or 'file'} (decompress it first: {tool} {path.name}, "
                f"then pass {then})")
    return f"not a dataset file (suffix {path.suffix or 'none'!r})"


def load_dataset(
    path: str | os.PathLike | None = None, *, val_size: int | None = None, seed: int = 0,
    label: str | None = None, test_data: str | os.PathLike | None = None,
) -> Dataset:
    """Load a dataset and carve a seeded validation split out of its training set.

    Args:
        path: ``None`` for MNIST (found or fetched, see :mod:`lutnn.data.mnist`); a folder
            holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
            ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (or ``train-images.idx3-ubyte``
            style, each optionally ``.gz``); or a ``.npz`` with keys ``x_train, y_train, x_test,
            y_test`` (uint8 images ``[n, H, W]`` or ``[n, C, H, W]``, integer labels).
            A ``.csv``, or a ``.npz`` with 2-D ``x_train`` / ``x_test``, is a table
            (:mod:`lutnn.data.tables`): float32 ``[n, F]`` samples, ``input_shape`` ``(F,)``.
        val_size: number of training examples moved to the validation set (0 allowed;
            None: :func:`auto_val_size`, 10% of them, at most 5,000; ``len(x_val)`` tells).
        seed: seed of the permutation that picks them; the same seed gives the same split.
        label: a ``.csv`` table's label column (default: the last column).
        test_data: a table's test split from its own file (``--test-data``: a ``.csv`` with
            the same columns, or a ``.npz``'s ``x_test`` / ``y_test``); ``path``'s rows are
            then all training rows (:func:`lutnn.data.tables.load_table`).

    Returns:
        A :class:`Dataset`; ``num_classes`` is the largest label in train or test plus one.
        Each split keeps the original order of its examples.

    Raises:
        LutnnError: missing or malformed files, bad shapes/dtypes/labels, or a bad ``val_size``.

    Example:
        >>> ds = load_dataset(val_size=5000, seed=0)  # doctest: +SKIP
        >>> ds.x_train.shape, ds.x_val.shape, ds.input_shape  # doctest: +SKIP
        ((55000, 1, 28, 28), (5000, 1, 28, 28), (1, 28, 28))
    """
    if path is not None:
        from lutnn.data.tables import is_table_file

        if is_table_file(Path(path)):
            return _load_table_dataset(Path(path), label, val_size, seed, test_data)
    if test_data is not None:
        raise LutnnError(f"--test-data gives a table (.csv or .npz of 2-D float features) its "
                         f"own test split; {path or 'MNIST'} holds images, whose test split "
                         "is their own (x_test / t10k files): drop --test-data")
    if label is not None:
        raise LutnnError(f"--label names the label column of a .csv table; {path or 'MNIST'} "
                         "is not a table")
    if path is None:
        arrays, name = load_mnist(), "mnist"
    else:
        p = Path(path)
        if p.is_dir():
            arrays, name = _load_idx_folder(p), p.name
        elif p.is_file() and p.suffix == ".npz":
            arrays, name = _load_npz(p), p.stem
        elif p.exists():
            raise LutnnError(f"dataset {p} is {_not_a_dataset(p)}; --data takes a .csv or "
                             ".npz table, a .npz of images, or a folder of IDX files")
        else:
            raise LutnnError(f"dataset not found: {p}")
    x_tr, y_tr, x_te, y_te = arrays
    x_tr = _images(x_tr, f"{name}: training images (x_train)")
    x_te = _images(x_te, f"{name}: test images (x_test)")
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise LutnnError(
            f"{name}: training images are {x_tr.shape[1:]} but test images {x_te.shape[1:]}"
        )
    y_tr = _labels(y_tr, len(x_tr), f"{name}: training labels (y_train)")
    y_te = _labels(y_te, len(x_te), f"{name}: test labels (y_test)")
    num_classes = int(max(y_tr.max(), y_te.max(initial=0))) + 1
    check_label_set(y_tr, y_te, name)

    train_idx, val_idx = split_indices(len(x_tr), val_size, seed)
    return Dataset(
        x_train=x_tr[train_idx], y_train=y_tr[train_idx],
        x_val=x_tr[val_idx], y_val=y_tr[val_idx],
        x_test=x_te, y_test=y_te,
        num_classes=num_classes, name=name,
    )  # fmt: skip


def batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int | np.random.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Iterate mini-batches ``(pixels, labels)`` as torch tensors.

    Args:
        x: uint8 images ``[n, C, H, W]``.
        y: integer labels ``[n]``.
        batch_size: examples per batch (the last batch may be smaller unless ``drop_last``).
        shuffle: visit the examples in a random order.
        seed: an int seed, or a ``numpy.random.Generator`` to draw the order from (pass the same
            generator every epoch for a fresh, reproducible order each epoch).  ``None`` with
            ``shuffle`` draws a nondeterministic order.
        drop_last: skip a final incomplete batch.

    Yields:
        float32 ``[B, C, H, W]`` pixel values 0..255 (not rescaled), or a table's float32
        ``[B, F]`` features, and int64 ``[B]`` labels.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x, y = np.zeros((5, 1, 2, 2), np.uint8), np.arange(5)
        >>> [tuple(xb.shape) for xb, _ in batches(x, y, 2, shuffle=True, seed=rng)]
        [(2, 1, 2, 2), (2, 1, 2, 2), (1, 1, 2, 2)]
    """
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    n = len(x)
    if shuffle:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        order = rng.permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        yield (
            torch.from_numpy(np.ascontiguousarray(x[idx])).float(),  # (B, C, H, W)
            torch.from_numpy(np.asarray(y[idx], dtype=np.int64)),  # (B,)
        )
