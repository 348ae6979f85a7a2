"""Atomic file output and safe checkpoint loading.

Every file lutnn writes goes to a temporary file in the same folder first and is renamed into
place, so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lutnn.errors import LutnnError

#: errno values of a write the file system refused: full, over quota, over a file size
#: limit (``ulimit -f``), read-only, no permission, an I/O error
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES,
                          errno.EPERM, errno.EIO})


def _torch_write_failed(exc: BaseException) -> bool:
    """Whether ``exc`` is ``torch.save``'s RuntimeError for a write that failed (its stream
    writer reports a full disk or a size limit as "unexpected pos" / "failed writing")."""
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "inline_container" in text or "PytorchStreamWriter" in text or "file write failed" in text)


def write_failed(path: str | os.PathLike, exc: BaseException) -> LutnnError | None:
    """The one-line :class:`LutnnError` for ``exc`` if it is a failed write of ``path`` (see
    :data:`WRITE_ERRNOS`, :func:`_torch_write_failed`), else None."""
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
        reason = exc.strerror or os.strerror(exc.errno)
    elif _torch_write_failed(exc):
        reason = "the write failed (is the disk full, or a file size limit reached?)"
    else:
        return None
    return LutnnError(
        f"cannot write {path}: {reason}; make room or fix the permissions there and run "
        "again (the file was not replaced: nothing half-written is left)"
    )


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    A write the file system refuses (full, quota, size limit, permissions; also
    ``torch.save``'s failed writes) becomes a one-line :class:`LutnnError` naming ``path``
    (:func:`write_failed`); ``path`` keeps its old content and the temporary file is removed.

    Example:
        >>> with atomic_path("out.bin") as tmp:  # doctest: +SKIP
        ...     tmp.write_bytes(b"data")
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        yield tmp
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        error = write_failed(path, exc)
        if error is None:
            raise
        raise error from None
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """Read JSON, turning a missing or malformed file into a clear :class:`LutnnError`."""
    path = Path(path)
    if not path.is_file():
        raise LutnnError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LutnnError(
            f"{what} {path} is not valid JSON ({exc}); fix or delete it and run again"
        ) from None


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """``torch.save`` ``state`` to ``path`` atomically."""
    import torch  # imported here: the IR and simulator use this module without torch

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint with ``weights_only=True``; a corrupt file gives a clear error."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise LutnnError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/corrupt files
        raise LutnnError(
            f"checkpoint {path} is corrupt or not a lutnn checkpoint ({type(exc).__name__}); "
            "delete it and retrain (or run without --resume)"
        ) from None
    if not isinstance(state, dict):
        raise LutnnError(f"checkpoint {path} does not hold a state dict; delete it and retrain")
    return state


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (fingerprints of data files; weights are fingerprinted
    by content, :func:`state_sha256`)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def state_sha256(state: dict) -> str:
    """Hex SHA-256 of a state dict's *content*: every entry's name, dtype, shape and bytes,
    in sorted name order (a non-tensor entry by its ``repr``).

    Unlike :func:`file_sha256` of the saved file it does not change when the same weights
    are saved again (``torch.save`` output differs from save to save), so a run's derived
    files stay current until its weights really change.
    """
    import torch

    digest = hashlib.sha256(b"lutnn-weights-v1\0")
    for name in sorted(state, key=str):
        value = state[name]
        digest.update(f"{len(str(name))}:{name}\0".encode())
        if isinstance(value, torch.Tensor):
            tensor = value.detach().to("cpu").contiguous()
            digest.update(f"{tensor.dtype}\0{list(tensor.shape)}\0".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
        else:
            digest.update(f"{type(value).__name__}\0{value!r}\0".encode())
    return digest.hexdigest()


def weights_sha256(path: str | os.PathLike) -> str:
    """:func:`state_sha256` of the state dict saved in ``path`` (loaded as
    :func:`load_checkpoint` does)."""
    return state_sha256(load_checkpoint(path))
