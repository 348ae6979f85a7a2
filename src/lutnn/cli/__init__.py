"""The ``lutnn`` command line:
``lutnn train|distill|import|export|sim|compile|synth|report|data|demo``.

One module per job, each with one small parser builder per command (``add_*parser(sub)``)
and its ``cmd_*`` function: :mod:`~lutnn.cli.train`, :mod:`~lutnn.cli.distill`,
:mod:`~lutnn.cli.import_`, :mod:`~lutnn.cli.hardware` (export, sim, compile, synth),
:mod:`~lutnn.cli.misc` (report, data, demo); :mod:`~lutnn.cli.common` holds the one-line
parser, the validator factory and the help defaults read from the config dataclasses.

User errors (:class:`~lutnn.errors.LutnnError`) print one line on stderr and exit with 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable

from lutnn.cli import distill as _distill
from lutnn.cli import hardware as _hardware
from lutnn.cli import import_ as _import
from lutnn.cli import misc as _misc
from lutnn.cli import train as _train
from lutnn.cli.common import EXIT_USER_ERROR, MAX_SEED, Parser, without_nproc
from lutnn.errors import LutnnError

_without_nproc = without_nproc  # the name tests and older callers use

#: one parser builder per command, in the order ``lutnn --help`` lists them
COMMANDS = (
    _train.add_parser,
    _distill.add_parser,
    _import.add_parser,
    _hardware.add_export_parser,
    _hardware.add_sim_parser,
    _hardware.add_compile_parser,
    _hardware.add_synth_parser,
    _misc.add_report_parser,
    _misc.add_data_parser,
    _misc.add_demo_parser,
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="lutnn", description="FPGA-native LUT networks: train, distill, export, verify."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # for --nproc, which reruns the command
    func: Callable[[argparse.Namespace], int | None] = args.func
    from lutnn.runfolder import USER_ERRNOS

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(args.command)
            code = func(args)
    except LutnnError as exc:
        from lutnn.distributed import is_main

        if is_main():  # under torchrun every rank raises the same: rank 0 says it once
            print(f"lutnn {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # the file system refuses (read-only, full): not a lutnn bug
        if exc.errno not in USER_ERRNOS:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"lutnn {args.command}: error: {exc.strerror}{where}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        again = ("rerun with --resume to continue" if args.command in ("train", "distill")
                 else "nothing half-written was left; run the command again")
        print(f"lutnn {args.command}: interrupted ({again})", file=sys.stderr)
        return 130
    return code or 0


def _one_line_warning(command: str):
    """``warnings.showwarning`` for lutnn's own warnings: one line, no source line."""
    from lutnn.data.datasets import DataWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DataWarning):
            print(f"lutnn {command}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


__all__ = ["EXIT_USER_ERROR", "MAX_SEED", "build_parser", "main"]
