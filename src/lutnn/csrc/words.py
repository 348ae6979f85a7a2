"""Bit-sliced word operations, written as C: one machine word holds one bit of 64 (or 256)
samples, so every Boolean operation below runs on all of them at once.

A :class:`Code` collects the statements of one node (``const lutnn_word tN = ...;``) and
folds constants as it goes.  An operand (:data:`Word`) is either C text naming a word (a
temporary ``t3`` or a signal ``s[17]``) or the Python int 0 or 1 for the all-zeros or
all-ones word, which never reaches the C text unless a result is itself constant.

The circuits, each from :mod:`lutnn.csrc.templates` snippets only:

* :meth:`Code.lut`: a table as a reduced decision diagram: Shannon expansion on the top
  address bit, equal cofactors skipped, a cofactor that is the complement of another or a
  constant turned into one operation (``x & f``, ``f | x``, ``x ^ f``...), equal
  sub-functions computed once; the general node is ``lo ^ ((lo ^ hi) & x)``;
* :meth:`Code.popcount`: full and half adders on columns of equal weight (carry-save,
  first-in first-out, so the tree is balanced) down to one bit per weight;
* :meth:`Code.add`: a ripple-carry adder;
* :meth:`Code.ge_const`: ``v >= T`` for a constant T, one AND or OR per bit of T from its
  lowest set bit up;
* :meth:`Code.greater`: ``a > b`` for two numbers, least significant bit first.
"""

from __future__ import annotations

import re

import numpy as np

from lutnn.csrc.templates import render

Word = str | int  # C text of a word, or the constant 0 / 1 (all zeros / all ones)
_TEMP = re.compile(r"\bt\d+\b")


def c_word(w: Word) -> str:
    """C text of an operand (constants as ``LUTNN_W0`` / ``LUTNN_W1``)."""
    if isinstance(w, int):
        return render("one" if w else "zero")
    return w


def signal(index: int) -> str:
    """C text of global signal ``index``."""
    return render("signal", index=index)


