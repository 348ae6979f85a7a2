"""Calling a compiled netlist from Python (ctypes; the calls release the GIL, so ``threads``
split a batch across Python threads that run in parallel)."""

from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lutnn.csrc.build import Library, compile_source
from lutnn.csrc.emit import emit_c
from lutnn.errors import LutnnError
from lutnn.ir.layers import FeatureEncoder, Netlist

_U8P = ctypes.POINTER(ctypes.c_uint8)
_I32P = ctypes.POINTER(ctypes.c_int32)


class CompiledNet:
    """A netlist compiled to a shared library, called on uint8 inputs.

    Args:
        library: a compiled :class:`~lutnn.csrc.build.Library`.
        threads: default number of threads each call splits its batch over.

    Example (needs a C compiler, so not run as a doctest; tests/test_csrc.py runs it)::

        enc = InputEncoder("enc", 1, 2, np.array([128], np.int16))
        net = compile_netlist(Netlist(2, (), encoder=enc, head=GroupSumHead("head", 2, 2)))
        net.classify(np.array([[0, 200], [200, 0], [0, 0]], np.uint8)).tolist()  # [1, 0, 0]
    """

    def __init__(self, library: Library, threads: int = 1,
                 encoder: FeatureEncoder | None = None) -> None:
        self.library = library
        self.encoder = encoder  # floats (or wide ints) are mapped to fixed point by it
        self.source = library.source
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None  # kept across calls, grown on demand
        self._pool_size = 0
        self._lib = ctypes.CDLL(str(library.path))
        for fn, out in (("lutnn_classify", [_U8P]), ("lutnn_scores", [_I32P, _U8P]),
                        ("lutnn_output_bits", [_U8P])):
            f = getattr(self._lib, fn)
            f.argtypes = [_U8P, ctypes.c_size_t, *out]
            f.restype = ctypes.c_int

    def _check(self, x: np.ndarray) -> np.ndarray:
        if self.encoder is not None:
            x = self.encoder.to_fixed(x).astype(np.uint8)
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != self.source.inputs:
            raise ValueError(f"compiled netlist expects [B, {self.source.inputs}] inputs, got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        if x.dtype not in (np.uint8, np.bool_):
            raise ValueError(f"compiled netlist expects uint8 inputs, got {x.dtype}")
        return np.ascontiguousarray(x.view(np.uint8) if x.dtype == np.bool_ else x)

    def _call(self, fn: str, x: np.ndarray, outs: list[np.ndarray], threads: int | None) -> None:
        n, threads = x.shape[0], max(1, threads or self.threads)
        word = self.source.word
        step = -(-n // threads)  # whole words per thread: no block is split
        step = max(word, -(-step // word) * word)

        def run(lo: int) -> int:
            hi = min(n, lo + step)
            ptrs = [o[lo:hi].ctypes.data_as(_I32P if o.dtype == np.int32 else _U8P)
                    for o in outs]
            return getattr(self._lib, fn)(x[lo:hi].ctypes.data_as(_U8P), hi - lo, *ptrs)

        starts = list(range(0, n, step))
        if len(starts) <= 1:
            codes = [run(0)] if n else [0]
        else:
            if self._pool_size < len(starts):
                if self._pool is not None:
                    self._pool.shutdown()
                self._pool = ThreadPoolExecutor(len(starts), thread_name_prefix="lutnn-c")
                self._pool_size = len(starts)
            codes = list(self._pool.map(run, starts))
        if any(c == -2 for c in codes):
            raise LutnnError("the compiled netlist has no class head; use output_bits")
        if any(c != 0 for c in codes):
            raise MemoryError(f"{fn} could not allocate its working memory")

    def classify(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Class indices, uint8 [B] (argmax of the scores, the lowest index on ties)."""
        x = self._check(x)
        classes = np.empty(x.shape[0], np.uint8)
        self._call("lutnn_classify", x, [classes], threads)
        return classes

    def scores(self, x: np.ndarray, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(int32 scores [B, C], uint8 classes [B])."""
        x = self._check(x)
        scores = np.empty((x.shape[0], max(1, self.source.num_classes)), np.int32)
        classes = np.empty(x.shape[0], np.uint8)
        self._call("lutnn_scores", x, [scores, classes], threads)
        return scores, classes

    def output_bits(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        """The last layer's bits, bool [B, output_bits]."""
        x = self._check(x)
        bits = np.empty((x.shape[0], self.source.output_bits), np.uint8)
        self._call("lutnn_output_bits", x, [bits], threads)
        return bits.view(np.bool_)


def compile_netlist(netlist: Netlist, *, word: int = 64, threads: int = 1,
                    out_dir=None, native: bool = True,
                    max_lines: int | None = None) -> CompiledNet:
    """Emit, compile (cached by source hash unless ``out_dir``) and load ``netlist``.

    Args:
        max_lines: refuse (LutnnError) a source longer than this many lines instead of
            compiling it (a big XNOR teacher is millions of lines: minutes of ``-O3``).

    Raises:
        ToolNotFoundError: no C compiler (see :func:`lutnn.csrc.build.find_compiler`).
    """
    enc = netlist.encoder if isinstance(netlist.encoder, FeatureEncoder) else None
    source = emit_c(netlist, word=word)
    lines = source.source.count("\n")
    if max_lines is not None and lines > max_lines:
        raise LutnnError(f"the C source would be {lines:,} lines (more than {max_lines:,}: a "
                         "long compile); use --backend c to compile it anyway")
    return CompiledNet(compile_source(source, out_dir, native=native), threads, enc)
