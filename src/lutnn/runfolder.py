"""Run-folder integrity: one writer at a time, nothing half-made, derived files fingerprinted.

* :func:`claim_run_folder` (and the :func:`guarded` decorator on ``train`` and ``distill``)
  checks ``--out`` (a folder, writable), takes a lock file holding the owner's pid (a lock
  left by a dead process is taken over), and, if the run fails before it wrote anything
  resumable (a checkpoint or weights), removes what it created: a new folder is made whole or
  not at all, never left holding a lone ``run.json``.
* :func:`model_fingerprint` is the SHA-256 of the *weights* in ``model.pt`` (names, dtypes,
  shapes and bytes of its tensors, :func:`lutnn.io.state_sha256`), not of the file: saving
  the same weights again keeps it.  ``hdl/export.json``, the netlist's meta, ``sim.json`` and
  ``synth.json`` record the fingerprint of the weights they were made from;
  :func:`check_export_current` refuses an export older than the weights, and one that
  records no fingerprint.  A record from before content fingerprints (it holds the SHA-256
  of the ``model.pt`` file) is accepted while that file is unchanged
  (:func:`same_weights`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

from lutnn import io
from lutnn.errors import LutnnError

LOCK_NAME = ".lutnn.lock"
#: files whose appearance makes a failed run worth keeping (``--resume`` continues from them)
RESUMABLE = ("checkpoint.pt", "model.pt", "finetune.pt")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _read_lock(lock: Path) -> tuple[int, str]:
    try:
        pid_text, _, host = lock.read_text().partition(" ")
        return int(pid_text), host.strip()
    except (OSError, ValueError):
        return -1, ""


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.lutnn.lock`` (``"<pid> <host>"``) for the block.

    Raises:
        LutnnError: a live process (another ``lutnn train`` or ``distill``) holds the lock.
    """
    lock = out / LOCK_NAME
    me = f"{os.getpid()} {socket.gethostname()}"
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid, host = _read_lock(lock)
            same_host = host in ("", socket.gethostname())
            if pid == os.getpid() or (same_host and not _pid_alive(pid)) or pid < 0:
                lock.unlink(missing_ok=True)  # stale: its owner died; take it over
                continue
            raise LutnnError(
                f"{out} is being written by another lutnn process (pid {pid}"
                f"{'' if same_host else ' on ' + host}); wait for it to finish or choose "
                f"another --out (if no such process runs, delete {lock})"
            ) from None
        with os.fdopen(fd, "w") as f:
            f.write(me + "\n")
        break
    else:  # pragma: no cover - three races in a row
        raise LutnnError(f"could not take the lock {lock}; try again")
    try:
        yield
    finally:
        if _read_lock(lock)[0] == os.getpid():
            lock.unlink(missing_ok=True)


def check_out_folder(out: Path) -> bool:
    """Make sure ``out`` is (or can become) a writable folder; returns whether it is new.

    Raises:
        LutnnError: ``out`` is a file, or a folder lutnn cannot create or write.
    """
    if out.exists() and not out.is_dir():
        raise LutnnError(f"--out {out} is a file, not a folder; choose a folder for the run")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LutnnError(f"cannot create the run folder {out}: {exc.strerror}") from None
    probe = out / f".lutnn-write-test.{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise LutnnError(
            f"cannot write into the run folder {out}: {exc.strerror}; check its permissions "
            "or choose another --out"
        ) from None
    return created


def _tree(out: Path) -> set[Path]:
    return {p.relative_to(out) for p in out.rglob("*")} if out.is_dir() else set()


@contextlib.contextmanager
def claim_run_folder(out: str | os.PathLike) -> Iterator[Path]:
    """Check and lock the run folder ``out`` for one ``train``/``distill``; see the module doc.

    If the block raises (a user error, Ctrl-C, a crash) and no :data:`RESUMABLE` file appeared
    in ``out``, every file and folder the block created is removed again (and ``out`` itself
    if it is new); earlier files are never touched.
    """
    out = Path(out)
    created = check_out_folder(out)
    try:
        with run_lock(out):
            before = _tree(out)
            resumable = {name for name in RESUMABLE if (out / name).exists()}
            try:
                yield out
            except BaseException:
                if not any((out / n).exists() for n in RESUMABLE if n not in resumable):
                    _remove_new(out, before)
                raise
    finally:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()


