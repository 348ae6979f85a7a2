"""Declared passes and the flow that runs them, checking the netlist's form in between.

One :class:`~lutnn.ir.Netlist` type carries three forms:

* ``"spatial"``: shared-table convolutions, pools and flattens (:mod:`lutnn.ir.spatial`) may
  appear, besides flat nodes;
* ``"flat"``: LUT, threshold and OR layers and the unlowered head, one node per output bit;
* ``"lowered"``: LUT / adder / comparator ops (:class:`~lutnn.ir.LogicLayer`,
  :class:`~lutnn.ir.LoweredHead`) and OR layers.

:func:`forms` says which forms a netlist is in (a flat netlist is also a valid spatial one; a
netlist of OR layers alone is in all three).  A :class:`Pass` declares the forms it reads and
the form it writes; :func:`run_flow` runs a list of them and refuses a netlist a pass cannot
read, or a pass that wrote another form than it declared, naming the pass.  Each backend
(:class:`Backend`: Verilog, stream, C, numpy) declares its list, picked from the
:class:`~lutnn.ir.options.ExportOptions`, and its emitter only fills templates.

Example:
    >>> import numpy as np
    >>> from lutnn.ir import LutLayer, Netlist
    >>> xor = LutLayer("xor", 2, np.array([[0, 1]], np.int32), np.array([[0, 1, 1, 0]], np.uint8))
    >>> out = run_flow(Netlist(2, (xor,)), LOWER_FLOW)
    >>> sorted(forms(out)), type(out.layers[0]).__name__
    (['lowered'], 'LogicLayer')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lutnn.ir.layers import GroupSumHead, LogicLayer, LoweredHead, LutLayer, Netlist, ThresholdLayer
from lutnn.ir.passes.argmax import parallel_argmax
from lutnn.ir.passes.lower import lower
from lutnn.ir.passes.lower_spatial import lower_spatial
from lutnn.ir.passes.minimize import minimize
from lutnn.ir.passes.prune import prune
from lutnn.ir.passes.stages import assign_stages
from lutnn.ir.spatial import SPATIAL_LAYERS

FORMS = ("spatial", "flat", "lowered")
_LOWERED_ONLY = (LogicLayer, LoweredHead)
_UNLOWERED = (LutLayer, ThresholdLayer, GroupSumHead, *SPATIAL_LAYERS)


def forms(netlist: Netlist) -> frozenset[str]:
    """The forms ``netlist`` is in (empty for a mix of lowered and unlowered nodes)."""
    nodes = [*netlist.layers, *([netlist.head] if netlist.head is not None else [])]
    spatial = any(isinstance(n, SPATIAL_LAYERS) for n in nodes)
    lowered_only = any(isinstance(n, _LOWERED_ONLY) for n in nodes)
    unlowered = any(isinstance(n, _UNLOWERED) for n in nodes)
    out = set()
    if not lowered_only:
        out.add("spatial")
        if not spatial:
            out.add("flat")
    if not unlowered:
        out.add("lowered")
    return frozenset(out)


class FlowError(ValueError):
    """A pass was given a netlist of a form it does not read, or wrote an undeclared form:
    a bug in a flow's declaration, not a user error."""


@dataclass(frozen=True)
class Pass:
    """One declared rewrite: ``run(netlist) -> netlist``, reading a netlist in one of the
    forms ``reads`` and writing one in the form ``writes``."""

    name: str
    reads: tuple[str, ...]
    writes: str
    run: Callable[[Netlist], Netlist]

    def __post_init__(self) -> None:
        unknown = [f for f in (*self.reads, self.writes) if f not in FORMS]
        if unknown or not self.reads:
            raise ValueError(f"pass {self.name!r}: forms must be among {FORMS}, got "
                             f"reads={self.reads!r}, writes={self.writes!r}")


def run_flow(netlist: Netlist, passes: Sequence[Pass]) -> Netlist:
    """Run ``passes`` in order on ``netlist``, checking the form before and after each."""
    for p in passes:
        have = forms(netlist)
        if not have & set(p.reads):
            raise FlowError(f"pass {p.name!r} reads the {' or '.join(p.reads)} form; the "
                            f"netlist is {' / '.join(sorted(have)) or 'a mix of forms'}")
        netlist = p.run(netlist)
        if p.writes not in forms(netlist):
            raise FlowError(f"pass {p.name!r} declared it writes the {p.writes} form; it "
                            f"wrote {' / '.join(sorted(forms(netlist))) or 'a mix of forms'}")
    return netlist


#: the passes, declared once (a backend lists the ones it needs, in order)
LOWER_SPATIAL = Pass("lower_spatial", ("spatial",), "flat", lower_spatial)
PRUNE = Pass("prune", ("flat",), "flat", prune)
LOWER = Pass("lower", ("flat", "lowered"), "lowered", lower)
MINIMIZE = Pass("minimize", ("lowered",), "lowered", minimize)
PARALLEL_ARGMAX = Pass("parallel_argmax", ("lowered",), "lowered", parallel_argmax)


def assign_stages_pass(levels_per_stage: int | None) -> Pass:
    """``assign_stages(netlist, levels_per_stage)`` as a pass (lowered -> lowered)."""
    return Pass("assign_stages", ("lowered",), "lowered",
                lambda netlist: assign_stages(netlist, levels_per_stage))


#: what the Verilog emitter's every design starts from
LOWER_FLOW = (LOWER, MINIMIZE)


class Artifact(Protocol):
    """What a backend emits: written into a folder and read back from it (``load`` reads the
    files that ``save`` wrote, not a re-emission), with its latency in clock cycles (0 for
    software)."""

    latency: int

    def save(self, out_dir: Path) -> dict: ...

    @classmethod
    def load(cls, out_dir: Path, record: dict) -> Artifact: ...


class Backend(Protocol):
    """One way out of the IR (Verilog, stream, C, numpy): the passes it runs on the netlist
    it is given, and the emitter that fills its templates from their result."""

    name: str

    def passes(self, options: Any) -> tuple[Pass, ...]: ...

    def emit(self, netlist: Netlist, options: Any) -> Artifact: ...


__all__ = ["FORMS", "LOWER", "LOWER_FLOW", "LOWER_SPATIAL", "MINIMIZE", "PARALLEL_ARGMAX",
           "PRUNE", "Artifact", "Backend", "FlowError", "Pass", "assign_stages_pass", "forms",
           "run_flow"]
