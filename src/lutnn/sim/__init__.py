"""Golden simulators of a :class:`~lutnn.ir.Netlist`.

:func:`simulate` is the fast bit-packed model (64 samples per uint64 word) that every other
representation (PyTorch model, emitted Verilog) is checked against; :func:`simulate_reference`
is the slow, obviously-correct per-layer definition that :func:`simulate` is tested against.
"""

from lutnn.sim.packed import num_words, pack_bits, simulate, unpack_bits
from lutnn.sim.reference import SimResult, simulate_reference

__all__ = [
    "SimResult",
    "num_words",
    "pack_bits",
    "simulate",
    "simulate_reference",
    "unpack_bits",
]
