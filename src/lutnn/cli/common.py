"""What every ``lutnn`` command shares: the one-line parser, the argument validators (one
factory), defaults read from the config dataclasses, ``--config`` and ``--nproc``."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from collections.abc import Callable

from lutnn.errors import LutnnError

EXIT_USER_ERROR = 2
MAX_SEED = 2**32 - 1


class Parser(argparse.ArgumentParser):
    """Usage errors on one line, like every other user error (exit status 2)."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def number(kind: type, *, low: float, high: float | None = None, strict: bool = False,
           expected: str, unparsed: str | None = None,
           out_of_range: str | None = None) -> Callable[[str], int | float]:
    """An argparse ``type`` (the one validator factory): ``kind(text)`` (int or float,
    finite) at least ``low`` (above it with ``strict``) and at most ``high``.  Messages:
    "expected <unparsed or expected>, got 'text'" for text that is no number, else
    ``out_of_range`` (with ``{value}``) or "expected <expected>, got 'text'"."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {unparsed or expected}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (strict and value == low) or (
                high is not None and value > high):
            raise argparse.ArgumentTypeError(
                out_of_range.format(value=value) if out_of_range
                else f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


positive_int = number(int, low=0, strict=True, expected="a positive integer")
non_negative_int = number(int, low=0, expected="an integer >= 0")
positive_float = number(float, low=0, strict=True, expected="a finite number > 0",
                        unparsed="a number > 0")
seed = number(int, low=0, high=MAX_SEED, expected="an integer seed",
              out_of_range=f"a seed must lie in 0..{MAX_SEED}, got {{value}}")


def default(config: type, field: str, shown: str | None = None) -> str:
    """``"(default: X)"`` with X the dataclass field's default (or ``shown``), so help
    strings never restate a default by hand."""
    if shown is None:
        shown = str(next(f for f in dataclasses.fields(config) if f.name == field).default)
    return f"(default: {shown})"


def load_overrides(path: str | None) -> dict:
    """Model config overrides from a JSON object file (``--config``)."""
    if path is None:
        return {}
    from lutnn import io

    overrides = io.read_json(path, "config file")
    if not isinstance(overrides, dict):
        raise LutnnError(f"config file {path} must hold a JSON object of config fields")
    return overrides


def launch_if_asked(args: argparse.Namespace) -> int | None:
    """With ``--nproc N > 1``: rerun this command in N processes under torchrun; the exit
    status (None: run here, in this process)."""
    from lutnn import distributed

    if args.nproc == 1:
        return None
    if distributed.launched():
        raise LutnnError("--nproc is for a plain lutnn command; under torchrun leave it out "
                         "(torchrun's --nproc-per-node sets the processes)")
    device = getattr(args, "device", "cpu")
    if device == "cpu" or (device == "auto" and not _cuda_visible()):
        check_nproc_for_cpu(args.nproc)
    return distributed.launch(args.nproc, without_nproc(args.argv))


def _cuda_visible() -> bool:
    import torch

    return torch.cuda.is_available()


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def check_nproc_for_cpu(nproc: int, cores: int | None = None) -> None:
    """``--nproc`` on CPU: refused past twice the cores, a warning (stderr) past them.

    Raises:
        LutnnError: ``nproc`` > 2 x ``cores`` (default :func:`cpu_cores`).
    """
    cores = cpu_cores() if cores is None else cores
    if nproc > 2 * cores:
        raise LutnnError(
            f"--nproc {nproc} is more than twice the {cores} CPU core(s) of this machine: the "
            f"processes would mostly wait for each other; use --nproc {cores} or less"
        )
    if nproc > cores:
        print(f"lutnn: warning: --nproc {nproc} is more than the {cores} CPU core(s): the "
              f"processes share cores and run slower than --nproc {cores}", file=sys.stderr)


def without_nproc(argv: list[str]) -> list[str]:
    """``argv`` without its ``--nproc N`` / ``--nproc=N`` (the launched processes' command)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def add_scale_arguments(p: argparse.ArgumentParser) -> None:
    """``--device`` and ``--nproc`` (:mod:`lutnn.distributed`) of ``train`` and ``distill``."""
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"],
                   help="where to compute: cpu, cuda, or auto = cuda when a GPU is visible "
                   "(default: cpu)")
    p.add_argument("--nproc", type=positive_int, default=1, metavar="N",
                   help="data-parallel processes on this machine: relaunches the command under "
                   "torchrun (gloo on CPU, nccl on CUDA); the global batch stays --batch-size "
                   "(default: 1)")
