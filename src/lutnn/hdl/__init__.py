"""Hardware back end: Verilog from the IR, RTL simulation, Yosys synthesis.

Pipeline position: ``ir -> hdl``; everything here reads only a :class:`~lutnn.ir.Netlist`.

* :func:`emit_verilog` / :func:`export`: synthesizable Verilog-2001 (+ a ``$readmemh``
  testbench);
* :func:`run_rtl`: the Verilog run in Verilator or Icarus on input vectors, outputs back as
  numpy arrays (bit-exact with :func:`lutnn.sim.simulate`);
* :func:`synthesize`: Yosys (``synth_xilinx`` or ``synth_ecp5`` + nextpnr) cell counts, LUT
  levels and Fmax;
* :func:`find_tool`: the external tools, with :class:`~lutnn.errors.ToolNotFoundError` naming
  the fix when one is missing.
"""

from lutnn.hdl.emit import Port, VerilogDesign, emit_verilog
from lutnn.hdl.export import export
from lutnn.hdl.rtl import RtlResult, run_rtl, simulate_design
from lutnn.hdl.synth import synthesize
from lutnn.hdl.testbench import emit_testbench
from lutnn.hdl.tools import Tool, find_tool, tool_version

__all__ = [
    "Port",
    "RtlResult",
    "Tool",
    "VerilogDesign",
    "emit_testbench",
    "emit_verilog",
    "export",
    "find_tool",
    "run_rtl",
    "simulate_design",
    "synthesize",
    "tool_version",
]
