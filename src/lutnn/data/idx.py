"""IDX files (the MNIST container format): read, validate, write.

Layout of an IDX file (all integers big-endian)::

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions D (>= 1)
    4*D bytes   the dimensions, uint32 each
    the rest    prod(dims) elements, row-major

A file may be gzipped; gzip is detected by its magic bytes (0x1f 0x8b), not by the suffix.  Every
problem with a file (truncated, trailing bytes, bad magic, corrupt gzip) raises a
:class:`~lutnn.errors.LutnnError` that names the file and says what to do.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from lutnn.errors import LutnnError
from lutnn.io import atomic_path

GZIP_MAGIC = b"\x1f\x8b"

# IDX element type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}

# The four files of an MNIST-style dataset, by role, with the standard (LeCun) base names.
STANDARD_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx_bytes(path: str | os.PathLike) -> bytes:
    """Return the (uncompressed) bytes of an IDX file, gunzipping it if it is gzipped.

    Raises:
        LutnnError: the file is missing or is a corrupt or truncated gzip stream.
    """
    path = Path(path)
    if not path.is_file():
        raise LutnnError(f"IDX file not found: {path}")
    data = path.read_bytes()
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise LutnnError(
            f"{path} is a corrupt or truncated gzip file ({exc}); delete it and download it again"
        ) from None


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the uncompressed bytes of an IDX file into an array in native byte order.

    Args:
        data: the file contents (not gzipped).
        source: the file name, used in error messages.

    Returns:
        A writable array with the file's dimensions; dtype uint8, int8, int16, int32, float32
        or float64.

    Raises:
        LutnnError: bad magic, unknown element type, or a size that does not match the header.
    """
    fix = "delete it and download it again"
    if len(data) < 4:
        raise LutnnError(f"{source} is not an IDX file: only {len(data)} bytes; {fix}")
    if data[0] != 0 or data[1] != 0:
        raise LutnnError(
            f"{source} is not an IDX file: bad magic bytes {data[:4].hex()} "
            f"(expected 0000 then type and rank); {fix}"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise LutnnError(f"{source}: unknown IDX element type 0x{code:02x}; {fix}")
    if ndim == 0:
        raise LutnnError(f"{source}: IDX header declares 0 dimensions; {fix}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise LutnnError(
            f"{source} is truncated: {len(data)} bytes, shorter than its {header}-byte header; "
            f"{fix}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found < expected:
        raise LutnnError(
            f"{source} is truncated: header declares shape {dims} ({expected} data bytes) but "
            f"only {found} data bytes are present; {fix}"
        )
    if found > expected:
        raise LutnnError(
            f"{source} is corrupt: {found - expected} bytes beyond the {expected} data bytes its "
            f"header (shape {dims}) declares; {fix}"
        )
    arr = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return arr.reshape(dims).astype(dtype.newbyteorder("="))  # astype copies: writable


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzipped or not, validating its header against its size.

    Example:
        >>> images = read_idx("mnist/train-images-idx3-ubyte.gz")  # doctest: +SKIP
        >>> images.shape, images.dtype  # doctest: +SKIP
        ((60000, 28, 28), dtype('uint8'))
    """
    return parse_idx(read_idx_bytes(path), str(path))


def encode_idx(array: np.ndarray) -> bytes:
    """Return the uncompressed IDX bytes of ``array`` (dtype must have an IDX type code)."""
    array = np.asarray(array)
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in _CODE_OF_KIND:
        known = ", ".join(str(dt.newbyteorder("=")) for dt in IDX_DTYPES.values())
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of {known}")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX needs 1..255 dimensions, got shape {array.shape}")
    code = _CODE_OF_KIND[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file atomically; gzip it if ``compress`` (default: suffix .gz).

    Example:
        >>> labels = np.arange(10, dtype=np.uint8)
        >>> write_idx("t/train-labels-idx1-ubyte.gz", labels)  # doctest: +SKIP
    """
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    data = encode_idx(array)
    if compress:
        data = gzip.compress(data, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def _name_variants(base: str) -> list[str]:
    # "train-images-idx3-ubyte" and "train-images.idx3-ubyte", each raw or gzipped.
    stem, _, rest = base.partition("-idx")
    names = [base, f"{stem}.idx{rest}"]
    return [n for name in names for n in (name, name + ".gz")]


def find_idx_files(folder: str | os.PathLike) -> tuple[dict[str, Path], list[str]]:
    """Find the four standard IDX files in ``folder``.

    Accepted names per file (for example): ``train-images-idx3-ubyte``,
    ``train-images.idx3-ubyte``, each optionally with ``.gz``.

    A folder holding one file under two of these names (``x`` and ``x.gz``, say) is read
    when both hold the same data (the first name in that order is used), and refused when
    they differ: which one was meant is not for lutnn to guess.

    Returns:
        ``(found, missing)``: ``found`` maps the roles of :data:`STANDARD_FILES` to paths;
        ``missing`` lists, for each role not found, the names that were accepted.

    Raises:
        LutnnError: two files of one role hold different data.
    """
    folder = Path(folder)
    found: dict[str, Path] = {}
    missing: list[str] = []
    for role, base in STANDARD_FILES.items():
        variants = _name_variants(base)
        hits = [folder / n for n in variants if (folder / n).is_file()]
        if not hits:
            missing.append(" or ".join(variants))
            continue
        _check_same_data(hits)
        found[role] = hits[0]
    return found, missing


def _check_same_data(paths: list[Path]) -> None:
    """Refuse files of one role (raw and gzipped, say) that hold different data."""
    if len(paths) < 2:
        return
    first = read_idx_bytes(paths[0])
    for other in paths[1:]:
        if read_idx_bytes(other) != first:
            raise LutnnError(
                f"{paths[0].parent} holds both {paths[0].name} and {other.name}, and their "
                f"data differ; keep the one you mean and move the other away"
            )
