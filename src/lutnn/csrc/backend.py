"""The C backend behind the backends' interface (:class:`lutnn.ir.passes.flow.Backend`).

``CBackend(word).passes(options)`` is ``lower_spatial`` (the C entries read flat nodes: a
spatial netlist is compiled unrolled, the same bits); ``emit`` fills the C templates
(:func:`~lutnn.csrc.emit.emit_c`) into a :class:`CArtifact`, which ``save``-s the compiled
library into a folder and loads it with ctypes (``compiled``).  Software has no clock:
``latency`` is 0.  The export options do not change the C.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lutnn.csrc.binding import CompiledNet
from lutnn.csrc.build import Library, compile_source
from lutnn.csrc.emit import CSource, emit_c
from lutnn.errors import LutnnError
from lutnn.ir.layers import FeatureEncoder, Netlist
from lutnn.ir.passes.flow import LOWER_SPATIAL, Pass, run_flow


@dataclass(frozen=True)
class CArtifact:
    """The emitted C of a netlist (and its fixed-point encoder, which the binding applies)."""

    source: CSource
    encoder: FeatureEncoder | None = None
    latency: int = 0

    @property
    def lines(self) -> int:
        return self.source.source.count("\n")

    def build(self, out_dir: str | os.PathLike | None = None, *,
              native: bool = True) -> Library:
        """Compile (into ``out_dir``, or the cache by source hash)."""
        return compile_source(self.source, out_dir, native=native)

    def save(self, out_dir: str | os.PathLike) -> dict:
        """``lutnn.c``, ``lutnn.h``, the library and ``build.json`` in ``out_dir``."""
        lib = self.build(out_dir)
        return {"library": lib.path, "header": Path(out_dir) / "lutnn.h",
                "compiler": lib.compiler, "flags": list(lib.flags)}

    def compiled(self, threads: int = 1, *, max_lines: int | None = None) -> CompiledNet:
        """The library, built (cached) and loaded; ``max_lines`` refuses a longer source."""
        if max_lines is not None and self.lines > max_lines:
            raise LutnnError(f"the C source would be {self.lines:,} lines (more than "
                             f"{max_lines:,}: a long compile); use --backend c to compile it "
                             "anyway")
        return CompiledNet(self.build(), threads, self.encoder)


@dataclass(frozen=True)
class CBackend:
    """Bit-sliced C, ``word`` samples per machine word (64 or 256)."""

    word: int = 64
    name: str = "c"

    def passes(self, options: Any = None) -> tuple[Pass, ...]:
        return (LOWER_SPATIAL,)

    def emit(self, netlist: Netlist, options: Any = None) -> CArtifact:
        flat = run_flow(netlist, self.passes(options))
        enc = flat.encoder if isinstance(flat.encoder, FeatureEncoder) else None
        return CArtifact(emit_c(flat, word=self.word), enc)


__all__ = ["CArtifact", "CBackend"]
