"""``lutnn import``: a Brevitas, QONNX or plain PyTorch binarized network into a teacher run."""

from __future__ import annotations

import argparse
import math

from lutnn.cli.common import non_negative_int


def input_range(text: str) -> tuple[float, float]:
    """``LOW,HIGH``: two different finite numbers."""
    parts = text.split(",")
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH (two numbers), got {text!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low == high:
        raise argparse.ArgumentTypeError(f"expected two different finite numbers, got {text!r}")
    return low, high


def add_parser(sub) -> None:
    from lutnn.interop.run import RANDOM_SAMPLES

    p = sub.add_parser("import", help="make a teacher run folder from your own binarized "
                       "network (Brevitas module, QONNX file or plain PyTorch module), "
                       "checked bit for bit against it")
    p.add_argument("source", help="a QONNX file, or a module factory package.module:function "
                   "(importable from the current folder or PYTHONPATH) returning a Brevitas or "
                   "plain PyTorch nn.Module")
    p.add_argument("--data", required=True, help="images (IDX folder or .npz) to check on; "
                   "the run's data set")
    p.add_argument("--out", required=True, help="run folder to write (new, or an empty folder)")
    p.add_argument("--weights", metavar="STATE.pt", help="state-dict file for the factory's "
                   "module (loaded with weights_only=True)")
    p.add_argument("--input-range", type=input_range, default=(0.0, 1.0), metavar="LOW,HIGH",
                   help="what the model was fed: pixel 0 -> LOW, 255 -> HIGH, linearly "
                   "(default: 0,1; FINN's examples use -1,1: write --input-range=-1,1)")
    p.add_argument("--samples", type=non_negative_int, default=0, metavar="N",
                   help="test samples to check (default: 0 = the whole test split; "
                   f"{RANDOM_SAMPLES} random images are checked too)")
    p.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> None:
    from lutnn.interop import import_network

    import_network(args.source, args.data, args.out, weights=args.weights,
                   input_range=args.input_range, samples=args.samples)
