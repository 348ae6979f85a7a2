"""The C backend behind the backends' interface (:class:`lutnn.ir.passes.flow.Backend`).

``CBackend(word).passes(options)`` is ``lower_spatial`` (the C entries read flat nodes: a
spatial netlist is compiled unrolled, the same bits); ``emit`` fills the C templates
(:func:`~lutnn.csrc.emit.emit_c`) into a :class:`CArtifact`, which ``save``-s the source, the
compiled library, ``build.json``, its own record (``c_artifact.json``) and a fixed-point
encoder (``encoder/``, a netlist folder) into a folder, and ``load``-s them back from it: the
source the files hold (an edited file is what loads), the library ``save`` compiled when it is
of that source.  ``compiled`` loads the library with ctypes.  Software has no clock:
``latency`` is 0.  The export options do not change the C.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lutnn import io
from lutnn.csrc.binding import CompiledNet
from lutnn.csrc.build import BASE_FLAGS, Library, compile_source, library_name
from lutnn.csrc.emit import CSource, emit_c, source_digest
from lutnn.errors import LutnnError
from lutnn.ir.layers import FeatureEncoder, Netlist
from lutnn.ir.passes.flow import LOWER_SPATIAL, Pass, run_flow
from lutnn.ir.serialize import load_netlist, save_netlist

RECORD = "c_artifact.json"  # what save writes of the CSource besides its two files
ENCODER = "encoder"  # the fixed-point encoder's folder (a netlist of the encoder alone)
_FIELDS = ("name", "word", "inputs", "num_classes", "output_bits", "signals")


@dataclass(frozen=True)
class CArtifact:
    """The emitted C of a netlist (and its fixed-point encoder, which the binding applies);
    ``library``: the one :meth:`save` compiled, when :meth:`load` found it in the folder."""

    source: CSource
    encoder: FeatureEncoder | None = None
    latency: int = 0
    library: Library | None = None

    @property
    def lines(self) -> int:
        return self.source.source.count("\n")

    def build(self, out_dir: str | os.PathLike | None = None, *,
              native: bool = True) -> Library:
        """Compile (into ``out_dir``, or the cache by source hash)."""
        return compile_source(self.source, out_dir, native=native)

    def save(self, out_dir: str | os.PathLike) -> dict:
        """``lutnn.c``, ``lutnn.h``, the library, ``build.json``, ``c_artifact.json`` and (with
        a fixed-point encoder) ``encoder/`` in ``out_dir``; returns the paths and the build."""
        out_dir = Path(out_dir)
        lib = self.build(out_dir)
        encoder_dir = out_dir / ENCODER
        if self.encoder is not None:
            save_netlist(Netlist(self.encoder.out_width, (), encoder=self.encoder), encoder_dir)
        elif encoder_dir.is_dir():  # an earlier save's, of another netlist
            shutil.rmtree(encoder_dir)
        io.write_json(out_dir / RECORD, {
            **{key: getattr(self.source, key) for key in _FIELDS},
            "digest": self.source.digest, "encoder": self.encoder is not None,
            "latency": self.latency})
        return {"library": lib.path, "header": out_dir / f"{self.source.name}.h",
                "compiler": lib.compiler, "flags": list(lib.flags)}

    @classmethod
    def load(cls, out_dir: str | os.PathLike, record: dict | None = None) -> CArtifact:
        """The artifact :meth:`save` wrote into ``out_dir``: the source and header as the
        files hold them (``record``, e.g. ``compile.json``, is not needed), the encoder, and
        the compiled library when ``build.json`` says it is of that source.

        Raises:
            LutnnError: a file is missing or is not what save wrote.
        """
        out_dir = Path(out_dir)
        meta = io.read_json(out_dir / RECORD, "C artifact record")
        if not isinstance(meta, dict) or any(key not in meta for key in (*_FIELDS, "encoder")):
            raise LutnnError(f"{out_dir / RECORD} is not a C artifact record; run "
                             "`lutnn compile` again")
        name = meta["name"]
        try:
            text = (out_dir / f"{name}.c").read_text()
            header = (out_dir / f"{name}.h").read_text()
        except FileNotFoundError as e:
            raise LutnnError(f"{e.filename} is gone ({RECORD} names it); run `lutnn compile` "
                             "again") from None
        source = CSource(name, text, header, *(int(meta[key]) for key in _FIELDS[1:]),
                         source_digest(text, header))
        encoder = load_netlist(out_dir / ENCODER).encoder if meta["encoder"] else None
        return cls(source, encoder, int(meta.get("latency", 0)), _saved_library(out_dir, source))

    def compiled(self, threads: int = 1, *, max_lines: int | None = None) -> CompiledNet:
        """The library (the loaded one, else built, cached) loaded with ctypes; ``max_lines``
        refuses a longer source."""
        if max_lines is not None and self.lines > max_lines:
            raise LutnnError(f"the C source would be {self.lines:,} lines (more than "
                             f"{max_lines:,}: a long compile); use --backend c to compile it "
                             "anyway")
        return CompiledNet(self.library or self.build(), threads, self.encoder)


def _saved_library(out_dir: Path, source: CSource) -> Library | None:
    """The library in ``out_dir`` if ``build.json`` records it was compiled from ``source``."""
    lib, build = out_dir / library_name(source.name), out_dir / "build.json"
    if not (lib.is_file() and build.is_file()):
        return None
    try:
        made = io.read_json(build, "build record")
    except LutnnError:  # a damaged build.json: the library is built again
        return None
    if not isinstance(made, dict) or made.get("digest") != source.digest:
        return None
    flags = tuple(f for f in made.get("flags", ()) if f not in BASE_FLAGS)
    return Library(lib, str(made.get("compiler", "")), flags, source)


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
