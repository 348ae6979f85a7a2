"""Testbench text and its file formats: input vectors as hex lines, outputs as hex lines.

Input file (read with ``$readmemh``): one vector per line, MSB first, ``ceil(W/4)`` hex digits,
where bit i of the vector is ``in_data[i]`` (pixel p in bits 8p+7..8p with an encoder; input q
in bits Wq+W-1..Wq with a W-bit :class:`~lutnn.ir.FeatureEncoder`).  Output
file (written by the testbench): one ``out_class`` or ``out_bits`` value per line, same format.
"""

from __future__ import annotations

import numpy as np

from lutnn.hdl.emit import VerilogDesign
from lutnn.hdl.templates import render
from lutnn.ir.layers import FeatureEncoder, Netlist

TB_TOP = "lutnn_tb"
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def emit_testbench(design: VerilogDesign, *, nmax: int = 1 << 16) -> str:
    """A self-checking-free driver testbench for ``design`` (module ``lutnn_tb``).

    Args:
        design: the emitted design it drives.
        nmax: the most vectors one run can read (the size of its ``$readmemh`` memory).
    """
    out = design.out_port
    return render("testbench", top=design.top, tb=TB_TOP, nmax=nmax, latency=design.latency,
                  in_msb=design.in_width - 1, in_width=design.in_width, out_msb=out.width - 1,
                  out_port=out.name) + "\n"


def bits_to_hex_lines(bits: np.ndarray) -> list[str]:
    """bool [B, W] -> B hex strings, bit i of a row = bit i of the number (MSB first)."""
    b, w = bits.shape
    pad = (-w) % 4
    padded = np.concatenate([bits.astype(np.uint8), np.zeros((b, pad), np.uint8)], axis=1)
    nibbles = padded.reshape(b, -1, 4) @ np.array([1, 2, 4, 8], dtype=np.uint8)  # (B, W/4)
    chars = _HEX[nibbles[:, ::-1]]
    return [row.tobytes().decode() for row in chars]


def pixels_to_hex_lines(pixels: np.ndarray) -> list[str]:
    """uint8 [B, P] -> B hex strings with pixel p in bits 8p+7..8p (last pixel first)."""
    return [row[::-1].tobytes().hex() for row in pixels]


def fixed_to_bits(values: np.ndarray, width: int) -> np.ndarray:
    """int [B, P] values of ``width`` bits -> bool [B, P*width], value q in bits
    width*q .. width*q + width - 1 (least significant first)."""
    bits = (values[:, :, None] >> np.arange(width)) & 1  # (B, P, W)
    return bits.reshape(len(values), -1).astype(bool)


def input_hex(netlist: Netlist, x: np.ndarray) -> str:
    """The ``$readmemh`` file text for inputs ``x`` (pixels with an encoder, else bits)."""
    x = np.asarray(x)
    if isinstance(netlist.encoder, FeatureEncoder):  # W-bit values, floats mapped first
        lines = bits_to_hex_lines(fixed_to_bits(netlist.encoder.to_fixed(x), netlist.encoder.width))
    elif netlist.encoder is not None:
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != netlist.encoder.pixels:
            raise ValueError(f"input must be uint8 pixels [B, {netlist.encoder.pixels}], "
                             f"got {x.dtype} {x.shape}")
        lines = pixels_to_hex_lines(x)
    else:
        if x.ndim != 2 or x.shape[1] != netlist.input_bits:
            raise ValueError(f"input must be bits [B, {netlist.input_bits}], got {x.shape}")
        if x.size and (x.min() < 0 or x.max() > 1):
            raise ValueError("input bits must be 0 or 1")
        lines = bits_to_hex_lines(x.astype(bool))
    return "\n".join(lines) + "\n"


def parse_hex_lines(lines: list[str], width: int) -> np.ndarray:
    """B hex strings of a ``width``-bit value -> bool [B, width] (bit i = bit i of the value).

    Raises:
        ValueError: a line is not hex (e.g. ``x``/``z`` from an undriven output).
    """
    digits = -(-width // 4)
    rows = []
    for i, line in enumerate(lines):
        text = line.strip().lower()
        if len(text) != digits or any(c not in "0123456789abcdef" for c in text):
            raise ValueError(f"output line {i + 1} is {line.strip()!r}, not {digits} hex digits")
        rows.append(text)
    if not rows:
        return np.zeros((0, width), dtype=bool)
    codes = np.frombuffer("".join(rows).encode(), dtype=np.uint8).reshape(len(rows), digits)
    nib = np.where(codes >= ord("a"), codes - ord("a") + 10, codes - ord("0"))[:, ::-1]  # LSB first
    bits = (nib[:, :, None] >> np.arange(4)) & 1  # (B, digits, 4)
    return bits.reshape(len(rows), -1)[:, :width].astype(bool)
