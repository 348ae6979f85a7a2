"""Save and load a :class:`~lutnn.ir.Netlist` as a folder: ``netlist.json`` + ``netlist.npz``.

``netlist.json`` holds the structure a person reads: format version, widths, each layer's type,
name and scalar fields, the key, dtype and shape of each of its arrays, and ``meta``.
``netlist.npz`` holds the arrays (``encoder/thresholds``, ``{i}/inputs``, ``{i}/tables``, ...,
with ``i`` the layer's position), loaded with ``allow_pickle=False``.  Both files are written
atomically, the arrays first; the JSON records the SHA-256 of the npz so that a pair from two
different saves (an interrupted overwrite) is refused on load instead of mixing two netlists.

Example:
    >>> import numpy as np, tempfile
    >>> from lutnn.ir import LutLayer, Netlist
    >>> lut = LutLayer("l", 2, np.zeros((1, 2), np.int32), np.zeros((1, 4), np.uint8))
    >>> net = Netlist(2, (lut,))
    >>> folder = tempfile.mkdtemp()
    >>> save_netlist(net, folder)
    >>> load_netlist(folder).layers[0].name
    'l'
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from lutnn.errors import LutnnError
from lutnn.io import atomic_path, read_json, write_json
from lutnn.ir.dispatch import MissingEntryError
from lutnn.ir.layers import (
    ENCODERS,
    BitplaneEncoder,
    FeatureEncoder,
    GroupSumHead,
    InputEncoder,
    LutLayer,
    Netlist,
    OrLayer,
    ThresholdLayer,
)
from lutnn.ir.spatial import SPATIAL_LAYERS

JSON_NAME = "netlist.json"
NPZ_NAME = "netlist.npz"
FORMAT = "lutnn.netlist"

# The node types a netlist file holds, by name.  Each one's arrays are its ARRAYS declaration
# (lutnn.ir.layers); every other dataclass field is a JSON scalar (str or int).  The lowered
# form (LogicLayer, LoweredHead) exists only between the lowering passes and the emitter.
# The spatial nodes (lutnn.ir.spatial) are saved like the flat layers.
LAYER_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (InputEncoder, FeatureEncoder, BitplaneEncoder, LutLayer, ThresholdLayer,
                OrLayer, GroupSumHead, *SPATIAL_LAYERS)
}
_SCALAR_TYPES = {"name": str}  # every other scalar field is an int


def _array_dtypes(cls: type) -> dict[str, np.dtype]:
    return {spec.name: spec.dtype for spec in cls.ARRAYS}


def _scalar_fields(cls: type) -> list[str]:
    arrays = _array_dtypes(cls)
    return [f.name for f in dataclasses.fields(cls) if f.name not in arrays]


def _layer_to_json(layer: Any, key: str, arrays: dict[str, np.ndarray]) -> dict:
    cls = type(layer)
    if LAYER_TYPES.get(cls.__name__) is not cls:
        raise MissingEntryError(
            f"backend 'ir.serialize' has no entry for IR node type {cls.__name__} (it saves: "
            f"{', '.join(LAYER_TYPES)}); save the netlist before lowering it"
        )
    entry: dict[str, Any] = {"type": cls.__name__}
    for name in _scalar_fields(cls):
        value = getattr(layer, name)
        assert isinstance(value, (str, int)), f"{cls.__name__}.{name} is not a JSON scalar"
        entry[name] = value
    entry["arrays"] = {}
    for name in _array_dtypes(cls):
        arr = getattr(layer, name)
        arrays[f"{key}/{name}"] = arr
        entry["arrays"][name] = {
            "key": f"{key}/{name}",
            "dtype": str(arr.dtype),
            "shape": list(arr.shape),
        }
    return entry


def save_netlist(netlist: Netlist, folder: str | os.PathLike) -> None:
    """Write ``folder/netlist.json`` and ``folder/netlist.npz`` (each atomically).

    Args:
        netlist: a valid netlist; ``meta`` must be JSON-serializable (tuples come back as
            lists).
        folder: created if missing; existing netlist files in it are replaced.

    Raises:
        ValueError: the netlist fails ``validate()`` or its meta is not JSON-serializable.
    """
    netlist.validate()
    folder = Path(folder)
    arrays: dict[str, np.ndarray] = {}
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": Netlist.VERSION,
        "input_bits": netlist.input_bits,
        "encoder": None,
        "layers": [],
        "head": None,
    }
    if netlist.encoder is not None:
        doc["encoder"] = _layer_to_json(netlist.encoder, "encoder", arrays)
    doc["layers"] = [
        _layer_to_json(layer, str(i), arrays) for i, layer in enumerate(netlist.layers)
    ]
    if netlist.head is not None:
        doc["head"] = _layer_to_json(netlist.head, "head", arrays)
    try:
        doc["meta"] = json.loads(json.dumps(netlist.meta))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"netlist meta is not JSON-serializable: {exc}") from None

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    doc["npz_sha256"] = hashlib.sha256(data).hexdigest()
    with atomic_path(folder / NPZ_NAME) as tmp:
        tmp.write_bytes(data)
    write_json(folder / JSON_NAME, doc)


def _fail(path: Path, msg: str) -> LutnnError:
    return LutnnError(f"netlist {path}: {msg}; re-export the netlist")


def _layer_from_json(
    entry: Any, where: str, arrays: Any, path: Path, expected: tuple[type, ...]
) -> Any:
    if not isinstance(entry, dict):
        raise _fail(path, f"{where} must be a JSON object, got {type(entry).__name__}")
    type_name = entry.get("type")
    cls = LAYER_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        known = ", ".join(c.__name__ for c in expected)
        raise _fail(path, f"{where} has unknown layer type {type_name!r} (known here: {known})")
    if cls not in expected:
        raise _fail(path, f"{where} cannot be a {type_name}")
    kwargs: dict[str, Any] = {}
    for name in _scalar_fields(cls):
        want = _SCALAR_TYPES.get(name, int)
        value = entry.get(name)
        if not isinstance(value, want) or isinstance(value, bool):
            raise _fail(
                path, f"{where} ({type_name}) field {name!r} must be {want.__name__}, got {value!r}"
            )
        kwargs[name] = value
    specs = entry.get("arrays")
    if not isinstance(specs, dict):
        raise _fail(path, f"{where} ({type_name}) has no 'arrays' object")
    for name, dtype in _array_dtypes(cls).items():
        spec = specs.get(name)
        key = spec.get("key") if isinstance(spec, dict) else None
        if not isinstance(key, str) or key not in arrays.files:
            raise _fail(path, f"array {name!r} of {where} ({type_name}) is missing from {NPZ_NAME}")
        arr = arrays[key]
        if arr.dtype != dtype:
            raise _fail(
                path,
                f"array {name!r} of {where} ({type_name}) has dtype {arr.dtype}, expected {dtype}",
            )
        kwargs[name] = arr
    return cls(**kwargs)


def load_netlist(folder: str | os.PathLike) -> Netlist:
    """Read a netlist saved by :func:`save_netlist` and validate it.

    Raises:
        LutnnError: a file is missing or malformed, the version is unsupported, a layer type is
            unknown, an array is missing or has the wrong dtype, the two files come from
            different saves, or the netlist fails validation; the message says which.
    """
    folder = Path(folder)
    json_path, npz_path = folder / JSON_NAME, folder / NPZ_NAME
    doc = read_json(json_path, "netlist file")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _fail(json_path, f'not a lutnn netlist (no "format": "{FORMAT}")')
    version = doc.get("version")
    if type(version) is not int or version != Netlist.VERSION:
        raise LutnnError(
            f"netlist {json_path} has format version {version!r}, but this lutnn reads version "
            f"{Netlist.VERSION}; re-export it with this lutnn"
        )
    if not npz_path.is_file():
        raise LutnnError(f"netlist arrays not found: {npz_path} (it is written beside {JSON_NAME})")
    data = npz_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != doc.get("npz_sha256"):
        raise _fail(
            npz_path,
            f"the arrays do not belong to {JSON_NAME} (checksum mismatch: a partial or mixed save)",
        )
    try:
        arrays = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise _fail(npz_path, f"unreadable arrays ({exc})") from None

    input_bits = doc.get("input_bits")
    if not isinstance(input_bits, int) or isinstance(input_bits, bool):
        raise _fail(json_path, f"'input_bits' must be an int, got {input_bits!r}")
    layer_docs = doc.get("layers")
    if not isinstance(layer_docs, list):
        raise _fail(json_path, "'layers' must be a list")
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise _fail(json_path, "'meta' must be a JSON object")
    try:
        encoder = head = None
        if doc.get("encoder") is not None:
            encoder = _layer_from_json(
                doc["encoder"], "encoder", arrays, json_path, ENCODERS
            )
        bit_types = (LutLayer, ThresholdLayer, OrLayer, *SPATIAL_LAYERS)
        layers = tuple(
            _layer_from_json(entry, f"layer {i}", arrays, json_path, bit_types)
            for i, entry in enumerate(layer_docs)
        )
        if doc.get("head") is not None:
            head = _layer_from_json(doc["head"], "head", arrays, json_path, (GroupSumHead,))
    except (OSError, ValueError, zipfile.BadZipFile) as exc:  # a corrupt member of the npz
        raise _fail(npz_path, f"unreadable arrays ({exc})") from None
    finally:
        arrays.close()
    netlist = Netlist(input_bits, layers, encoder=encoder, head=head, meta=meta)
    try:
        netlist.validate()
    except ValueError as exc:
        raise _fail(json_path, f"invalid netlist: {exc}") from None
    return netlist
