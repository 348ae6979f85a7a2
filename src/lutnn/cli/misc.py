"""``lutnn report|data|demo``."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_report_parser(sub) -> None:
    p = sub.add_parser("report", help="report.md, summary.json and PNG plots of run folders")
    p.add_argument("dir", help="a run folder, or a folder of run folders (e.g. the demo's)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> None:
    from lutnn.report import write_report

    summary = write_report(args.dir)
    print(f"report of {len(summary['networks'])} network(s) -> {Path(args.dir) / 'report.md'}")


def add_data_parser(sub) -> None:
    from lutnn.data.fetch_tables import TABLE_SETS

    p = sub.add_parser("data", help="fetch a benchmark table (verified, cached as a .npz for "
                       "--data); prints its path")
    p.add_argument("name", choices=list(TABLE_SETS),
                   help="; ".join(f"{k}: {v.description}" for k, v in TABLE_SETS.items()))
    p.add_argument("--source", help="URL or folder to read the raw files from (default: "
                   "OpenML for jsc; unsw-nb15 needs one)")
    p.add_argument("--out", help="the .npz to write (default: ~/.cache/lutnn/NAME/NAME.npz)")
    p.add_argument("--force", action="store_true", help="fetch again even if cached")
    p.set_defaults(func=cmd_data)


def cmd_data(args: argparse.Namespace) -> None:
    from lutnn.data.fetch_tables import fetch_table

    path = fetch_table(args.name, source=args.source, dest=args.out, force=args.force)
    print(path)


def add_demo_parser(sub) -> None:
    p = sub.add_parser("demo", help="the whole pipeline on MNIST: train, distill, export, "
                       "RTL-simulate and synthesize both nets, report")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--quick", action="store_true", help="a small run (a few minutes)")
    p.add_argument("--data", help="IDX folder or .npz file (default: MNIST)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> None:
    from lutnn.demo import run_demo

    run_demo(args.out, quick=args.quick, data=args.data)
