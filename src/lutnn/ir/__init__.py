"""Typed IR between training and hardware (see :mod:`lutnn.ir.layers`)."""

from lutnn.ir.layers import (
    BitLayer,
    GroupSumHead,
    InputEncoder,
    LutLayer,
    Netlist,
    OrLayer,
    ThresholdLayer,
)

__all__ = [
    "BitLayer",
    "GroupSumHead",
    "InputEncoder",
    "LutLayer",
    "Netlist",
    "OrLayer",
    "ThresholdLayer",
]
