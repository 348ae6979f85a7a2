"""Building the emitted C into a shared library with the system C compiler.

The compiler is ``$LUTNN_CC``, else ``$CC``, else the first of ``cc``, ``gcc``, ``clang`` on
the ``PATH``.  Flags: ``-O3 -march=native`` (the host's widest vectors) when the compiler
accepts them, else the portable ``-O3``; always ``-std=c99 -shared -fPIC -Wall -Wextra
-Werror``, so a warning in the generated source is a lutnn bug that fails loudly.  Libraries
are cached by the hash of their source and flags (``$LUTNN_CACHE`` or ``~/.cache/lutnn``), so
the same netlist compiles once.  A long source (:data:`PROGRESS_MIN_LINES` lines or more)
says so on stderr: a line when the compiler starts (lines, compiler, flags), the seconds
running on a terminal, and a line when it is done.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from lutnn.csrc.emit import CSource
from lutnn.errors import LutnnError, ToolNotFoundError

BASE_FLAGS = ("-std=c99", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror")
NATIVE_FLAGS = ("-O3", "-march=native")
PORTABLE_FLAGS = ("-O3",)
COMPILE_TIMEOUT_S = 900
PROGRESS_MIN_LINES = 50_000  # sources this long (~10 s of -O3 and up) report their progress


@dataclass(frozen=True)
class Library:
    """A compiled shared library and how it was made.

    Attributes:
        path: the ``.so`` (``.dylib`` on macOS) file.
        compiler: the compiler's path.
        flags: the flags it was built with.
        source: what was compiled.
    """

    path: Path
    compiler: str
    flags: tuple[str, ...]
    source: CSource


def find_compiler() -> str:
    """The C compiler to use (see the module docstring).

    Raises:
        ToolNotFoundError: none is found; the message says where it looked and what to do.
    """
    for var in ("LUTNN_CC", "CC"):
        value = os.environ.get(var)
        if value:
            found = shutil.which(value)
            if found is None:
                raise ToolNotFoundError(f"C compiler {value!r} (from ${var}) not found; install "
                                        f"it, point ${var} at one, or simulate with "
                                        "`lutnn sim --backend numpy`")
            return found
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return found
    raise ToolNotFoundError("no C compiler found (looked at $LUTNN_CC, $CC, then cc, gcc, "
                            "clang on the PATH); install one (e.g. apt install gcc) or use "
                            "`lutnn sim --backend numpy`")


def have_compiler() -> bool:
    """Whether :func:`find_compiler` finds one."""
    try:
        find_compiler()
    except LutnnError:
        return False
    return True


def cache_dir() -> Path:
    return Path(os.environ.get("LUTNN_CACHE") or Path.home() / ".cache" / "lutnn") / "c"


def library_name(name: str) -> str:
    """The shared library's file name for base name ``name``."""
    return f"lib{name}.dylib" if sys.platform == "darwin" else f"lib{name}.so"


def write_source(src: CSource, folder: Path) -> tuple[Path, Path]:
    """Write ``<name>.c`` and ``<name>.h`` into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    c_path, h_path = folder / f"{src.name}.c", folder / f"{src.name}.h"
    c_path.write_text(src.source)
    h_path.write_text(src.header)
    return c_path, h_path


def _compile(compiler: str, flags: tuple[str, ...], c_path: Path, out: Path,
             lines: int = 0) -> str | None:
    """Compile; None on success, else the compiler's message.  A source of ``lines`` >=
    :data:`PROGRESS_MIN_LINES` reports its progress on stderr (see the module doc)."""
    cmd = [compiler, *flags, *BASE_FLAGS, "-o", str(out), str(c_path)]
    show = lines >= PROGRESS_MIN_LINES
    if show:
        print(f"lutnn: compiling {lines:,} lines of C ({Path(compiler).name} "
              f"{' '.join(flags)}; a minute or more for large nets, cached afterwards) ...",
              file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        return f"{' '.join(cmd)}: {e}"
    with proc, tqdm(desc="lutnn: compiling C", bar_format="{desc}: {elapsed}",
                    disable=None if show else True, leave=False) as bar:
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                bar.update(0)
                bar.refresh()
                if time.perf_counter() - t0 > COMPILE_TIMEOUT_S:
                    proc.kill()
                    proc.communicate()
                    return f"{' '.join(cmd)} ran past {COMPILE_TIMEOUT_S} s"
    if show:
        print(f"lutnn: compiled in {time.perf_counter() - t0:.0f} s", file=sys.stderr,
              flush=True)
    return None if proc.returncode == 0 else (stderr or stdout)[-4000:]


def compile_source(src: CSource, out_dir: str | os.PathLike | None = None, *,
                   native: bool = True) -> Library:
    """Compile ``src`` into a shared library.

    Args:
        src: the emitted source.
        out_dir: where to write ``<name>.c``, ``<name>.h``, the library and ``build.json``;
            None: a cache folder named by the source hash (reused when present).
        native: try ``-march=native`` first (falling back to portable flags).

    Raises:
        ToolNotFoundError: no C compiler.
        LutnnError: the compiler rejected the source (with its message: a lutnn bug).
    """
    compiler = find_compiler()
    attempts = [NATIVE_FLAGS, PORTABLE_FLAGS] if native else [PORTABLE_FLAGS]
    key = hashlib.sha256(f"{src.digest} {compiler} {attempts}".encode()).hexdigest()[:24]
    folder = Path(out_dir) if out_dir is not None else cache_dir() / key
    lib, record = folder / library_name(src.name), folder / "build.json"
    if out_dir is None and lib.is_file() and record.is_file():
        meta = json.loads(record.read_text())
        if meta.get("digest") == src.digest:
            return Library(lib, compiler, tuple(meta["flags"]), src)
    c_path, _ = write_source(src, folder)
    errors = []
    for flags in attempts:
        with tempfile.TemporaryDirectory(dir=folder) as tmp:  # atomic: no half-written .so
            tmp_lib = Path(tmp) / lib.name
            error = _compile(compiler, flags, c_path, tmp_lib, src.source.count("\n"))
            if error is None:
                os.replace(tmp_lib, lib)
                record.write_text(json.dumps({"digest": src.digest, "compiler": compiler,
                                              "flags": list(flags) + list(BASE_FLAGS),
                                              "word": src.word}, indent=2) + "\n")
                return Library(lib, compiler, flags, src)
        errors.append(f"{' '.join(flags)}: {error}")
    raise LutnnError(f"{compiler} could not compile {c_path} (a lutnn bug, please report "
                     "it):\n" + "\n".join(errors))
