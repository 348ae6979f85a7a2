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


def _npz_place(part: int, row: int) -> str:
    """Where a label is in a .npz: ``y_train row 7`` (``part`` 0), ``y_test row 7`` (1)."""
    return f"{('y_train', 'y_test')[part] if part < 2 else 'labels'} row {row}"


def encode_labels(parts: list[np.ndarray], what: str, names: tuple[str, ...] | None = None,
                  *, where=_npz_place) -> tuple[list[np.ndarray], tuple | None]:
    """Class indices int64 of each array in ``parts`` (labels of the splits, in order).

    Integer labels (ints, or strings that all read as integers) are kept as they are; other
    strings are class names, numbered in sorted order over all ``parts``.  ``where(part,
    row)`` names a label's place in messages (default: the .npz array and row; a .csv
    passes its file lines).

    Raises:
        LutnnError: a missing label, an integer label beyond int64 (no class index), or
            labels that are neither integers nor strings.
    """
    kinds = {p.dtype.kind for p in parts}
    if kinds <= set("iu"):
        return [_int64_labels(p, what, lambda i, k=k: where(k, i))
                for k, p in enumerate(parts)], names
    if not kinds <= set("US"):
        raise LutnnError(f"{what}: labels must be integers or strings, got dtype "
                         f"{', '.join(str(p.dtype) for p in parts)}")
    text = [np.char.strip(p.astype(str)) for p in parts]
    for k, p in enumerate(text):
        bad = np.flatnonzero(np.isin(np.char.lower(p), list(MISSING)))
        if bad.size:
            raise LutnnError(f"{what}: the label at {where(k, int(bad[0]))} is missing "
                             f"({str(p[bad[0]])!r})")
    if all(_INT.fullmatch(v) for p in text for v in np.unique(p)):
        return [_int64_labels(p, what, lambda i, k=k: where(k, i))
                for k, p in enumerate(text)], None
    classes = np.unique(np.concatenate(text))
    return [np.searchsorted(classes, p).astype(np.int64) for p in text], tuple(classes.tolist())


