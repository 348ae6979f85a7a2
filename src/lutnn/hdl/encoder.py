"""Verilog of the input encoders (the body of the ``<top>_enc_*`` module of
:mod:`lutnn.hdl.emit`), and the header lines of a :class:`~lutnn.ir.FeatureEncoder`'s
float -> fixed-point mapping.

Encoder bit ``b`` is ``y[b]``, read from the input ``x`` (8-bit pixels, or W-bit fixed-point
values of a :class:`~lutnn.ir.FeatureEncoder`, value q at ``x[Wq+W-1:Wq]``):

* a bit the network reads compares its input with its threshold (``encoder_bit`` /
  ``feature_bit`` templates), one comparator per distinct (input, threshold): a later bit
  making the same comparison is a copy of the first
  (:func:`~lutnn.ir.passes.encoder.encoder_keys`);
* a comparison with 0 is ``1'b1``, with a constant above the largest input ``1'b0``;
* a bit the network does not read (:func:`~lutnn.ir.passes.encoder.encoder_bits_read`) is tied
  to ``1'b0``;
* a :class:`~lutnn.ir.BitplaneEncoder`'s bit is a wire from its pixel's bit.
"""

from __future__ import annotations

import numpy as np

from lutnn.hdl.templates import render
from lutnn.ir.layers import BitplaneEncoder, FeatureEncoder, InputEncoder
from lutnn.ir.passes.encoder import KIND_PLANE, encoder_keys


def encoder_body(enc: InputEncoder | FeatureEncoder | BitplaneEncoder,
                 read: np.ndarray | None) -> tuple[list[str], int]:
    """One line per encoder bit, and the comparators built.  Only the bits the network reads
    (``read``; None: all) get logic, and bits comparing the same input with the same constant
    share one comparator (the first read one); an unread bit is tied to 0, a bit plane is a
    wire, a comparison with 0 or past the largest input a constant."""
    w = enc.width if isinstance(enc, FeatureEncoder) else 8
    top = enc.max_value if isinstance(enc, FeatureEncoder) else 255
    keys = encoder_keys(enc)  # (bits, 3): input q, kind, constant
    first: dict[tuple[int, int], int] = {}
    lines = []
    for bit, (q, kind, c) in enumerate(keys.tolist()):
        if read is not None and not read[bit]:
            rhs = "1'b0"  # nothing reads it: no comparator
        elif kind == KIND_PLANE:
            rhs = f"x[{w * q + c}]"
        elif c == 0 or c > top:
            rhs = "1'b1" if c == 0 else "1'b0"
        elif (q, c) in first:
            rhs = f"y[{first[q, c]}]"  # the same comparison: one comparator
        else:
            first[q, c] = bit
            span = {"bit": bit, "msb": w * q + w - 1, "lsb": w * q, "threshold": c}
            lines.append(render("feature_bit", width=w, **span)
                         if isinstance(enc, FeatureEncoder) else render("encoder_bit", **span))
            continue
        lines.append(render("assign", lhs=f"y[{bit}]", rhs=rhs))
    return lines, len(first)


def feature_mapping_comment(enc: FeatureEncoder) -> list[str]:
    """Header lines stating the float -> fixed-point mapping of every input (one line when
    all inputs share it)."""
    rule = (f"x_fixed[q] = clip(floor((x[q] - offset[q]) * scale[q] + 1/2), 0, "
            f"{enc.max_value}), float64")
    pairs = [(repr(float(o)), repr(float(s))) for o, s in zip(enc.offset, enc.scale, strict=True)]
    if len(set(pairs)) == 1:
        return [f"//   fixed point: {rule}; every input: offset {pairs[0][0]}, "
                f"scale {pairs[0][1]}"]
    return [f"//   fixed point: {rule}; per input q:",
            *(f"//     q={q}: offset {o}, scale {sc}" for q, (o, sc) in enumerate(pairs))]


__all__ = ["encoder_body", "feature_mapping_comment"]
