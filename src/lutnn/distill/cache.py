"""Packed bit caches on disk: one row of ``ceil(W / 8)`` bytes per sample, read in chunks.

Distillation keeps a layer's activations for every training sample -- the student prefix's
output and the teacher's -- as packed bits (``np.packbits`` along the features, little bit
order), never as float activations: 55,000 MNIST samples x 2,352 bits take 16 MB.  The file is
a ``.npy`` of uint8 ``[n, ceil(W / 8)]``; rows are read with plain file reads (not a memory
map, whose touched pages would count towards the process's resident memory), so a pass over
the cache holds only the chunk being read.  Writing goes to a temporary file that is renamed
into place when complete (:func:`lutnn.io.atomic_path`), so a killed run never leaves a
half-written cache behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from lutnn import io

__all__ = ["BitCache", "BitCacheWriter", "pack", "unpack"]


def pack(bits: torch.Tensor | np.ndarray) -> np.ndarray:
    """Bits ``[n, W]`` (any dtype holding 0/1) -> uint8 ``[n, ceil(W / 8)]``."""
    arr = bits.detach().cpu().numpy() if isinstance(bits, torch.Tensor) else np.asarray(bits)
    return np.packbits(arr.astype(bool, copy=False), axis=1, bitorder="little")


def unpack(rows: np.ndarray, width: int) -> torch.Tensor:
    """uint8 ``[n, ceil(W / 8)]`` -> uint8 tensor ``[n, W]`` of 0/1."""
    return torch.from_numpy(np.unpackbits(rows, axis=1, count=width, bitorder="little"))


class BitCacheWriter:
    """Append packed rows to a new cache file; :meth:`close` renames it into place.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "c.npy"
        >>> with BitCacheWriter(path, n=3, width=10) as w:
        ...     w.append(torch.tensor([[1] * 10, [0] * 10, [1, 0] * 5]))
        >>> BitCache(path, 10).read(1, 3).tolist()[1]
        [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    """

    def __init__(self, path: str | os.PathLike, n: int, width: int):
        self.path, self.n, self.width = Path(path), int(n), int(width)
        self._ctx = io.atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._file = open(self._tmp, "wb")  # noqa: SIM115 (closed in close())
        header = {"descr": "|u1", "fortran_order": False, "shape": (self.n, -(-width // 8))}
        np.lib.format.write_array_header_1_0(self._file, header)
        self.rows = 0

    def append(self, bits: torch.Tensor | np.ndarray) -> None:
        """Append bits ``[m, width]``."""
        packed = pack(bits)
        assert packed.shape[1] == -(-self.width // 8), (packed.shape, self.width)
        self._file.write(np.ascontiguousarray(packed).tobytes())
        self.rows += packed.shape[0]

    def close(self) -> None:
        self._file.close()
        if self.rows != self.n:
            self._ctx.__exit__(RuntimeError, None, None)
            raise AssertionError(f"cache {self.path}: wrote {self.rows} rows, expected {self.n}")
        self._ctx.__exit__(None, None, None)

    def abort(self) -> None:
        self._file.close()
        self._ctx.__exit__(RuntimeError, None, None)

    def __enter__(self) -> BitCacheWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class BitCache:
    """A packed bit cache file, read by row ranges.

    Args:
        path: the ``.npy`` file written by :class:`BitCacheWriter`.
        width: bits per row W.
    """

    def __init__(self, path: str | os.PathLike, width: int):
        self.path, self.width = Path(path), int(width)
        with open(self.path, "rb") as f:
            np.lib.format.read_magic(f)
            shape, _, _ = np.lib.format.read_array_header_1_0(f)
            self._offset = f.tell()
        self.n, self.row_bytes = int(shape[0]), int(shape[1])
        if self.row_bytes != -(-self.width // 8):
            raise ValueError(f"cache {self.path} holds rows of {self.row_bytes} bytes, not "
                             f"{self.width} bits")

    def __len__(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        return self.n * self.row_bytes

    def read_packed(self, start: int, stop: int) -> np.ndarray:
        """Packed rows ``start:stop`` as uint8 ``[m, ceil(W / 8)]``."""
        start, stop = max(0, start), min(stop, self.n)
        with open(self.path, "rb") as f:
            f.seek(self._offset + start * self.row_bytes)
            data = np.fromfile(f, dtype=np.uint8, count=(stop - start) * self.row_bytes)
        return data.reshape(stop - start, self.row_bytes)

    def read(self, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop`` as a uint8 tensor ``[m, W]`` of 0/1."""
        return unpack(self.read_packed(start, stop), self.width)
