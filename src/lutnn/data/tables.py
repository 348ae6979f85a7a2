"""Tabular data: a ``.csv`` with a header, or a ``.npz`` of 2-D feature matrices.

A table's samples are float32 ``[n, F]`` feature vectors (``Dataset.input_shape == (F,)``);
the models' feature encoders map each feature to W-bit fixed point in hardware (see
:class:`lutnn.data.encodings.FeatureThermometer`).

* ``.csv``: one header line naming the columns, then one sample per line.  The label is the
  column ``label`` names (default: the last one); every other column must be numeric.  A
  single file holds every sample: the test split is a seeded :data:`TEST_FRACTION` of the
  rows (seed :data:`TEST_SEED`, the same whatever the run's seed).
* ``.npz``: ``x_train``, ``x_test`` 2-D floats ``[n, F]``; ``y_train``, ``y_test`` integer
  class indices or strings; optionally ``feature_names`` and ``class_names``.

Labels that are not all integers are class names: classes are their sorted distinct values
(``class_names``, recorded in run.json).  Missing values, non-numeric features, NaN or
infinite values, values beyond float32 (features are float32), labels that are no class
index and an unknown label column are user errors naming the file, the place and the column.
Places are counted one way everywhere: in a ``.csv`` the line of the file, as an editor
numbers it (the header is line 1); in a ``.npz`` the array and its row index, from 0
(``x_train row 7``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lutnn.errors import LutnnError

TEST_FRACTION = 0.2  # of a .csv's rows, carved out as the test split
TEST_SEED = 0  # seed of that carve-out (independent of the run's seed)
MISSING = frozenset({"", "na", "n/a", "null", "none", "?", "-"})  # missing markers
FLOAT32_MAX = float(np.finfo(np.float32).max)  # ~3.4e38: the largest feature value
_INT = re.compile(r"[+-]?\d+")


@dataclass(frozen=True, eq=False)
class Table:
    """A table's splits as read (before the validation carve-out)."""

    x_train: np.ndarray  # float32 (N, F)
    y_train: np.ndarray  # int64 (N,)
    x_test: np.ndarray  # float32 (Nt, F)
    y_test: np.ndarray  # int64 (Nt,)
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...] | None  # None: the labels were integers


def is_table_file(path: Path) -> bool:
    """A ``.csv``, or a ``.npz`` whose ``x_train`` is 2-D floats (images are uint8, 3-D or
    4-D)."""
    if path.suffix.lower() == ".csv":
        return True
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as npz:
            x = npz["x_train"] if "x_train" in npz.files else None
            return x is not None and x.ndim == 2 and x.dtype.kind == "f"
    except Exception:  # unreadable: the image loader reports it
        return False


def _place(i: int, first_line: int | None, array: str) -> str:
    """Where sample ``i`` is, for a message: ``line L`` of a .csv whose first sample is on
    line ``first_line``, else ``ARRAY row i`` of a .npz (from 0)."""
    return f"line {first_line + i}" if first_line is not None else f"{array} row {i}"


def encode_labels(parts: list[np.ndarray], what: str, names: tuple[str, ...] | None = None,
                  *, first_line: int | None = None,
                  arrays: tuple[str, ...] = ("y_train", "y_test"),
                  ) -> tuple[list[np.ndarray], tuple | None]:
    """Class indices int64 of each array in ``parts`` (labels of the splits, in order).

    Integer labels (ints, or strings that all read as integers) are kept as they are; other
    strings are class names, numbered in sorted order over all ``parts``.  Messages name a
    .csv's file line (``first_line``: the line of ``parts[0][0]``, one part) or the .npz
    array (``arrays``, one name per part) and row.

    Raises:
        LutnnError: a missing label, an integer label beyond int64 (no class index), or
            labels that are neither integers nor strings.
    """
    arrays = (*arrays, *("labels",) * len(parts))[: len(parts)]  # one name per part
    kinds = {p.dtype.kind for p in parts}
    if kinds <= set("iu"):
        return [_int64_labels(p, what, first_line, a)
                for p, a in zip(parts, arrays, strict=True)], names
    if not kinds <= set("US"):
        raise LutnnError(f"{what}: labels must be integers or strings, got dtype "
                         f"{', '.join(str(p.dtype) for p in parts)}")
    text = [np.char.strip(p.astype(str)) for p in parts]
    for p, array in zip(text, arrays, strict=True):
        bad = np.flatnonzero(np.isin(np.char.lower(p), list(MISSING)))
        if bad.size:
            raise LutnnError(f"{what}: the label at {_place(int(bad[0]), first_line, array)} "
                             f"is missing ({str(p[bad[0]])!r})")
    if all(_INT.fullmatch(v) for p in text for v in np.unique(p)):
        return [_int64_labels(p, what, first_line, a)
                for p, a in zip(text, arrays, strict=True)], None
    classes = np.unique(np.concatenate(text))
    return [np.searchsorted(classes, p).astype(np.int64) for p in text], tuple(classes.tolist())


