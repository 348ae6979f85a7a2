"""Data-parallel runs under ``torchrun``: who am I, one process group, global BatchNorm.

lutnn runs data-parallel with PyTorch's own engine, not a process pool of its own:
``torchrun --nproc-per-node N -m lutnn train ...`` (or ``lutnn train --nproc N``, which
launches exactly that through :func:`launch`) starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and a rendezvous in their environment.  :func:`session`
initialises the process group from it (``gloo`` on CPU, ``nccl`` on CUDA) and destroys it at
the end; everything else here reads the group, or the environment before it exists, so
:func:`rank` is right even before ``init_process_group`` (the run-folder lock is taken by
rank 0 alone).

Conventions:

* **Rank 0 writes.** Every rank runs the same code and computes the same numbers; only
  :func:`is_main` writes files, prints progress or holds the run folder's lock.
* **Collectives are called by every rank**, in the same order (``all_sum``, ``barrier``,
  :func:`lutnn.train.accuracy` under a session).  Without a process group (one process)
  they are no-ops, so single-process code paths are the distributed ones with N = 1.
* **BatchNorm sees the global batch.** Under :func:`global_batchnorm`, every
  ``nn.BatchNorm1d`` in training mode normalises with the mean and variance over the samples
  of *all* ranks (one differentiable ``all_reduce`` of per-feature sums), so its outputs,
  gradients and running statistics are one process's on the whole batch up to float
  summation order.  torch's ``nn.SyncBatchNorm`` does the same but refuses CPU tensors, and
  lutnn's CPU (gloo) runs are the tested ones.

Example:
    >>> from lutnn import distributed
    >>> with distributed.session("cpu") as device:  # one process: no group, rank 0 of 1
    ...     (distributed.rank(), distributed.world_size(), distributed.is_main(), str(device))
    (0, 1, True, 'cpu')
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from lutnn.errors import LutnnError

#: ``--device`` choices: ``auto`` is CUDA when a GPU is visible, else CPU
DEVICES = ("cpu", "cuda", "auto")

#: how long a rank waits in a collective for the others (rank 0 alone may distill blocks)
TIMEOUT = datetime.timedelta(hours=6)


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise LutnnError(f"environment variable {name}={os.environ[name]!r} is not an integer; "
                         "launch with torchrun (or lutnn ... --nproc N)") from None


def active() -> bool:
    """Whether a process group of more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Processes in the run: the group's size, else ``WORLD_SIZE`` (1 when not launched)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return _env_int("WORLD_SIZE", 1)


def rank() -> int:
    """This process's rank (0..world_size - 1): the group's, else ``RANK`` (0)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return _env_int("RANK", 0)


def local_rank() -> int:
    """This process's index on its machine (``LOCAL_RANK``; selects its GPU)."""
    return _env_int("LOCAL_RANK", 0)


def is_main() -> bool:
    """Whether this process is rank 0, the one that writes files and prints progress."""
    return rank() == 0


def quiet(_: str) -> None:
    """The progress ``log`` of ranks other than 0 (it says nothing: rank 0 reports)."""


def launched() -> bool:
    """Whether torchrun started this process as one of several (``WORLD_SIZE > 1``)."""
    return _env_int("WORLD_SIZE", 1) > 1


def resolve_device(name: str = "cpu", *, cuda_available: bool | None = None) -> torch.device:
    """The torch device of ``--device name`` for this process.

    ``auto`` is ``cuda`` when a GPU is visible, else ``cpu``.  With ``cuda`` under torchrun,
    each process takes the GPU of its ``LOCAL_RANK`` (``cuda:LOCAL_RANK``).

    Args:
        name: one of :data:`DEVICES`.
        cuda_available: whether CUDA is usable (default: ``torch.cuda.is_available()``);
            tests pass it to check the logic on a machine without a GPU.

    Raises:
        LutnnError: an unknown name, ``cuda`` without a GPU, or fewer GPUs than local ranks.
    """
    if name not in DEVICES:
        raise LutnnError(f"unknown device {name!r}; choose one of: {', '.join(DEVICES)}")
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if name == "auto":
        name = "cuda" if cuda_available else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not cuda_available:
        raise LutnnError("--device cuda: no CUDA GPU is visible to PyTorch here; use "
                         "--device cpu (or auto)")
    index = local_rank() if launched() else 0
    # a test that forces cuda_available on a CPU machine checks the logic, not the count
    count = torch.cuda.device_count() if torch.cuda.is_available() else index + 1
    if index >= count:
        raise LutnnError(f"--device cuda: local rank {index} needs GPU {index}, but only {count} "
                         "are visible; launch at most one process per GPU")
    return torch.device("cuda", index)


def backend_for(device: torch.device) -> str:
    """The process-group backend of a device: ``nccl`` for CUDA, ``gloo`` for CPU."""
    return "nccl" if device.type == "cuda" else "gloo"


@contextlib.contextmanager
def session(device: str = "cpu") -> Iterator[torch.device]:
    """Resolve ``device`` and, under torchrun, hold the process group for the block.

    Without torchrun (``WORLD_SIZE`` unset or 1) nothing is initialised.  A group that the
    caller initialised already is used and left alone; one this call made is destroyed at the
    end.  Yields this process's device (see :func:`resolve_device`).
    """
    dev = resolve_device(device)
    made, old_handler = False, None
    if launched() and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend_for(dev), timeout=TIMEOUT)
        made = True
        if threading.current_thread() is threading.main_thread():
            # torchrun stops the other workers with SIGTERM when one fails: unwind (release
            # the run folder's lock, remove a failed new run) instead of dying on the spot
            old_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield dev
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
        if made and dist.is_initialized():
            dist.destroy_process_group()


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def barrier() -> None:
    """Wait until every rank gets here (no-op in one process)."""
    if active():
        dist.barrier()


