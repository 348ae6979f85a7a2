"""Verilog lines of the lowered form's ops: one :class:`~lutnn.ir.LutOp`,
:class:`~lutnn.ir.AddOp` or :class:`~lutnn.ir.CompareOp` at a time, through :data:`OPS`
(op, :class:`Names`, top) -> lines (:func:`staged_ops` for a node cut into stages), plus the
value helpers the blocks of :mod:`lutnn.hdl.emit` and :mod:`lutnn.hdl.head` share (ranges,
table literals, concatenations, LUT instances).
"""

from __future__ import annotations

import numpy as np

from lutnn.hdl.templates import render
from lutnn.ir.dispatch import NodeTable
from lutnn.ir.layers import AddOp, CompareOp, LutOp

# One function per logic op: (op, Names, top) -> its Verilog lines.
OPS = NodeTable("hdl.emit.ops")


# ---------------------------------------------------------------------------------------------
# small value helpers (no Verilog syntax here beyond literals)


def bit_range(width: int) -> str:
    return f"[{width - 1}:0] "


def table_literal(bits: np.ndarray) -> str:
    """A sized hex literal of a table: entry a is bit a (``8'h96`` for XOR3)."""
    width = int(bits.shape[0])
    value = int.from_bytes(np.packbits(bits.astype(np.uint8), bitorder="little").tobytes(),
                           "little")
    digits = max(1, width // 4)
    return f"{width}'h{value:0{digits}x}"


def concat(exprs: list[str]) -> str:
    """Verilog concatenation with ``exprs[0]`` as the least significant bit."""
    return "{" + ", ".join(reversed(exprs)) + "}"


def lut_line(top: str, inst: str, inputs: list[str], table: np.ndarray, out: str) -> str:
    """One table lookup: a constant or a wire when that is all it is, else a ``<top>_lut``."""
    if not inputs:
        return render("assign", lhs=out, rhs=f"1'b{int(table[0])}")
    if len(inputs) == 1 and table[0] != table[1]:
        return render("assign", lhs=out, rhs=inputs[0] if table[1] else f"~{inputs[0]}")
    return render("lut_node", top=top, k=len(inputs), init=table_literal(table), inst=inst,
                  addr=concat(inputs), out=out)


# ---------------------------------------------------------------------------------------------
# logic ops (the lowered form of LUT and threshold layers and of the head)


class Names:
    """Verilog names of a lowered layer's signals, given as its ops are written.

    Inputs are ``x[i]``; output bit n is ``y[n]``; internal LUT bits of group g are
    ``<prefix><g>_c<j>`` (j counting that group's), a sum is ``<prefix><g>_sum``.

    In a node cut into stages (``staged``), a signal read by an op of a later stage than the
    one that wrote it is read through registers, one per stage boundary, named
    ``<name>_p<stage>``; :meth:`take_registers` hands out the lines of those made since the
    last call, to be written before the op that reads them.  Output bits are then internal
    wires too, registered up to the last stage and assigned to ``y`` at the end.
    """

    def __init__(self, prefix: str, in_width: int, outputs: dict[int, int],
                 staged: bool = False) -> None:
        self.prefix = prefix
        self.in_width = in_width
        self.outputs = outputs  # signal -> output bit
        self.names: dict[int, str] = {}
        self.vectors: dict[int, str] = {}  # first signal of a sum -> the sum's name
        self.made: dict[int, int] = {}
        self.staged = staged
        self.stage = 0  # the stage of the op being written
        self.stage_of: dict[str, int] = {}  # a name -> the stage it is computed in (inputs 0)
        self.width_of: dict[str, int] = {}  # a vector name -> its bits
        self.delayed: dict[tuple[str, int], str] = {}
        self.registers: list[str] = []

    def of(self, signal: int) -> str:
        return self.at(f"x[{signal}]" if signal < self.in_width else self.names[signal])

    def vector(self, first: int) -> str:
        """The sum starting at signal ``first``, as read in the current stage."""
        return self.at(self.vectors[first])

    def internal(self, group: int) -> str:
        j = self.made.get(group, 0)
        self.made[group] = j + 1
        return f"{self.prefix}{group}_c{j}"

    def written(self, name: str, width: int = 1) -> None:
        """``name`` is computed in the current stage."""
        self.stage_of[name] = self.stage
        if width > 1:
            self.width_of[name] = width

    def at(self, name: str, stage: int | None = None) -> str:
        """``name`` as read in ``stage`` (default: the current one), through registers."""
        stage = self.stage if stage is None else stage
        first = self.stage_of.get(name, 0)
        if not self.staged or stage <= first or "'" in name:  # same stage, or a constant
            return name
        for s in range(first + 1, stage + 1):
            if (name, s) not in self.delayed:
                base = name.replace("[", "_").replace("]", "")
                q = f"{base}_p{s}"
                width = self.width_of.get(name, 1)
                self.registers.append(render("delay_reg", range=bit_range(width) if width > 1
                                             else "", q=q, d=self.delayed.get((name, s - 1),
                                                                              name)))
                self.delayed[(name, s)] = q
        return self.delayed[(name, stage)]

    def take_registers(self) -> list[str]:
        lines, self.registers = self.registers, []
        return lines


def staged_ops(ops: tuple, names: Names, top: str) -> list[str]:
    """Each op's lines after the registers it reads through (a node cut into stages)."""
    lines: list[str] = []
    for op in ops:
        names.stage = op.stage
        body = OPS(op, names, top)
        lines += names.take_registers() + body
    return lines


@OPS.register(LutOp)
def _lut_op(op: LutOp, names: Names, top: str) -> list[str]:
    if op.out in names.outputs:
        n = names.outputs[op.out]
        out, inst, lines = f"y[{n}]", f"u{n}", []
    else:
        out = names.internal(op.group)
        inst, lines = f"u_{out}", [render("wire", range="", name=out)]
    names.names[op.out] = out
    line = lut_line(top, inst, [names.of(s) for s in op.inputs], op.table, out)
    names.written(out)
    return [*lines, line]


@OPS.register(AddOp)
def _add_op(op: AddOp, names: Names, top: str) -> list[str]:
    total = f"{names.prefix}{op.group}_sum"
    rows = [concat(["1'b0" if term is None else
                     ("~" if term[1] else "") + names.of(term[0]) for term in row])
            for row in op.rows]
    names.vectors[op.out] = total
    names.names.update({op.out + c: f"{total}[{c}]" for c in range(op.width)})
    names.written(total, op.width)
    for c in range(op.width):
        names.written(f"{total}[{c}]")
    if len(rows) == 2:
        return [render("sum2", msb=op.width - 1, name=total, a=rows[0], b=rows[1])]
    return [render("wire", range=bit_range(op.width), name=total),
            render("assign", lhs=total, rhs=rows[0])]


@OPS.register(CompareOp)
def _compare_op(op: CompareOp, names: Names, top: str) -> list[str]:
    cmp = "<" if op.invert else ">="
    if not names.staged:
        assert op.out in names.outputs, "a comparator drives an output bit"
        n = names.outputs[op.out]
        names.names[op.out] = f"y[{n}]"
        return [render("threshold_cmp", bit=n, sum=names.vectors[op.value], op=cmp,
                       width=op.width, threshold=op.threshold)]
    out = names.internal(op.group)
    line = render("compare_wire", name=out, sum=names.vector(op.value), op=cmp,
                  width=op.width, threshold=op.threshold)
    names.names[op.out] = out
    names.written(out)
    return [line]