def _int64_labels(labels: np.ndarray, what: str, first_line: int | None,
                  array: str) -> np.ndarray:
    """Integer labels (ints, or strings of integers) as int64; one beyond int64 is refused
    by its place (a class index that large means the column is no label)."""
    try:
        if labels.dtype.kind == "u" and labels.size and labels.max() > np.iinfo(np.int64).max:
            raise OverflowError
        return labels.astype(np.int64)
    except OverflowError:
        limit = np.iinfo(np.int64).max
        i = next(i for i, v in enumerate(labels.tolist()) if abs(int(v)) > limit)
        raise LutnnError(f"{what}: the label {labels[i]} at {_place(i, first_line, array)} is "
                         "no class index (labels must be 0..K-1 or class names); is it the "
                         "label column?") from None


def _numeric_column(values: np.ndarray, column: str, path: Path, first_line: int) -> np.ndarray:
    """float64 of one column's strings; ``first_line`` is the file line of ``values[0]``."""
    low = np.char.lower(np.char.strip(values))
    missing = np.flatnonzero(np.isin(low, list(MISSING)))
    if missing.size:
        i = int(missing[0])
        raise LutnnError(f"{path}: missing value in column {column!r} at line {first_line + i} "
                         f"({str(values[i])!r}); fill or drop the rows with missing values")
    try:
        out = values.astype(np.float64)
    except ValueError:
        for i, v in enumerate(values.tolist()):
            try:
                float(v)
            except ValueError:
                raise LutnnError(
                    f"{path}: column {column!r} is not numeric (line {first_line + i}: {v!r}); "
                    "encode it as numbers or drop it (only the label column may hold text)"
                ) from None
        raise
    _check_values(out[:, None], f"{path}: column {column!r}",
                  lambda r, c: f"line {first_line + r}")
    return out


def _check_values(x: np.ndarray, what: str, place) -> None:
    """Refuse NaN, inf and finite values beyond float32's range in ``x`` ``[n, F]``;
    ``place(row, feature)`` names where (:func:`_place`)."""
    for bad, problem, fix in (
            (~np.isfinite(x), "NaN or infinite values", "clean the data first"),
            (np.abs(x) > FLOAT32_MAX, f"values beyond float32's range (+-{FLOAT32_MAX:.1e}; "
             "features are float32)", "rescale that feature (e.g. to its logarithm or to "
             "other units)")):
        where = np.argwhere(bad)
        if where.size:
            r, c = (int(v) for v in where[0])
            raise LutnnError(f"{what} holds {problem} ({place(r, c)}: {x[r, c]:g}); {fix}")


def read_csv_table(path: str | Path, label: str | None = None) -> Table:
    """Read a ``.csv`` table (see the module docstring).

    Raises:
        LutnnError: an empty file, ragged rows, a missing label column, missing or
            non-numeric values, NaN / inf.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LutnnError(f"{path} is not a readable CSV file ({type(exc).__name__}: {exc})"
                         ) from None
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()  # trailing blank lines
    if len(rows) < 2:
        raise LutnnError(f"{path}: a table needs a header line and at least one row")
    header = [h.strip() for h in rows[0]]
    if len(header) < 2:
        raise LutnnError(f"{path}: the header names {len(header)} column(s); a table needs "
                         "features and a label (is it comma-separated?)")
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise LutnnError(f"{path}: the header names column {dup!r} twice")
    target = header[-1] if label is None else label
    if target not in header:
        raise LutnnError(f"{path} has no column {label!r} for the labels; its columns: "
                         f"{', '.join(header)}")
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise LutnnError(f"{path}: line {i} has {len(row)} fields, the header {len(header)}")
    cells = np.array(rows[1:], dtype=str)  # (n, columns)
    li = header.index(target)
    features = [h for j, h in enumerate(header) if j != li]
    x = np.stack([_numeric_column(cells[:, j], h, path, 2)
                  for j, h in enumerate(header) if j != li], axis=1)
    (y,), names = encode_labels([cells[:, li]], f"{path}: column {target!r}", first_line=2)
    if names is None and y.size and y.min() < 0:
        i = int(np.argmin(y))
        raise LutnnError(f"{path}: column {target!r}: the label {y[i]} at line {i + 2} is "
                         "negative; labels must be 0..K-1 or class names")
    x32 = x.astype(np.float32)  # every value checked to fit (_numeric_column)
    n = len(y)
    n_test = int(round(n * TEST_FRACTION))
    if n_test < 1 or n - n_test < 2:
        raise LutnnError(f"{path}: {n} rows are too few to carve a {TEST_FRACTION:.0%} test "
                         "split from")
    perm = np.random.default_rng(TEST_SEED).permutation(n)
    test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    return Table(x32[train], y[train], x32[test], y[test], tuple(features), names)


def _to_float32(x: np.ndarray, path: Path, array: str) -> np.ndarray:
    """A .npz table's features as float32, every value checked to fit (:func:`_check_values`)."""
    _check_values(x, f"{path}: {array}", lambda r, c: f"{array} row {r}, feature {c}")
    return x.astype(np.float32)