class Code:
    """The statements of one node: temporaries ``t0, t1, ...`` in a C block scope."""

    def __init__(self) -> None:
        self._defs: list[tuple[str, str]] = []  # (temporary, its expression)

    def _temp(self, template: str, **operands: Word) -> str:
        name = f"t{len(self._defs)}"
        self._defs.append((name, render(template, **{k: c_word(v) for k, v in operands.items()})))
        return name

    def lines(self, results: list[Word]) -> list[str]:
        """The statements ``results`` need, in order (unread temporaries are dropped)."""
        live = {w for w in results if isinstance(w, str)}
        keep = []
        for name, expr in reversed(self._defs):
            if name in live:
                keep.append(render("temp", name=name, expr=expr))
                live.update(_TEMP.findall(expr))
        return keep[::-1]

    # -- single operations, constants folded ----------------------------------------------
    def not_(self, a: Word) -> Word:
        return 1 - a if isinstance(a, int) else self._temp("not", a=a)

    def and_(self, a: Word, b: Word) -> Word:
        if isinstance(a, int):
            a, b = b, a
        if isinstance(b, int):
            return a if b else 0
        return a if a == b else self._temp("and", a=a, b=b)

    def or_(self, a: Word, b: Word) -> Word:
        if isinstance(a, int):
            a, b = b, a
        if isinstance(b, int):
            return 1 if b else a
        return a if a == b else self._temp("or", a=a, b=b)

    def xor(self, a: Word, b: Word) -> Word:
        if isinstance(a, int):
            a, b = b, a
        if isinstance(b, int):
            return self.not_(a) if b else a
        return 0 if a == b else self._temp("xor", a=a, b=b)

    def andn(self, a: Word, b: Word) -> Word:
        """``a & ~b``."""
        if isinstance(b, int) or isinstance(a, int):
            return self.and_(a, self.not_(b))
        return 0 if a == b else self._temp("andn", a=a, b=b)

    def orn(self, a: Word, b: Word) -> Word:
        """``a | ~b``."""
        if isinstance(b, int) or isinstance(a, int):
            return self.or_(a, self.not_(b))
        return 1 if a == b else self._temp("orn", a=a, b=b)

    def mux(self, x: Word, lo: Word, hi: Word) -> Word:
        """``hi`` where ``x`` is 1, else ``lo``."""
        if isinstance(x, int):
            return hi if x else lo
        if lo == hi:
            return lo
        if isinstance(lo, int) and isinstance(hi, int):
            return x if hi else self.not_(x)
        if lo == 0:
            return self.and_(x, hi)
        if lo == 1:
            return self.orn(hi, x)
        if hi == 0:
            return self.andn(lo, x)
        if hi == 1:
            return self.or_(x, lo)
        return self._temp("mux", x=x, lo=lo, hi=hi)

    # -- circuits -------------------------------------------------------------------------
    def lut(self, inputs: list[Word], table: np.ndarray) -> Word:
        """``table[sum_j inputs[j] << j]`` as a reduced decision diagram (see the module)."""
        k = len(inputs)
        tt = sum(int(v) << a for a, v in enumerate(table.tolist()))  # bit a = table[a]
        memo: dict[tuple[int, int], Word] = {}

        def build(tt: int, m: int) -> Word:  # tt: a function of inputs[0..m-1], 2**m bits
            full = (1 << (1 << m)) - 1
            if tt == 0 or tt == full:
                return int(tt == full)
            if (m, tt) in memo:
                return memo[m, tt]
            if (m, tt ^ full) in memo:
                memo[m, tt] = self.not_(memo[m, tt ^ full])
                return memo[m, tt]
            half = 1 << (m - 1)
            lo, hi = tt & ((1 << half) - 1), tt >> half
            x = inputs[m - 1]
            f0 = build(lo, m - 1)
            if lo == hi:
                out = f0
            elif lo ^ hi == (1 << half) - 1:  # hi is the complement of lo
                out = self.xor(x, f0)
            else:
                out = self.mux(x, f0, build(hi, m - 1))
            memo[m, tt] = out
            return out

        return build(tt, k)

    def full_add(self, a: Word, b: Word, c: Word) -> tuple[Word, Word]:
        """(sum, carry) of three bits."""
        t = self.xor(a, b)
        return self.xor(t, c), self.or_(self.and_(a, b), self.and_(c, t))

    def popcount(self, bits: list[Word], width: int) -> list[Word]:
        """The number of ones in ``bits`` as ``width`` words, least significant first
        (modulo 2**width)."""
        cols: dict[int, list[Word]] = {0: [b for b in bits if b != 0]}
        out: list[Word] = []
        for c in range(width):
            col, carries = cols.get(c, []), cols.setdefault(c + 1, [])
            while len(col) >= 3:  # first in, first out: a balanced tree
                s, carry = self.full_add(col.pop(0), col.pop(0), col.pop(0))
                col.append(s)
                carries.append(carry)
            if len(col) == 2:
                a, b = col
                col = [self.xor(a, b)]
                carries.append(self.and_(a, b))
            out.append(col[0] if col else 0)
        return out

    def add(self, rows: list[list[Word]]) -> list[Word]:
        """Ripple-carry sum of one or two rows (least significant first), modulo 2**width."""
        if len(rows) == 1:
            return list(rows[0])
        out, carry = [], 0
        for a, b in zip(*rows, strict=True):
            s, carry = self.full_add(a, b, carry)
            out.append(s)
        return out

    def ge_const(self, bits: list[Word], threshold: int) -> Word:
        """``v >= threshold`` for the number ``v`` in ``bits`` (least significant first)."""
        if threshold <= 0:
            return 1
        if threshold >= 1 << len(bits):
            return 0
        r: Word = 1  # the bits below threshold's lowest set bit do not matter
        low = (threshold & -threshold).bit_length() - 1
        for c in range(low, len(bits)):
            r = self.and_(bits[c], r) if (threshold >> c) & 1 else self.or_(bits[c], r)
        return r

    def greater(self, a: list[Word], b: list[Word]) -> Word:
        """``a > b`` for two numbers of equal width (least significant first)."""
        r: Word = 0
        for x, y in zip(a, b, strict=True):  # a higher differing bit decides
            r = self.mux(self.xor(x, y), r, x)
        return r