def all_sum(values: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``values`` over ranks (the same tensor in one process)."""
    if not active():
        return values
    out = values.clone()
    dist.all_reduce(out)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (picklable objects; no-op in one process)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj: Any) -> list:
    """Every rank's ``obj``, in rank order (``[obj]`` in one process)."""
    if not active():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def batch_part(length: int, world: int, me: int) -> slice:
    """Rank ``me``'s contiguous part of a global batch of ``length`` samples.

    Parts differ in size by at most one (the first ``length % world`` ranks take one more),
    so a batch size divisible by the world size gives every rank ``length // world``.
    """
    base, extra = divmod(length, world)
    start = me * base + min(me, extra)
    return slice(start, start + base + (me < extra))


class _AllSum(torch.autograd.Function):
    """Differentiable sum over ranks: ``y = sum_r x_r`` on every rank, so the gradient of
    ``x_r`` is the sum over ranks of the gradients of ``y``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.contiguous().clone()
        dist.all_reduce(out)
        return out


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` whose training-mode statistics are over every rank's samples.

    Not built directly: :func:`global_batchnorm` gives existing ``BatchNorm1d`` modules this
    class for a block (same parameters, buffers and state dict).  Inputs ``[M, C]``.  The
    per-feature sums are accumulated in float64, so the mean and biased variance
    ``E[x^2] - E[x]^2`` lose nothing to cancellation at these sizes.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and active()):
            return super().forward(x)
        if x.dim() == 3:  # [M, C, L]: statistics per channel over M and L
            return self.forward(x.transpose(1, 2).reshape(-1, x.shape[1])).reshape(
                x.shape[0], x.shape[2], x.shape[1]).transpose(1, 2)
        x64 = x.double()
        local = torch.cat([x64.sum(0), (x64 * x64).sum(0),
                           x64.new_full((1,), float(x.shape[0]))])
        total = _AllSum.apply(local)  # backward: the gradients summed over ranks
        c = self.num_features
        count = total[-1]
        mean = total[:c] / count
        var = (total[c : 2 * c] / count - mean * mean).clamp_min(0.0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (self.momentum if self.momentum is not None
                     else 1.0 / float(self.num_batches_tracked))
                n = float(count)
                unbiased = var * (n / max(n - 1.0, 1.0))
                self.running_mean.mul_(1 - m).add_(mean.to(x.dtype), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.to(x.dtype), alpha=m)
        y = (x - mean.to(x.dtype)) * torch.rsqrt(var.to(x.dtype) + self.eps)
        if self.affine:
            y = y * self.weight + self.bias
        return y


@contextlib.contextmanager
def global_batchnorm(model: nn.Module) -> Iterator[int]:
    """Give every ``nn.BatchNorm1d`` of ``model`` global statistics for the block.

    The modules keep their identity (so an optimizer's parameters stay theirs); their class
    is :class:`GlobalBatchNorm1d` inside the block and ``nn.BatchNorm1d`` again after it.
    Yields the number of modules changed.  Without a process group the forward pass is
    ``BatchNorm1d``'s own.
    """
    changed = [m for m in model.modules() if type(m) is nn.BatchNorm1d]
    for m in changed:
        m.__class__ = GlobalBatchNorm1d
    try:
        yield len(changed)
    finally:
        for m in changed:
            m.__class__ = nn.BatchNorm1d


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``python -m lutnn ARGV`` in ``nproc`` processes under torchrun; the exit status.

    This is ``torchrun --standalone --nproc-per-node NPROC -m lutnn ARGV`` (one machine, a
    free port), called in-process so that a worker's user error keeps its exit status 2 (its
    one-line message is already on stderr); a crash of any worker stops the others.
    """
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    args = torchrun.parse_args(["--standalone", f"--nproc-per-node={nproc}",
                                "--max-restarts=0", "--monitor-interval=0.5",
                                "-m", "lutnn", *argv])
    # torchrun's agent logs a worker's failure in a multi-line record; lutnn says it in one
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    env_threads = os.environ.get("OMP_NUM_THREADS")
    if env_threads is None:  # torchrun's default, without its warning
        os.environ["OMP_NUM_THREADS"] = "1"
    try:
        torchrun.run(args)
    except ChildFailedError as exc:
        codes = [f.exitcode for f in exc.failures.values()]
        if 2 in codes:
            return 2
        print(f"lutnn: {len(codes)} of {nproc} processes failed (exit status "
              f"{', '.join(map(str, codes))}); see their messages above", file=sys.stderr)
        return 1
    finally:
        if env_threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
    return 0


__all__ = [
    "DEVICES", "GlobalBatchNorm1d", "active", "all_gather_object", "all_sum", "backend_for",
    "barrier", "batch_part", "broadcast_object", "global_batchnorm", "is_main", "launch",
    "launched", "local_rank", "quiet", "rank", "resolve_device", "session", "world_size",
]