def read_npz_table(path: str | Path) -> Table:
    """Read a ``.npz`` table (see the module docstring).

    Raises:
        LutnnError: missing keys, shapes that disagree, non-numeric features, NaN / inf.
    """
    path = Path(path)
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise LutnnError(f"{path} lacks key(s) {missing}; a table .npz needs "
                                 f"{list(keys)} (it has {sorted(npz.files)})")
            arrays = {k: npz[k] for k in npz.files}
    except LutnnError:
        raise
    except Exception as exc:  # zipfile/pickle/value errors: a corrupt or non-npz file
        raise LutnnError(f"{path} is not a readable .npz file ({type(exc).__name__}: {exc})"
                         ) from None
    x_tr, x_te = arrays["x_train"], arrays["x_test"]
    for name, x in (("x_train", x_tr), ("x_test", x_te)):
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise LutnnError(f"{path}: {name} has shape {x.shape}; a table is [n, F] features")
        if x.dtype.kind != "f":
            raise LutnnError(f"{path}: {name} must hold float features, got dtype {x.dtype} "
                             "(convert it with .astype(np.float32))")
    if x_tr.shape[1] != x_te.shape[1]:
        raise LutnnError(f"{path}: x_train has {x_tr.shape[1]} features but x_test "
                         f"{x_te.shape[1]}")
    y_tr, y_te = arrays["y_train"], arrays["y_test"]
    for name, y, x in (("y_train", y_tr, x_tr), ("y_test", y_te, x_te)):
        if y.shape != (len(x),):
            raise LutnnError(f"{path}: {name} has shape {y.shape}; expected ({len(x)},), one "
                             "label per row")
    names = tuple(arrays["class_names"].astype(str).tolist()) if "class_names" in arrays \
        else None
    (y_tr, y_te), names = encode_labels([y_tr, y_te], f"{path}: labels", names)
    f = x_tr.shape[1]
    features = (tuple(arrays["feature_names"].astype(str).tolist())
                if "feature_names" in arrays else tuple(f"x{j}" for j in range(f)))
    if len(features) != f:
        raise LutnnError(f"{path}: feature_names names {len(features)} features, x has {f}")
    return Table(_to_float32(x_tr, path, "x_train"), y_tr,
                 _to_float32(x_te, path, "x_test"), y_te, features, names)


def load_table(path: str | Path, label: str | None = None) -> Table:
    """A ``.csv`` or ``.npz`` table; ``label`` names a ``.csv``'s label column."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise LutnnError(f"dataset not found: {path}")
        return read_csv_table(path, label)
    if label is not None:
        raise LutnnError(f"--label names the label column of a .csv table; {path} is a .npz "
                         "with y_train / y_test")
    return read_npz_table(path)


def table_record(dataset, label: str | None) -> dict:
    """What run.json records of a table: ``label`` (the .csv column given) and
    ``class_names`` (when the labels were strings); empty for images."""
    record: dict = {}
    if label is not None:
        record["label"] = label
    if getattr(dataset, "class_names", None) is not None:
        record["class_names"] = list(dataset.class_names)
    return record


__all__ = ["MISSING", "TEST_FRACTION", "TEST_SEED", "Table", "encode_labels", "is_table_file",
           "load_table", "read_csv_table", "read_npz_table", "table_record"]
