"""Where a block's fitting rows come from: pixels or packed bit caches, read in chunks.

At teacher position ``i`` every split (``train``, ``val``) has two sources of ``[n, *shape]``
activations: the *student* prefix's output and the *teacher*'s (:class:`RowSource`; pixels at
position 0, a :class:`~lutnn.distill.cache.BitCache` after that).  A block is fitted on rows
(:class:`BlockRows`): one per sample for a dense block, and for a convolution one per sampled
output position (:func:`sample_positions`), its patch gathered from both sources.  After a
teacher module is distilled, :func:`write_caches` runs it and its student chunk by chunk and
writes the caches of position ``i + 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from lutnn.distill.cache import BitCache, BitCacheWriter
from lutnn.nn.conv import LoweredConv2d
from lutnn.student import BlockPlan, teacher_linear

__all__ = ["SPLITS", "BlockRows", "RowSource", "chunks", "patches", "sample_positions",
           "sources_at", "write_caches"]

#: the splits whose activations are cached: train (fitting) and val (agreement)
SPLITS = ("train", "val")
#: the two nets whose activations are cached
NETS = ("student", "teacher")


class RowSource:
    """The rows of one split at one position: pixels (the input) or a packed bit cache.

    Args:
        shape: the activation shape of one sample, e.g. ``(C, H, W)`` or ``(F,)``.
        pixels: uint8 (or float) ``[n, *shape]`` (position 0), or
        cache: the packed bits of ``n`` samples.
    """

    def __init__(self, shape: tuple[int, ...], pixels: np.ndarray | None = None,
                 cache: BitCache | None = None):
        self.shape = tuple(shape)
        self.pixels, self.cache = pixels, cache
        self.n = len(pixels) if pixels is not None else len(cache)

    def read(self, start: int, stop: int) -> torch.Tensor:
        """float32 ``[r, *shape]`` (pixel values 0..255, or bits)."""
        if self.pixels is not None:
            return torch.from_numpy(np.ascontiguousarray(self.pixels[start:stop])).float()
        return self.cache.read(start, stop).float().reshape(-1, *self.shape)

    @property
    def bytes_per_row(self) -> int:
        return 4 * math.prod(self.shape) * 2  # the float chunk and its source


def chunks(n: int, rows: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive chunks of at most ``rows`` of ``n`` samples."""
    return [(a, min(a + rows, n)) for a in range(0, n, rows)]


def patches(module: LoweredConv2d, x: torch.Tensor) -> torch.Tensor:
    """Images ``[r, C, H, W]`` -> patch rows ``[r, L, F]`` (unfold order, zero padding)."""
    cols = F.unfold(x, module.kernel_size, padding=module.padding, stride=module.stride)
    return cols.transpose(1, 2)


@dataclass
class BlockRows:
    """One block's fitting rows: the split's student and teacher sources, read in chunks."""

    plan: BlockPlan  # the block's student stages
    module: nn.Module  # the teacher block (BinaryLinear or LoweredConv2d around one)
    student_src: RowSource  # the student prefix's output (the rows' input bits)
    teacher_src: RowSource  # the teacher's own input to the block (its targets' source)
    positions: torch.Tensor | None  # int64 [n, P] sampled conv positions per image, or None

    @property
    def rows_per_sample(self) -> int:
        return 1 if self.positions is None else self.positions.shape[1]

    @torch.no_grad()
    def rows(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of samples ``start:stop``: student input bits uint8 ``[R, F_in]`` and the
        teacher's pre-activation float ``[R, N]`` (its bit is ``>= 0``)."""
        linear = teacher_linear(self.module)
        xs = self.student_src.read(start, stop)
        xt = self.teacher_src.read(start, stop)
        if self.positions is None:
            x = xs.reshape(len(xs), -1)
            z = linear.preactivation(xt.reshape(len(xt), -1))
        else:
            pick = self.positions[start:stop]  # (r, P)
            ps, pt = patches(self.module, xs), patches(self.module, xt)  # (r, L, F)
            x = torch.gather(ps, 1, pick[..., None].expand(-1, -1, ps.shape[2]))
            t = torch.gather(pt, 1, pick[..., None].expand(-1, -1, pt.shape[2]))
            x, z = x.reshape(-1, ps.shape[2]), linear.preactivation(t.reshape(-1, pt.shape[2]))
        return x.to(torch.uint8), z


def sample_positions(conv: LoweredConv2d, in_shape: tuple[int, int, int], n: int,
                     per_image: int, seed: int) -> torch.Tensor:
    """int64 ``[n, P]``: the output positions of ``conv`` each image is fitted on.

    ``per_image`` positions drawn per image from a generator seeded by ``seed`` (with
    repetition), or all ``L`` positions in order when ``per_image`` is 0 or at least ``L``.
    """
    _, h, w = in_shape
    length = math.prod(conv.output_shape(h, w))
    if per_image == 0 or per_image >= length:
        return torch.arange(length).expand(n, -1)
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, length, (n, per_image), generator=gen)


def sources_at(shape: tuple[int, ...], pixels: dict[str, np.ndarray], cache_dir: Path,
               names: dict[str, str] | None) -> dict[tuple[str, str], RowSource]:
    """Sources of both splits and both nets: ``pixels`` (position 0, ``names`` None) or the
    caches ``cache_dir / names[f"{split}_{net}"]`` of activations of shape ``shape``."""
    out = {}
    for split in SPLITS:
        for net in NETS:
            if names is None:
                out[split, net] = RowSource(shape, pixels=pixels[split])
            else:
                cache = BitCache(cache_dir / names[f"{split}_{net}"], math.prod(shape))
                out[split, net] = RowSource(shape, cache=cache)
    return out


@torch.no_grad()
def write_caches(teacher_mod: nn.Module, student_mod: nn.Module,
                 srcs: dict[tuple[str, str], RowSource], shape_out: tuple[int, ...],
                 cache_dir: Path, position: int, rows: int,
                 desc: str) -> tuple[dict[str, str], dict[str, float]]:
    """Run a teacher module and its student modules on their sources chunk by chunk, and
    write the caches of position ``position`` (the modules' output).

    Returns:
        ``(names, stats)``: the cache file of each ``"{split}_{net}"``, and the bit agreement
        of student and teacher per split plus ``"local"``: on val, of the student with the
        teacher module fed the student's own input.
    """
    names, stats = {}, {}
    width = math.prod(shape_out)
    for split in SPLITS:
        s_src, t_src = srcs[split, "student"], srcs[split, "teacher"]
        n = s_src.n
        s_name, t_name = f"{split}_student_{position}.npy", f"{split}_teacher_{position}.npy"
        agree = local = 0
        with BitCacheWriter(cache_dir / s_name, n, width) as ws, \
                BitCacheWriter(cache_dir / t_name, n, width) as wt:
            for a, b in tqdm(chunks(n, rows), desc=f"{desc} {split}", leave=False,
                             mininterval=1.0):
                xs = s_src.read(a, b)
                ys = student_mod(xs).reshape(b - a, -1)
                yt = teacher_mod(t_src.read(a, b)).reshape(b - a, -1)
                ws.append(ys)
                wt.append(yt)
                agree += int((ys == yt).sum())
                if split == "val":
                    local += int((ys == teacher_mod(xs).reshape(b - a, -1)).sum())
        names[f"{split}_student"], names[f"{split}_teacher"] = s_name, t_name
        stats[split] = agree / (n * width)
        if split == "val":
            stats["local"] = local / (n * width)
    return names, stats
