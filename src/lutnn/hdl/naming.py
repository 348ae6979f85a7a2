"""Turning user-chosen names into Verilog identifiers and safe comment text."""

from __future__ import annotations

import re

# Verilog-2005 and SystemVerilog-2017 reserved words (Verilator parses .v files as
# SystemVerilog by default, so both sets are avoided).
KEYWORDS = frozenset("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic
before begin bind bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle
checker class clocking cmos config const constraint context continue cover covergroup coverpoint
cross deassign default defparam design disable dist do edge else end endcase endchecker endclass
endclocking endconfig endfunction endgenerate endgroup endinterface endmodule endpackage
endprimitive endprogram endproperty endspecify endsequence endtable endtask enum event eventually
expect export extends extern final first_match for force foreach forever fork forkjoin function
generate genvar global highz0 highz1 if iff ifnone ignore_bins illegal_bins implements implies
import incdir include initial inout input inside instance int integer interconnect interface
intersect join join_any join_none large let liblist library local localparam logic longint
macromodule matches medium modport module nand negedge nettype new nexttime nmos nor
noshowcancelled not notif0 notif1 null or output package packed parameter pmos posedge primitive
priority program property protected pull0 pull1 pulldown pullup pulsestyle_ondetect
pulsestyle_onevent pure rand randc randcase randsequence rcmos real realtime ref reg
reject_on release repeat restrict return rnmos rpmos rtran rtranif0 rtranif1 s_always
s_eventually s_nexttime s_until s_until_with scalared sequence shortint shortreal showcancelled
signed small soft solve specify specparam static string strong strong0 strong1 struct super
supply0 supply1 sync_accept_on sync_reject_on table tagged task this throughout time timeprecision
timeunit tran tranif0 tranif1 tri tri0 tri1 triand trior trireg type typedef union unique unique0
unsigned until until_with untyped use uwire var vectored virtual void wait wait_order wand weak
weak0 weak1 while wildcard wire with within wor xnor xor
""".split())

MAX_NAME = 40  # characters kept from a user's layer name inside a module name


def verilog_identifier(name: str, *, max_len: int = MAX_NAME) -> str:
    """A simple Verilog identifier made from ``name``: ``[A-Za-z_][A-Za-z0-9_]*``, no keyword.

    Characters outside ``[A-Za-z0-9_]`` become ``_``; a leading digit gets an ``n`` prefix; an
    empty result becomes ``n``; a reserved word gets a ``_`` suffix.

    Example:
        >>> verilog_identifier("conv 1/3x3")
        'conv_1_3x3'
        >>> verilog_identifier("module")
        'module_'
    """
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)[:max_len]
    if not ident or ident[0].isdigit():
        ident = "n" + ident
    if ident in KEYWORDS:
        ident += "_"
    return ident


def comment_text(name: str) -> str:
    """``name`` quoted for a ``//`` comment: ASCII only, no line breaks (Python's ``ascii``)."""
    return ascii(name)
