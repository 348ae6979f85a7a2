"""Vendor synthesis scripts beside the exported Verilog, for users with Vivado or Quartus.

:func:`write_vendor_scripts` fills four templates (``templates/vivado_ooc.tcl``,
``vivado.xdc``, ``quartus.tcl``, ``quartus.sdc``; per-file lines in
``templates/vendor_snippets.tcl``) for the design files export wrote:

* ``<top>_vivado.tcl``: out-of-context synthesis (``synth_design -mode out_of_context``) for
  part :data:`VIVADO_PART` by default, the clock constraint ``<top>.xdc`` read first,
  utilization and timing-summary reports to files after synthesis and after place and route;
* ``<top>_quartus.tcl``: a Quartus Prime project (family and device :data:`QUARTUS_FAMILY`,
  :data:`QUARTUS_DEVICE` by default), the Verilog files, the clock constraint ``<top>.sdc``,
  every other port a virtual pin, the full compile flow and its reports.

The scripts name the Verilog files by name, relative to their own folder (``[info
script]``), so a copied or moved export folder still runs.  Neither tool runs where lutnn is
developed: the scripts are generated and checked with a Tcl interpreter (every vendor command
stubbed, its options checked), never run; the scripts say so in their header.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from lutnn import io
from lutnn.templating import Templates

VIVADO_PART = "xcvu9p-flgb2104-2-i"  # the part LUT-network papers report (LogicNets, PolyLUT, DWN)
QUARTUS_FAMILY = "Agilex 7"
QUARTUS_DEVICE = "AGFB014R24B2E2V"  # the Agilex 7 F-Series development kit's
CLOCK_PERIOD_NS = 2.0

_T = Templates("lutnn.hdl", "vendor_snippets.tcl", "", "Tcl")
_WORD = re.compile(r"[A-Za-z0-9_.+-]+( [A-Za-z0-9_.+-]+)*")  # no Tcl specials, inner spaces
_PORT = re.compile(r"^\s*(input|output|inout)\s+(?:wire|reg)?\s*(\[[^\]]*\])?\s*(\w+)")


def top_ports(verilog: str, top: str) -> list[tuple[str, bool]]:
    """(name, is_vector) of every port of module ``top`` in ``verilog`` (one port per line,
    ANSI style, as lutnn's templates write them).

    Example:
        >>> top_ports("module t (\\n  input wire clk,\\n  output wire [3:0] y\\n);", "t")
        [('clk', False), ('y', True)]
    """
    start = verilog.find(f"module {top} (")
    if start < 0:
        raise ValueError(f"module {top} not found")
    header = verilog[start:verilog.index(");", start)]
    return [(m.group(3), m.group(2) is not None)
            for m in map(_PORT.match, header.splitlines()[1:]) if m]


def _word(value: str, what: str) -> str:
    if not _WORD.fullmatch(value):
        raise ValueError(f"{what} {value!r}: letters, digits, '_', '.', '+', '-' and inner "
                         "spaces only (it is written into Tcl)")
    return value


def write_vendor_scripts(out_dir: str | os.PathLike, top: str, sources: Sequence[Path], *,
                         clock: str = "clk", period_ns: float = CLOCK_PERIOD_NS,
                         part: str = VIVADO_PART, family: str = QUARTUS_FAMILY,
                         device: str = QUARTUS_DEVICE) -> dict[str, Path]:
    """Write the Vivado and Quartus scripts and their clock constraints into ``out_dir``
    (which holds ``sources``, the design's Verilog files, ``top``'s first); returns the
    paths by kind: ``vivado``, ``xdc``, ``quartus``, ``sdc``."""
    out_dir = Path(out_dir)
    names = [Path(s).name for s in sources]
    assert names and all((out_dir / n).is_file() for n in names), (out_dir, names)
    ports = top_ports((out_dir / names[0]).read_text(), top)
    assert clock in {name for name, _ in ports}, (clock, ports)
    part, family, device = (_word(part, "part"), _word(family, "family"),
                            _word(device, "device"))
    period = f"{period_ns:.3f}"
    paths = {"vivado": out_dir / f"{top}_vivado.tcl", "xdc": out_dir / f"{top}.xdc",
             "quartus": out_dir / f"{top}_quartus.tcl", "sdc": out_dir / f"{top}.sdc"}
    common = {"top": top, "clock": clock, "period": period}
    mhz = f"{1000 / period_ns:.0f}"
    io.write_text(paths["xdc"], _T.render("vivado.xdc", **common, mhz=mhz) + "\n")
    io.write_text(paths["sdc"], _T.render("quartus.sdc", **common, mhz=mhz) + "\n")
    io.write_text(paths["vivado"], _T.render(
        "vivado_ooc.tcl", **common, script=paths["vivado"].name, part=part,
        xdc=paths["xdc"].name,
        sources="\n".join(_T.render("vivado_source", file=n) for n in names)) + "\n")
    pins = [f"{name}[*]" if vector else name for name, vector in ports if name != clock]
    io.write_text(paths["quartus"], _T.render(
        "quartus.tcl", **common, script=paths["quartus"].name, family=family, device=device,
        sdc=paths["sdc"].name,
        sources="\n".join(_T.render("quartus_source", file=n) for n in names),
        virtual_pins="\n".join(_T.render("quartus_virtual_pin", pin=p) for p in pins)) + "\n")
    return paths


__all__ = ["CLOCK_PERIOD_NS", "QUARTUS_DEVICE", "QUARTUS_FAMILY", "VIVADO_PART", "top_ports",
           "write_vendor_scripts"]
