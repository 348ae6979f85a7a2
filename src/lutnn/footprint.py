"""Before a model is built: does its config fit the images, and the machine's memory?

:func:`check_model_fits` walks a model family's config the way its builder does (shapes
only, nothing allocated) and refuses, with a clear message,

* images too small for a CNN's pools (a 2x2 pool of a 1x1 feature map), and
* a model whose parameters (with their gradients and Adam's two moments) and one batch of
  activations cannot fit in the machine's memory (``{"layers": [2000000000, 100]}``).

The estimate is a lower bound (the largest terms only), so a refusal is never a false alarm
of the estimate; families it does not know are not checked.
"""

from __future__ import annotations

import os
from pathlib import Path

from lutnn.errors import LutnnError

GB = 1e9
MAX_TRAIN_K = 16  # lutnn.nn.LUTLayer's limit (tables of 2**16 entries)
#: bytes per trained float: the value, its gradient and Adam's two moments (float32)
TRAINED_BYTES = 4 * 4


def available_memory() -> int | None:
    """Bytes this process may still allocate: MemAvailable, or a smaller cgroup limit."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max" and avail is not None:
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return avail


def _bits(cfg) -> int:
    return 1 if cfg.encoder == "threshold" else cfg.levels


def _pool(h: int, w: int, c: int, block: int, name: str, shape) -> tuple[int, int]:
    if h < 2 or w < 2:
        raise LutnnError(
            f"{name}: images of {shape[1]}x{shape[2]} are too small for its pools: the feature "
            f"map before pool {block + 1} is {h}x{w} ({c} channels), and a 2x2 pool needs at "
            "least 2x2; use fewer conv blocks (channels) or larger images"
        )
    return h // 2, w // 2


def estimate(name: str, cfg, input_shape, num_classes: int, batch_size: int) -> dict | None:
    """``{"params", "buffers", "activations"}`` (counts of floats / int64s) or None.

    Raises:
        LutnnError: images too small for the model's pools.
    """
    if len(input_shape) == 1:  # a table: only the MLPs take one (build_model says so)
        if name not in ("teacher-mlp", "lut-mlp"):
            return None
        input_shape = (input_shape[0], 1, 1)
    c, h, w = (int(v) for v in input_shape)
    params = buffers = acts = 0  # acts: floats of one sample's forward
    if name in ("teacher-mlp", "lut-mlp"):
        widths = [c * _bits(cfg) * h * w, *cfg.layers] if name == "lut-mlp" else [
            c * _bits(cfg) * h * w, *cfg.hidden, num_classes * cfg.group_size]
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            if name == "lut-mlp":
                table = 2**cfg.k
                params += b * table
                buffers += b * cfg.k
                if i < cfg.learned_wiring:
                    params += b * cfg.k * (cfg.candidates or a)
                acts += b * (cfg.k + 1)  # gathered inputs, outputs
            else:
                params += a * b
                acts += 2 * b
        acts += widths[0]
    elif name in ("teacher-cnn", "lut-cnn", "teacher-mobilenet"):
        c = c * _bits(cfg)
        acts += c * h * w
        convs = list(cfg.channels)
        if name == "teacher-mobilenet":
            params += c * 9 * cfg.stem_channels
            acts += c * 9 * h * w + cfg.stem_channels * h * w
            h, w = _pool(h, w, cfg.stem_channels, 0, name, input_shape)
            c = cfg.stem_channels
        for i, c_out in enumerate(convs):
            if name == "lut-cnn":
                params += c_out * 2**cfg.k
                acts += h * w * c_out * (cfg.k + 1)
            elif name == "teacher-mobilenet":  # depthwise 3x3 (fan-in 9), pointwise 1x1
                params += c * 9 + c * c_out
                acts += c * 9 * h * w + c_out * h * w
            else:
                params += c * 9 * c_out
                acts += c * 9 * h * w + c_out * h * w
            block = i + (name == "teacher-mobilenet")
            h, w = _pool(h, w, c_out, block, name, input_shape)
            c = c_out
        layers = list(cfg.layers) if name == "lut-cnn" else list(cfg.hidden)
        widths = [c * h * w, *layers, num_classes * cfg.group_size]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            params += b * 2**cfg.k if name == "lut-cnn" else a * b
            acts += 2 * b
    else:
        return None
    return {"params": params, "buffers": buffers, "activations": acts * batch_size}


def check_model_fits(name: str, cfg, input_shape, num_classes: int, batch_size: int,
                     memory: int | None = None) -> None:
    """Refuse a model that cannot fit the images or the machine (see the module doc).

    Args:
        memory: bytes available (default: :func:`available_memory`).

    Raises:
        LutnnError: with the estimate and the machine's memory.
    """
    k = getattr(cfg, "k", None)
    if isinstance(k, int) and k > MAX_TRAIN_K:
        raise LutnnError(f"{name}: k={k} inputs per LUT is more than a LUT layer holds (at most "
                         f"{MAX_TRAIN_K}; only k <= 8 can be exported to hardware)")
    est = estimate(name, cfg, input_shape, num_classes, batch_size)
    if est is None:
        return
    need = est["params"] * TRAINED_BYTES + est["buffers"] * 8 + est["activations"] * 4
    memory = available_memory() if memory is None else memory
    if memory is not None and need > memory:
        raise LutnnError(
            f"{name} needs at least {need / GB:.1f} GB to train ({est['params']:,} parameters "
            f"with gradients and Adam state, {est['activations']:,} activations for a batch "
            f"of {batch_size}), but this machine has {memory / GB:.1f} GB available; make "
            "the layers smaller (or the batch, with --batch-size)"
        )


__all__ = ["available_memory", "check_model_fits", "estimate"]
