"""Process memory: current and peak resident set size, and chunk sizes that fit a budget.

``--memory-budget MB`` bounds the *process's* resident memory (what ``top`` shows, with the
Python interpreter, PyTorch and the dataset in it).  Before each pass the scheduler measures
what the process already holds (:func:`current_rss_mb`), and sizes the chunk of rows (and, if
even a small chunk of rows does not fit, the group of neurons) so the pass's working set --
estimated per row from the tensors it builds -- stays within the rest of the budget.
:func:`block_chunks` plans a block's fitting pass, :func:`forward_rows` the forward pass that
writes the next caches, :func:`budget_rows` with :func:`bytes_per_sample` any plain forward
(evaluation, fine-tuning micro-batches).
"""

from __future__ import annotations

import math
import os
import resource
import sys
from typing import TYPE_CHECKING

import torch
from torch import nn

from lutnn.errors import LutnnError
from lutnn.nn.binary import BinaryLinear
from lutnn.nn.conv import LoweredConv2d
from lutnn.nn.lut import LUTLayer

if TYPE_CHECKING:
    from lutnn.distill.rows import BlockRows

__all__ = ["MIN_ROWS", "MAX_ROWS", "block_chunks", "budget_rows", "bytes_per_sample",
           "current_rss_mb", "forward_rows", "peak_rss_mb", "plan_chunks"]

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
            f"holds {current_rss_mb():.0f} MB and one chunk needs more, so this step needs "
            f"--memory-budget {int(need) + 1} at least; later steps may need more (the budget "
            "is checked step by step), so give it room, e.g. twice that"
        )
    return min_rows, group


@torch.no_grad()
def bytes_per_sample(model: nn.Module, in_shape: tuple[int, ...], training: bool = False) -> int:
    """Estimated working memory of one sample through ``model`` (bytes), from a probe forward.

    Counts every module output (float32, and its gradient in training), a lowered
    convolution's unfolded patches, and a LUT layer's gathered inputs, int64 addresses and
    lookups per output bit (three times that in training, for what backward keeps).
    """
    total = [8.0 * math.prod(in_shape)]
    factor = 3 if training else 1

    def hook(module, inputs, output):
        total[0] += 4 * output.numel() * (2 if training else 1)
        if isinstance(module, LUTLayer):
            total[0] += output.numel() * (4 * module.k + 24) * factor
        elif isinstance(module, LoweredConv2d):
            positions = output.numel() // module.out_channels
            total[0] += 2 * 4 * positions * module.patch_size * factor
        elif isinstance(module, BinaryLinear):
            total[0] += 8 * inputs[0].numel() + 12 * output.numel()

    hooks = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())
             or isinstance(m, LoweredConv2d)]
    was = model.training
    try:
        model.eval()(torch.zeros(1, *in_shape))
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return int(total[0])


def budget_rows(budget_mb: float, per_sample: float, what: str, max_rows: int = 4096) -> int:
    """Samples per chunk of a plain forward pass that fit the free budget."""
    rows, _ = plan_chunks(budget_mb, per_sample, 0, 1, what, min_rows=1, max_rows=max_rows)
    return rows


def forward_rows(budget_mb: float, student_mod: nn.Module, teacher_mod: nn.Module,
                 in_shape: tuple[int, ...], what: str) -> int:
    """Samples per chunk for the forward of a teacher module and its student modules."""
    per = (bytes_per_sample(student_mod, in_shape) + 2 * bytes_per_sample(teacher_mod, in_shape)
           + 16 * math.prod(in_shape))
    return budget_rows(budget_mb, per, what)


def block_chunks(data: BlockRows, budget_mb: float, training: bool) -> tuple[int, int]:
    """Samples per chunk and neurons per group for a fitting pass over ``data``.

    Per row the pass holds the student's and the teacher's input (read as float, unpacked to
    uint8, +-1 copy for the teacher's matmul: ~14 bytes per input bit each), the teacher's
    pre-activation and bits; per LUT and row the int64 addresses and their temporaries
    (~50 bytes), and in training the gathered inputs, their gradients and the lookups.
    """
    plan = data.plan
    rows = data.rows_per_sample
    f_in = plan.fan_in * plan.groups
    per_sample = data.student_src.bytes_per_row + data.teacher_src.bytes_per_row
    if plan.conv:
        positions = math.prod(data.student_src.shape[1:])  # an upper bound on L (no stride)
        per_sample += 2 * 2 * 4 * positions * f_in  # unfolded patches (+ transpose copy), x2
    per_sample += rows * (2 * 14 * f_in + 16 * plan.neurons)
    per_neuron = 0
    for w, k in zip(plan.widths, plan.ks, strict=True):
        per_neuron += w * 50  # int64 addresses, shifted bits, flat index, target
        if training:
            per_neuron += w * (k + 4) * 4 * 4  # gathered bits, grads, lookups, STE masks
    per_neuron *= rows
    fixed = sum(plan.nodes[s] * 2 ** plan.ks[s] * 8 * 4 for s in range(len(plan.ks)))
    samples, group = plan_chunks(budget_mb, per_sample, per_neuron, plan.neurons,
                                 f"block {plan.name}", fixed_bytes=fixed,
                                 min_rows=max(1, 256 // rows))
    return samples, group
