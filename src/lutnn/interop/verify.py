"""Proof, not trust: the original and the imported teacher on the same samples, bit for bit.

For each batch of raw images the original runs on ``to_input(pixels)`` (its own evaluation:
PyTorch, or qonnx's executor) and the lutnn teacher on the pixels.  Compared: the class
(argmax of the scores, the lowest index on ties, in both) and, at every tap (the input
quantizer, each activation, each pool), every bit: the original's value must be its high
value where lutnn's bit is 1 and its low value where it is 0.

**Ties the original's float rounding broke.**  The original sums its weights in float32, in
its own order: with a scale like 0.1, two classes whose XNOR sums are equal can come out as
1.0 and 1.0000001, and the second wins where the exact scores tie.  lutnn's scores are exact
(equal sums, equal popcounts, the lowest class wins).  A sample whose classes differ *and*
whose lutnn scores tie between the two classes (its head bits agree, so its exact scores
tie) is counted as a float tie, not a mismatch, and reported; any other difference in class
or bits is a mismatch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from lutnn.interop.convert import Imported
from lutnn.interop.graph import ForeignNet

BATCH = 250  # samples per evaluation of the original


@dataclass
class Agreement:
    """What one set of samples showed: per tap, the bits compared and those that differ."""

    name: str  # "test" or "random"
    samples: int = 0
    class_mismatches: int = 0
    first_class_mismatch: int | None = None
    float_ties: int = 0  # classes differ where the exact scores tie (see the module doc)
    first_float_tie: int | None = None
    correct: int = 0  # original's correct classes (labelled samples only)
    bits: dict[str, int] = field(default_factory=dict)  # tap label -> bits compared
    bit_mismatches: dict[str, int] = field(default_factory=dict)
    first_bit_mismatch: dict[str, int] = field(default_factory=dict)  # tap label -> sample

    @property
    def agrees(self) -> bool:
        return self.class_mismatches == 0 and not any(self.bit_mismatches.values())

    def to_json(self) -> dict:
        return {"samples": self.samples, "class_mismatches": self.class_mismatches,
                "first_class_mismatch": self.first_class_mismatch,
                "float_ties": self.float_ties, "first_float_tie": self.first_float_tie,
                "bits_compared": dict(self.bits), "bit_mismatches": dict(self.bit_mismatches),
                "first_bit_mismatch": dict(self.first_bit_mismatch)}


def _lutnn_outputs(model: torch.nn.Sequential, pixels: np.ndarray) -> list[np.ndarray]:
    """Every block's output for uint8 ``pixels`` (the teacher's own input)."""
    outs, x = [], torch.from_numpy(pixels.astype(np.float32))
    with torch.no_grad():
        for block in model:
            x = block(x)
            outs.append(x.numpy())
    return outs


def compare(net: ForeignNet, imported: Imported, pixels: np.ndarray,
            labels: np.ndarray | None, to_input: Callable[[np.ndarray], np.ndarray],
            name: str) -> Agreement:
    """The agreement of ``net`` and ``imported`` on uint8 images ``pixels`` ``[n, C, H, W]``."""
    result = Agreement(name)
    for start in range(0, len(pixels), BATCH):
        raw = pixels[start:start + BATCH]
        scores, outs = net.evaluate(to_input(raw))
        ours = _lutnn_outputs(imported.model, raw)
        theirs_cls, ours_cls = scores.argmax(axis=1), ours[-1].argmax(axis=1)
        differ = np.flatnonzero(theirs_cls != ours_cls)
        tie = ours[-1][differ, theirs_cls[differ]] == ours[-1][differ, ours_cls[differ]]
        bad, ties = differ[~tie], differ[tie]
        if bad.size and result.first_class_mismatch is None:
            result.first_class_mismatch = start + int(bad[0])
        if ties.size and result.first_float_tie is None:
            result.first_float_tie = start + int(ties[0])
        result.class_mismatches += int(bad.size)
        result.float_ties += int(ties.size)
        if labels is not None:
            result.correct += int((theirs_cls == labels[start:start + BATCH]).sum())
        for tap in imported.taps:
            value = outs[tap.key].reshape(len(raw), -1)
            bit = ours[tap.block].reshape(len(raw), -1) == 1
            wrong = np.where(bit, value != tap.high, value != tap.low)  # (B, bits)
            result.bits[tap.label] = result.bits.get(tap.label, 0) + int(wrong.size)
            result.bit_mismatches[tap.label] = (result.bit_mismatches.get(tap.label, 0)
                                                + int(wrong.sum()))
            rows = np.flatnonzero(wrong.any(axis=1))
            if rows.size and tap.label not in result.first_bit_mismatch:
                result.first_bit_mismatch[tap.label] = start + int(rows[0])
        result.samples += len(raw)
    return result