def _int64_labels(labels: np.ndarray, what: str, place) -> np.ndarray:
    """Integer labels (ints, or strings of integers) as int64; one beyond int64 is refused
    by its place (``place(row)``: a class index that large means the column is no label)."""
    try:
        if labels.dtype.kind == "u" and labels.size and labels.max() > np.iinfo(np.int64).max:
            raise OverflowError
        return labels.astype(np.int64)
    except OverflowError:
        limit = np.iinfo(np.int64).max
        i = next(i for i, v in enumerate(labels.tolist()) if abs(int(v)) > limit)
        raise LutnnError(f"{what}: the label {labels[i]} at {place(i)} is "
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
    ``place(row, feature)`` names where."""
    for bad, problem, fix in (
            (~np.isfinite(x), "NaN or infinite values", "clean the data first"),
            (np.abs(x) > FLOAT32_MAX, f"values beyond float32's range (+-{FLOAT32_MAX:.1e}; "
             "features are float32)", "rescale that feature (e.g. to its logarithm or to "
             "other units)")):
        where = np.argwhere(bad)
        if where.size:
            r, c = (int(v) for v in where[0])
            raise LutnnError(f"{what} holds {problem} ({place(r, c)}: {x[r, c]:g}); {fix}")


@dataclass(frozen=True, eq=False)
class _Part:
    """One file's rows of a table, their labels as read (encoded with the other part's)."""

    x: np.ndarray  # float32 (n, F)
    labels: np.ndarray  # (n,) as read: strings (.csv) or the .npz's array
    features: tuple[str, ...]
    class_names: tuple[str, ...] | None  # a .npz's class_names
    path: Path
    first_line: int | None = None  # a .csv: the file line of row 0
    array: str = "y_train"  # a .npz: the labels' array

    def place(self, row: int, named: bool = False) -> str:
        """``line L`` of a .csv (``named``: ``line L of FILE``), ``y_test row i`` of a .npz."""
        if self.first_line is None:
            return f"{self.array} row {row}" + (f" of {self.path.name}" if named else "")
        return f"line {self.first_line + row}" + (f" of {self.path.name}" if named else "")


def _csv_part(path: Path, label: str | None) -> tuple[_Part, str]:
    """Every row of a ``.csv`` table, and the label column's name.

    Raises:
        LutnnError: an empty file, ragged rows, a missing label column, missing or
            non-numeric values, NaN / inf, values beyond float32.
    """
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
    features = tuple(h for j, h in enumerate(header) if j != li)
    x = np.stack([_numeric_column(cells[:, j], h, path, 2)
                  for j, h in enumerate(header) if j != li], axis=1)
    x32 = x.astype(np.float32)  # every value checked to fit (_numeric_column)
    return _Part(x32, cells[:, li], features, None, path, first_line=2), target


def _encoded(parts: list[_Part], what: str) -> tuple[list[np.ndarray], tuple | None]:
    """The parts' labels as class indices, numbered together (class names over all parts);
    a negative one refused at its place."""
    names = [p.class_names for p in parts if p.class_names is not None]
    if len(set(names)) > 1:
        raise LutnnError(f"{what}: the files name other classes ({', '.join(names[0])} and "
                         f"{', '.join(names[1])}); give them the same class_names")
    named = len({p.path for p in parts}) > 1  # two files: places say which

    def where(k: int, row: int) -> str:
        return parts[k].place(row, named)

    ys, class_names = encode_labels([p.labels for p in parts], what,
                                    names[0] if names else None, where=where)
    for k, y in enumerate(ys):  # class names are numbered from 0: only integers can be < 0
        if y.size and y.min() < 0:
            i = int(np.argmin(y))
            raise LutnnError(f"{what}: the label {y[i]} at {where(k, i)} is negative; "
                             "labels must be 0..K-1 or class names")
    return ys, class_names


def read_csv_table(path: str | Path, label: str | None = None) -> Table:
    """Read a ``.csv`` table (see the module docstring): its test split a seeded
    :data:`TEST_FRACTION` of the rows.

    Raises:
        LutnnError: an empty file, ragged rows, a missing label column, missing or
            non-numeric values, NaN / inf; too few rows to carve a test split from.
    """
    path = Path(path)
    part, target = _csv_part(path, label)
    (y,), names = _encoded([part], f"{path}: column {target!r}")
    n = len(y)
    n_test = int(round(n * TEST_FRACTION))
    if n_test < 1 or n - n_test < 2:
        raise LutnnError(f"{path}: {n} rows are too few to carve a {TEST_FRACTION:.0%} test "
                         "split from")
    perm = np.random.default_rng(TEST_SEED).permutation(n)
    test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    return Table(part.x[train], y[train], part.x[test], y[test], part.features, names)


def _to_float32(x: np.ndarray, path: Path, array: str) -> np.ndarray:
    """A .npz table's features as float32, every value checked to fit (:func:`_check_values`)."""
    _check_values(x, f"{path}: {array}", lambda r, c: f"{array} row {r}, feature {c}")
    return x.astype(np.float32)


