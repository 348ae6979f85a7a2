"""User-facing errors.

A :class:`LutnnError` is a problem the user can fix (bad path, malformed config, unknown
name, missing tool).  The CLI prints its message on one line and exits with status 2, with no
traceback.  Programming errors stay ordinary exceptions (and ``assert`` for invariants).
"""


class LutnnError(Exception):
    """A user error: the message names the problem and what to do about it."""


class ToolNotFoundError(LutnnError):
    """An external tool (verilator, iverilog, yosys, nextpnr) is not installed."""
