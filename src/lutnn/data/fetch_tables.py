"""The field's tabular benchmarks, fetched, verified and cached as a table ``.npz``.

``lutnn data jsc`` and ``lutnn data unsw-nb15`` (:func:`fetch_table`) write
``$XDG_CACHE_HOME/lutnn/<name>/<name>.npz`` (default ``~/.cache/lutnn``), the table format of
:mod:`lutnn.data.tables` (``x_train``, ``y_train``, ``x_test``, ``y_test``, ``feature_names``,
``class_names``), plus ``source.json`` recording the data set's name, where the raw files
came from and their SHA-256, and the ``.npz``'s own SHA-256.  A cached file is returned
without fetching again once it matches that record: a corrupt cache, or an ``--out`` naming
a file ``lutnn data`` did not write, is refused (``--force`` fetches again over it).

* ``jsc``: OpenML data set 42468, ``hls4ml_lhc_jets_hlf`` (16 jet-substructure features, 5
  classes g, q, t, w, z; 830,000 jets).  Its description (``<source>/42468``, JSON) names the
  ARFF file and its MD5, which OpenML publishes; the download must match it.  80/20 train/test
  split by a seeded permutation (:data:`~lutnn.data.tables.TEST_SEED`).
* ``unsw-nb15``: the two CSVs the data set's authors split (``UNSW_NB15_training-set.csv``,
  175,341 flows; ``UNSW_NB15_testing-set.csv``, 82,332).  They are served from a SharePoint
  folder without stable links, so ``--source`` names a folder or URL holding them; the row
  counts and the 45-column header are checked.  Features: the 42 flow features (``id`` and
  ``attack_cat`` dropped); ``proto``, ``service``, ``state`` become integer codes of their sorted
  training-set values (unseen test values: one more); label ``label`` (0 normal, 1 attack).

``source`` may be an ``http(s)://`` or ``file://`` URL or a folder, so a mirror or an offline
copy works the same way (the tests use a local server).
"""

from __future__ import annotations

import csv
import hashlib
import io as _io
import json
import os
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lutnn.data.tables import TEST_FRACTION, TEST_SEED, encode_labels
from lutnn.errors import LutnnError
from lutnn.io import atomic_path, write_json

HTTP_TIMEOUT_S = 60.0
OPENML_API = "https://api.openml.org/api/v1/json/data/"
JSC_OPENML_ID = 42468
JSC_FEATURES = 16
JSC_CLASSES = ("g", "q", "t", "w", "z")
UNSW_FILES = {"train": "UNSW_NB15_training-set.csv", "test": "UNSW_NB15_testing-set.csv"}
UNSW_ROWS = {"train": 175_341, "test": 82_332}  # as published by the authors
UNSW_COLUMNS = 45
UNSW_DROP = ("id", "attack_cat")
UNSW_CATEGORICAL = ("proto", "service", "state")
UNSW_PAGE = "https://research.unsw.edu.au/projects/unsw-nb15-dataset"


