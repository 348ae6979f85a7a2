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
from lutnn.ir.serialize import load_netlist, save_netlist
from lutnn.ir.summary import format_summary, netlist_summary

__all__ = [
    "BitLayer",
    "GroupSumHead",
    "InputEncoder",
    "LutLayer",
    "Netlist",
    "OrLayer",
    "ThresholdLayer",
    "format_summary",
    "load_netlist",
    "netlist_summary",
    "save_netlist",
]