def _npz_parts(path: Path, splits: tuple[str, ...] = ("train", "test")) -> list[_Part]:
    """The ``splits`` of a ``.npz`` table (``x_<split>`` / ``y_<split>``), checked.

    Raises:
        LutnnError: an unreadable file, missing keys, shapes that disagree, non-float
            features, NaN / inf, values beyond float32.
    """
    keys = [f"{xy}_{split}" for split in splits for xy in ("x", "y")]
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise LutnnError(f"{path} lacks key(s) {missing}; a table .npz needs "
                                 f"{keys} (it has {sorted(npz.files)})")
            arrays = {k: npz[k] for k in npz.files}
    except LutnnError:
        raise
    except Exception as exc:  # zipfile/pickle/value errors: a corrupt or non-npz file
        raise LutnnError(f"{path} is not a readable .npz file ({type(exc).__name__}: {exc})"
                         ) from None
    names = (tuple(arrays["class_names"].astype(str).tolist()) if "class_names" in arrays
             else None)
    parts = []
    for split in splits:
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise LutnnError(f"{path}: x_{split} has shape {x.shape}; a table is [n, F] "
                             "features")
        if x.dtype.kind != "f":
            raise LutnnError(f"{path}: x_{split} must hold float features, got dtype "
                             f"{x.dtype} (convert it with .astype(np.float32))")
        if y.shape != (len(x),):
            raise LutnnError(f"{path}: y_{split} has shape {y.shape}; expected ({len(x)},), "
                             "one label per row")
        f = x.shape[1]
        features = (tuple(arrays["feature_names"].astype(str).tolist())
                    if "feature_names" in arrays else tuple(f"x{j}" for j in range(f)))
        if len(features) != f:
            raise LutnnError(f"{path}: feature_names names {len(features)} features, x has {f}")
        parts.append(_Part(_to_float32(x, path, f"x_{split}"), y, features, names, path,
                           array=f"y_{split}"))
    return parts


def _same_features(train: _Part, test: _Part) -> None:
    """Refuse a test part whose features are not the training part's."""
    a, b = train.x.shape[1], test.x.shape[1]
    if a != b and train.path == test.path:
        raise LutnnError(f"{train.path}: x_train has {a} features but x_test {b}")
    if a != b:
        raise LutnnError(f"{test.path} has {b} features, but {train.path} has {a}; the "
                         "test data must have the training data's columns, in the same order")
    if train.path != test.path and train.features != test.features:
        raise LutnnError(f"{test.path} has the columns {', '.join(test.features)}, but "
                         f"{train.path} has {', '.join(train.features)}; the test data must "
                         "have the training data's columns, in the same order")


def read_npz_table(path: str | Path) -> Table:
    """Read a ``.npz`` table (see the module docstring).

    Raises:
        LutnnError: missing keys, shapes that disagree, non-numeric features, NaN / inf.
    """
    path = Path(path)
    train, test = _npz_parts(path)
    _same_features(train, test)
    (y_tr, y_te), names = _encoded([train, test], f"{path}: labels")
    return Table(train.x, y_tr, test.x, y_te, train.features, names)


def _part(path: Path, label: str | None, split: str) -> _Part:
    """All rows of a ``.csv``, or the ``split`` of a ``.npz`` table."""
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise LutnnError(f"dataset not found: {path}")
        return _csv_part(path, label)[0]
    if path.suffix.lower() != ".npz" or not path.is_file():
        raise LutnnError(f"{path} is {'not found' if not path.exists() else 'no table'}: a "
                         "table is a .csv, or a .npz with 2-D float x_train / x_test")
    return _npz_parts(path, (split,))[0]


def load_table(path: str | Path, label: str | None = None,
               test_path: str | Path | None = None) -> Table:
    """A ``.csv`` or ``.npz`` table; ``label`` names a ``.csv``'s label column.

    With ``test_path`` (``--test-data``), the test split is that file's rows (a ``.csv``:
    all of them, same columns; a ``.npz``: its ``x_test`` / ``y_test``) and every row of
    ``path`` (a ``.npz``: its ``x_train`` / ``y_train``) is a training row; no 20% is carved.
    Class names are numbered over both files.
    """
    path = Path(path)
    if label is not None and path.suffix.lower() != ".csv" and (
            test_path is None or Path(test_path).suffix.lower() != ".csv"):
        raise LutnnError(f"--label names the label column of a .csv table; {path} is a .npz "
                         "with y_train / y_test")
    if test_path is None:
        if path.suffix.lower() == ".csv":
            if not path.is_file():
                raise LutnnError(f"dataset not found: {path}")
            return read_csv_table(path, label)
        return read_npz_table(path)
    train, test = _part(path, label, "train"), _part(Path(test_path), label, "test")
    _same_features(train, test)
    (y_tr, y_te), names = _encoded([train, test], f"{path} and {test_path}: labels")
    return Table(train.x, y_tr, test.x, y_te, train.features, names)


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