def table_cache(name: str) -> Path:
    """``$XDG_CACHE_HOME/lutnn/<name>/<name>.npz`` (default ``~/.cache/lutnn``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lutnn" / name / f"{name}.npz"


def read_source(source: str, name: str = "", timeout: float = HTTP_TIMEOUT_S) -> bytes:
    """The bytes of ``name`` under ``source`` (a URL or a folder; ``name`` "" = ``source``)."""
    if "://" not in source:
        path = Path(source) / name if name else Path(source)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise LutnnError(f"cannot read {path}: {exc.strerror}") from None
    url = source.rstrip("/") + "/" + name if name else source
    req = urllib.request.Request(url, headers={"User-Agent": "lutnn"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # user-given or fixed URL
            return resp.read()
    except Exception as exc:  # URLError, HTTPError, timeouts: one line for the user
        raise LutnnError(f"cannot fetch {url}: {exc}") from None


def _seeded_split(n: int) -> tuple[np.ndarray, np.ndarray]:
    n_test = int(round(n * TEST_FRACTION))
    perm = np.random.default_rng(TEST_SEED).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def parse_arff(data: bytes, what: str) -> tuple[list[str], list[str], np.ndarray]:
    """A numeric ARFF with a nominal class last: ``(feature names, class values, rows)``;
    rows is str ``[n, attributes]``."""
    names, rows, in_data = [], [], False
    for line in data.decode("utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("%"):
            continue
        if not in_data:
            low = text.lower()
            if low.startswith("@attribute"):
                rest = text[len("@attribute"):].strip()
                if rest.startswith(("'", '"')):
                    q = rest[0]
                    attr, kind = rest[1:].split(q, 1)
                else:
                    attr, kind = rest.split(None, 1)
                names.append((attr, kind.strip()))
            elif low.startswith("@data"):
                in_data = True
            continue
        rows.append(text)
    if not names or not rows:
        raise LutnnError(f"{what} is not an ARFF file with @attribute lines and @data rows")
    cells = list(csv.reader(rows, quotechar="'", skipinitialspace=True))
    if any(len(r) != len(names) for r in cells):
        raise LutnnError(f"{what}: a data row does not have {len(names)} values")
    kind = names[-1][1]
    if not kind.startswith("{"):
        raise LutnnError(f"{what}: the last attribute must be the nominal class, got {kind}")
    classes = [c.strip().strip("'\"") for c in kind.strip("{}").split(",")]
    return [n for n, _ in names[:-1]], classes, np.array(cells, dtype=str)


def _jsc(source: str | None) -> tuple[dict, dict]:
    base = source or OPENML_API
    desc_bytes = read_source(base, str(JSC_OPENML_ID))
    try:
        desc = json.loads(desc_bytes)["data_set_description"]
        url, md5 = desc["url"], desc["md5_checksum"]
    except (ValueError, KeyError, TypeError):
        raise LutnnError(f"{base}{JSC_OPENML_ID} is not an OpenML data set description "
                         "(JSON with data_set_description.url and md5_checksum)") from None
    raw = read_source(url)
    got = hashlib.md5(raw).hexdigest()
    if got != md5:
        raise LutnnError(f"MD5 mismatch for {url}: got {got}, OpenML publishes {md5}")
    features, classes, cells = parse_arff(raw, url)
    if len(features) != JSC_FEATURES or tuple(sorted(classes)) != JSC_CLASSES:
        raise LutnnError(f"{url}: expected {JSC_FEATURES} features and classes "
                         f"{JSC_CLASSES}, got {len(features)} and {classes}")
    x = cells[:, :-1].astype(np.float64)
    (y,), names = encode_labels([cells[:, -1]], url)
    train, test = _seeded_split(len(y))
    arrays = {"x_train": x[train], "y_train": y[train], "x_test": x[test], "y_test": y[test],
              "feature_names": np.array(features), "class_names": np.array(names)}
    record = {"url": url, "md5": md5, "sha256": hashlib.sha256(raw).hexdigest(),
              "description": f"{base}{JSC_OPENML_ID}"}
    return arrays, record


def _unsw_split(raw: bytes, what: str) -> tuple[list[str], np.ndarray]:
    rows = list(csv.reader(_io.StringIO(raw.decode("utf-8-sig"))))
    rows = [r for r in rows if r]
    header = [h.strip() for h in rows[0]]
    if len(header) != UNSW_COLUMNS or "label" not in header:
        raise LutnnError(f"{what}: expected the {UNSW_COLUMNS}-column UNSW-NB15 header with a "
                         f"'label' column, got {len(header)} columns")
    return header, np.array(rows[1:], dtype=str)


def _unsw(source: str | None) -> tuple[dict, dict]:
    if source is None:
        raise LutnnError(f"UNSW-NB15 has no stable download link: get {UNSW_FILES['train']} and "
                         f"{UNSW_FILES['test']} from {UNSW_PAGE} and pass their folder (or a "
                         "URL serving them) with --source")
    parts, record = {}, {"source": source, "sha256": {}}
    for split, fname in UNSW_FILES.items():
        raw = read_source(source, fname)
        header, cells = _unsw_split(raw, fname)
        if len(cells) != UNSW_ROWS[split]:
            raise LutnnError(f"{fname}: {len(cells)} rows, the published file has "
                             f"{UNSW_ROWS[split]}; is it the authors' {split} split?")
        parts[split] = (header, cells)
        record["sha256"][fname] = hashlib.sha256(raw).hexdigest()
    header = parts["train"][0]
    if parts["test"][0] != header:
        raise LutnnError(f"{UNSW_FILES['test']} has another header than {UNSW_FILES['train']}")
    keep = [h for h in header if h not in (*UNSW_DROP, "label")]
    vocab = {c: sorted(set(parts["train"][1][:, header.index(c)].tolist()))
             for c in UNSW_CATEGORICAL}
    arrays: dict = {"feature_names": np.array(keep), "class_names": np.array(["normal",
                                                                            "attack"])}
    for split, (_, cells) in parts.items():
        cols = []
        for h in keep:
            col = cells[:, header.index(h)]
            if h in vocab:
                codes = {v: i for i, v in enumerate(vocab[h])}
                cols.append(np.array([codes.get(v, len(codes)) for v in col.tolist()],
                                     np.float64))
            else:
                try:
                    cols.append(col.astype(np.float64))
                except ValueError:
                    raise LutnnError(f"{UNSW_FILES[split]}: column {h!r} is not numeric"
                                     ) from None
        arrays[f"x_{split}"] = np.stack(cols, axis=1)
        arrays[f"y_{split}"] = cells[:, header.index("label")].astype(np.int64)
    return arrays, record


@dataclass(frozen=True)
class TableSet:
    """A fetchable benchmark table."""

    description: str
    fetch: Callable[[str | None], tuple[dict, dict]]  # source -> (npz arrays, source record)


TABLE_SETS: dict[str, TableSet] = {
    "jsc": TableSet("jet substructure (OpenML 42468 hls4ml_lhc_jets_hlf): 16 features, 5 "
                    "classes", _jsc),
    "unsw-nb15": TableSet("network intrusion detection (UNSW-NB15, the authors' train/test "
                          "split): 42 features, 2 classes", _unsw),
}


def fetch_table(name: str, *, source: str | None = None, dest: str | os.PathLike | None = None,
                force: bool = False) -> Path:
    """Fetch, verify and cache benchmark table ``name``; returns the ``.npz`` path.

    Args:
        name: a key of :data:`TABLE_SETS`.
        source: where to read the raw files (a URL or a folder; see the module docstring).
        dest: the ``.npz`` to write (default :func:`table_cache`); ``source.json`` beside it.
        force: fetch again even when ``dest`` exists.

    Raises:
        LutnnError: an unknown name, an unreachable source, a checksum or format mismatch.
    """
    spec = TABLE_SETS.get(name)
    if spec is None:
        raise LutnnError(f"unknown data set {name!r}; known: {', '.join(TABLE_SETS)}")
    dest = Path(dest) if dest is not None else table_cache(name)
    if dest.exists() and not force:
        check_cached(dest, name)
        return dest
    print(f"lutnn: fetching {name} into {dest} ...", file=sys.stderr)
    arrays, record = spec.fetch(source)
    for key in ("x_train", "x_test"):
        arrays[key] = arrays[key].astype(np.float32)
    buf = _io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    write_json(dest.parent / "source.json", {**record, "name": name, "npz": dest.name,
                                             "npz_sha256": hashlib.sha256(data).hexdigest()})
    return dest


def check_cached(dest: Path, name: str) -> None:
    """Refuse a cached ``dest`` that is not the table ``name`` as :func:`fetch_table` wrote
    it: no ``source.json`` beside it naming it, another data set's, or other bytes than the
    SHA-256 recorded there.

    Raises:
        LutnnError: naming what is wrong and the fix (``--force``, or another ``--out``).
    """
    from lutnn.io import file_sha256, read_json

    record_path = dest.parent / "source.json"
    record = read_json(record_path, "source record") if record_path.is_file() else None
    if not dest.is_file() or not isinstance(record, dict) or record.get("npz") != dest.name:
        raise LutnnError(f"{dest} exists but is no table `lutnn data` wrote (no source.json "
                         f"beside it names it); choose another --out, or pass --force to "
                         f"replace it with {name}")
    if record.get("name", name) != name:
        raise LutnnError(f"{dest} holds the {record['name']} table, not {name}; choose another "
                         "--out, or pass --force to replace it")
    if file_sha256(dest) != record.get("npz_sha256"):
        raise LutnnError(f"{dest} does not match the SHA-256 its source.json records (corrupt, "
                         f"or changed since it was fetched); pass --force to fetch {name} again")


__all__ = ["TABLE_SETS", "check_cached", "fetch_table", "parse_arff", "read_source", "table_cache"]
