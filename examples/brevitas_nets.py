"""Two binarized networks as a FINN user writes them in Brevitas, for ``lutnn import``.

``lfc()`` is FINN's LFC in small (784-64-64-10), ``cnv()`` its CNV in small (two 3x3
convolutions with max pools, one dense layer, the class layer): 1-bit weights (+-1), 1-bit
activations (+-1), BatchNorm between, the input signed at 0 after scaling pixels to -1..1
(FINN's convention: ``lutnn import --input-range=-1,1``).  Run this file to train both
briefly on MNIST and write their weights and their own QONNX exports::

    python examples/brevitas_nets.py --data /path/to/mnist --out runs/byo
    lutnn import examples.brevitas_nets:lfc --weights runs/byo/lfc.pt --data /path/to/mnist \\
        --out runs/byo/lfc-teacher --input-range=-1,1
    lutnn import runs/byo/cnv.onnx --data /path/to/mnist --out runs/byo/cnv-teacher \\
        --input-range=-1,1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
from brevitas.quant import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst
from torch import nn


class BinaryWeights(SignedBinaryWeightPerTensorConst):
    scaling_const = 1.0  # +-1 weights, as FINN's CommonWeightQuant


def sign() -> QuantIdentity:
    return QuantIdentity(act_quant=SignedBinaryActPerTensorConst)  # +-1, sign(0) = +1


def dense(n_in: int, n_out: int) -> QuantLinear:
    return QuantLinear(n_in, n_out, bias=False, weight_quant=BinaryWeights)


def conv(c_in: int, c_out: int) -> QuantConv2d:
    return QuantConv2d(c_in, c_out, 3, bias=False, weight_quant=BinaryWeights)


class ScoreScale(nn.Module):
    """A fixed scale on the class scores (FINN puts a TensorNorm there): training's softmax
    sees scores of +-8 rather than +-64; one scale for every class keeps lutnn's head the
    XNOR agreements."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.125


def lfc() -> nn.Sequential:
    return nn.Sequential(sign(), nn.Flatten(),
                         dense(784, 64), nn.BatchNorm1d(64), sign(),
                         dense(64, 64), nn.BatchNorm1d(64), sign(),
                         dense(64, 10), ScoreScale())


def cnv() -> nn.Sequential:
    return nn.Sequential(sign(),
                         conv(1, 16), nn.BatchNorm2d(16), sign(), nn.MaxPool2d(2),   # 26 -> 13
                         conv(16, 16), nn.BatchNorm2d(16), sign(), nn.MaxPool2d(2),  # 11 -> 5
                         nn.Flatten(), dense(16 * 5 * 5, 64), nn.BatchNorm1d(64), sign(),
                         dense(64, 10), ScoreScale())


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, seed: int = 0
          ) -> nn.Module:
    """``steps`` Adam steps of 100 images, fed as pixel / 255 * 2 - 1."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (100,))
        loss = nn.functional.cross_entropy(model(x[idx] / 255 * 2 - 1), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def main() -> None:
    from brevitas.export import export_qonnx

    from lutnn.data import load_dataset

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="MNIST folder (default: lutnn's MNIST)")
    p.add_argument("--out", default="runs/byo")
    p.add_argument("--steps", type=int, nargs=2, default=(600, 400), metavar=("LFC", "CNV"),
                   help="training steps of each network (default: 600 400, under a minute "
                   "each on one CPU core)")
    args = p.parse_args()
    ds = load_dataset(args.data)
    x, y = torch.from_numpy(ds.x_train).float(), torch.from_numpy(ds.y_train).long()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for (name, build), steps in zip((("lfc", lfc), ("cnv", cnv)), args.steps, strict=True):
        t0 = time.perf_counter()
        model = train(build(), x, y, steps)
        with torch.no_grad():
            guess = model(torch.from_numpy(ds.x_test).float() / 255 * 2 - 1).argmax(1)
        accuracy = (guess.numpy() == ds.y_test).mean()
        torch.save(model.state_dict(), out / f"{name}.pt")
        export_qonnx(model, torch.zeros(1, *ds.input_shape), export_path=str(out / f"{name}.onnx"))
        print(f"{name}: {steps} steps in {time.perf_counter() - t0:.0f} s, "
              f"test accuracy {accuracy:.4f} -> {out / name}.pt, {out / name}.onnx")


if __name__ == "__main__":
    main()
