"""Typed IR between training and hardware (see :mod:`lutnn.ir.layers`); numpy only.

``layers`` (the node types, each declaring its arrays), ``spatial`` (convolutions with
tables shared across positions, pooling, flatten), ``dispatch`` (one function per node
type per backend), ``serialize`` (save/load), ``summary``, and ``passes`` (Netlist -> Netlist
rewrites: lowering to logic, LUT minimisation).
"""

from lutnn.ir.layers import (
    AddOp,
    ArraySpec,
    BitLayer,
    BitplaneEncoder,
    CompareOp,
    FeatureEncoder,
    GroupSumHead,
    InputEncoder,
    LogicLayer,
    LoweredHead,
    LutLayer,
    LutOp,
    Netlist,
    OrLayer,
    ThresholdLayer,
)
from lutnn.ir.serialize import load_netlist, save_netlist
from lutnn.ir.spatial import ImageFlatten, LutConv, OrPool, XnorConv
from lutnn.ir.summary import format_summary, netlist_summary

__all__ = [
    "AddOp",
    "ArraySpec",
    "BitLayer",
    "BitplaneEncoder",
    "CompareOp",
    "FeatureEncoder",
    "GroupSumHead",
    "ImageFlatten",
    "InputEncoder",
    "LogicLayer",
    "LoweredHead",
    "LutConv",
    "LutLayer",
    "LutOp",
    "Netlist",
    "OrLayer",
    "OrPool",
    "ThresholdLayer",
    "XnorConv",
    "format_summary",
    "load_netlist",
    "netlist_summary",
    "save_netlist",
]
