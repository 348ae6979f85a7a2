"""Process memory: current and peak resident set size, and chunk sizes that fit a budget.

``--memory-budget MB`` bounds the *process's* resident memory (what ``top`` shows, with the
Python interpreter, PyTorch and the dataset in it).  Before each pass the scheduler measures
what the process already holds (:func:`current_rss_mb`), and sizes the chunk of rows (and, if
even a small chunk of rows does not fit, the group of neurons) so the pass's working set --
estimated per row from the tensors it builds -- stays within the rest of the budget.
"""

from __future__ import annotations

import os
import resource
import sys

from lutnn.errors import LutnnError

__all__ = ["MIN_ROWS", "MAX_ROWS", "current_rss_mb", "peak_rss_mb", "plan_chunks"]

MB = 2**20
#: fewest rows per chunk before the scheduler splits neurons instead
MIN_ROWS = 256
#: most rows per chunk (larger chunks gain nothing)
MAX_ROWS = 16384
#: fraction of the free budget one pass may plan to use (allocator slack, temporaries)
HEADROOM = 0.5


def current_rss_mb() -> float:
    """Resident set size of this process now, in MiB (Linux /proc; else the peak)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / MB
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (``getrusage``), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def plan_chunks(
    budget_mb: float,
    bytes_per_row: float,
    bytes_per_row_per_neuron: float,
    neurons: int,
    what: str,
    fixed_bytes: float = 0.0,
    min_rows: int = MIN_ROWS,
    max_rows: int = MAX_ROWS,
) -> tuple[int, int]:
    """``(rows, neurons_per_group)`` so one chunk's working set fits the free budget.

    The working set of a chunk of ``r`` rows and ``g`` neurons is estimated as
    ``fixed + r * (bytes_per_row + g * bytes_per_row_per_neuron)``.  All neurons are kept
    together if ``min_rows`` rows fit; otherwise the neurons are split into groups.

    Raises:
        LutnnError: not even ``min_rows`` rows of one neuron fit (names the budget needed).
    """
    free = (budget_mb - current_rss_mb()) * MB * HEADROOM - fixed_bytes
    per_row_all = bytes_per_row + neurons * bytes_per_row_per_neuron
    if free >= min_rows * per_row_all:
        return int(min(max_rows, free // per_row_all)), neurons
    per_neuron = bytes_per_row_per_neuron * min_rows
    group = int((free - bytes_per_row * min_rows) // per_neuron) if per_neuron else 0
    if group < 1:
        need = current_rss_mb() + (fixed_bytes + min_rows * (bytes_per_row + per_neuron)) / (
            MB * HEADROOM
        )
        raise LutnnError(
            f"memory budget {budget_mb:.0f} MB is too small for {what}: the process already "
            f"holds {current_rss_mb():.0f} MB and one chunk needs more; use "
            f"--memory-budget {int(need) + 1} or more"
        )
    return min_rows, group
