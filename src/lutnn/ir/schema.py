"""What every IR node class declares: its arrays (:class:`ArraySpec`), checked by
:func:`check_arrays`; and the IR's widest LUT (``MAX_LUT_K``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_LUT_K = 8  # widest table the IR (and so the simulators and the emitter) holds


@dataclass(frozen=True)
class ArraySpec:
    """One array field of an IR node: name, dtype, and shape in terms of the node's sizes.

    Each entry of ``shape`` names a size property of the node (``"out_width"``, ``"k"``...);
    sizes are read off the node's arrays, so a declaration like ``("out_width", "table_size")``
    checks that two arrays agree.  :func:`check_arrays`, save/load and the summary read these
    declarations; nothing else lists a node's arrays.
    """

    name: str
    dtype: np.dtype
    shape: tuple[str, ...]


def check_arrays(node: Any) -> None:
    """Check every array ``type(node).ARRAYS`` declares: type, dtype, rank, then shape.

    Raises:
        ValueError: naming the layer, the array and what is wrong.
    """
    specs: tuple[ArraySpec, ...] = type(node).ARRAYS
    for spec in specs:  # type, dtype and rank first: the size properties read the shapes
        arr = getattr(node, spec.name)
        if not isinstance(arr, np.ndarray):
            raise ValueError(f"layer {node.name!r}: {spec.name} must be a numpy array, "
                             f"got {type(arr).__name__}")
        if arr.dtype != spec.dtype:
            raise ValueError(f"layer {node.name!r}: {spec.name} must have dtype {spec.dtype}, "
                             f"got {arr.dtype}")
        if arr.ndim != len(spec.shape):
            raise ValueError(f"layer {node.name!r}: {spec.name} must be {len(spec.shape)}-D, "
                             f"got shape {arr.shape}")
    for spec in specs:
        arr = getattr(node, spec.name)
        want = tuple(int(getattr(node, size)) for size in spec.shape)
        if arr.shape != want:
            raise ValueError(f"layer {node.name!r}: {spec.name} must have shape {want} "
                             f"({', '.join(spec.shape)}), got {arr.shape}")


def check_indices(layer: str, inputs: np.ndarray, in_width: int) -> None:
    if in_width <= 0:
        raise ValueError(f"layer {layer!r}: in_width must be positive, got {in_width}")
    if inputs.size and (inputs.min() < 0 or inputs.max() >= in_width):
        raise ValueError(
            f"layer {layer!r}: inputs must index 0..{in_width - 1}, "
            f"got range {inputs.min()}..{inputs.max()}"
        )
