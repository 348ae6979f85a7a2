"""Software back end: the netlist as bit-sliced C, compiled and called from Python.

Pipeline position: ``ir -> csrc``; everything here reads only a :class:`~lutnn.ir.Netlist`
(numpy and the standard library; no torch).

* :func:`emit_c`: C99 source + header from named templates, one entry per node type
  (64 samples per ``uint64_t`` word, or 256 per 32-byte vector word);
* :func:`compile_source`: the system C compiler (``-O3 -march=native``, else portable
  flags; ``-Wall -Wextra -Werror``) into a shared library, cached by source hash;
* :func:`compile_netlist` / :class:`CompiledNet`: both, loaded with ctypes
  (``classify``, ``scores``, ``output_bits``; ``threads`` split the batch).
"""

from lutnn.csrc.binding import CompiledNet, compile_netlist
from lutnn.csrc.build import Library, compile_source, find_compiler, have_compiler
from lutnn.csrc.emit import WORDS, CSource, emit_c

__all__ = [
    "WORDS",
    "CSource",
    "CompiledNet",
    "Library",
    "compile_netlist",
    "compile_source",
    "emit_c",
    "find_compiler",
    "have_compiler",
]