def _remove_new(out: Path, before: set[Path]) -> None:
    """Remove what appeared in ``out`` since ``before`` (deepest first); keep the lock."""
    for rel in sorted(_tree(out) - before, key=lambda p: len(p.parts), reverse=True):
        path = out / rel
        if rel.name == LOCK_NAME:
            continue
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()  # emptied already: deeper paths come first
            else:
                path.unlink()


def guarded(out_arg: str = "out") -> Callable:
    """Decorate a run writer (``train``, ``distill``): its ``out_arg`` folder is claimed.

    Under torchrun only rank 0 claims it (and cleans up after a failed new run): the other
    ranks write nothing there.
    """

    def wrap(func: Callable) -> Callable:
        sig = inspect.signature(func)

        @functools.wraps(func)
        def run(*args, **kwargs):
            from lutnn.distributed import is_main

            if not is_main():  # under torchrun rank 0 claims the folder for every rank
                return func(*args, **kwargs)
            bound = sig.bind(*args, **kwargs)
            with claim_run_folder(bound.arguments[out_arg]):
                return func(*args, **kwargs)

        return run

    return wrap


def model_fingerprint(run_dir: str | os.PathLike) -> str | None:
    """Content SHA-256 of the weights in ``RUN/model.pt`` (:func:`lutnn.io.weights_sha256`;
    None when the run has no weights yet)."""
    path = Path(run_dir) / "model.pt"
    return io.weights_sha256(path) if path.is_file() else None


def same_weights(recorded: str | None, weights: str | os.PathLike,
                 current: str | None = None) -> bool:
    """Whether the fingerprint ``recorded`` names the weights in the file ``weights``: their
    content hash (``current`` if already computed), or, for a record written before lutnn
    fingerprinted content, the SHA-256 of the file's bytes (the file is unchanged since)."""
    weights = Path(weights)
    if recorded is None or not weights.is_file():
        return False
    if current is None:
        current = io.weights_sha256(weights)
    return recorded == current or recorded == io.file_sha256(weights)


def check_export_current(run_dir: str | os.PathLike, exported: dict,
                         source: str | os.PathLike | None = None) -> None:
    """Refuse a ``RUN/hdl`` export made from other weights than ``RUN/model.pt`` now holds.

    Args:
        source: the file ``exported`` was read from, named in the messages (default
            ``RUN/hdl/export.json``).

    Raises:
        LutnnError: ``exported`` (``export.json`` or the netlist's meta) records no
            fingerprint, or one other than ``model.pt``'s (retrained after ``lutnn export``).
    """
    source = Path(source) if source is not None else Path(run_dir) / "hdl" / "export.json"
    recorded = exported.get("model_sha256")
    current = model_fingerprint(run_dir)
    if current is None:
        return  # no weights: whoever needs them says so
    if not isinstance(recorded, str) or not recorded:
        raise LutnnError(
            f"{source} records no model_sha256 (the weights it was exported from), so it "
            f"cannot be checked against {run_dir}/model.pt; run `lutnn export {run_dir}` again"
        )
    if not same_weights(recorded, Path(run_dir) / "model.pt", current):
        raise LutnnError(
            f"{Path(run_dir) / 'hdl'} was exported from other weights than {run_dir}/model.pt "
            f"holds now (sha256 {recorded[:12]} then, {current[:12]} now: retrained since?); "
            f"run `lutnn export {run_dir}` again"
        )


#: errno values that mean "the user's file system refuses", not "lutnn has a bug"
USER_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
                         errno.EFBIG, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG})


def result_file(kind: str, conv: str = "unrolled", target: str = "xilinx") -> str:
    """The run folder's result file of ``kind`` ("sim" or "synth") for a Verilog form:
    ``sim.json``, ``synth.json``, ``synth-ecp5.json`` for the unrolled form and the same with
    ``-stream`` for the stream (``sim-stream.json``: an RTL simulation of the stream), so
    both forms' numbers stay side by side for ``lutnn report``."""
    name = kind + (f"-{target}" if kind == "synth" and target != "xilinx" else "")
    return name + ("-stream" if conv == "stream" else "") + ".json"


__all__ = ["LOCK_NAME", "RESUMABLE", "USER_ERRNOS", "check_export_current",
           "check_out_folder", "claim_run_folder", "guarded", "model_fingerprint",
           "result_file", "run_lock", "same_weights"]

