"""Spatial IR nodes: convolutions whose tables are shared across positions, pooling, flatten.

The flat nodes of :mod:`lutnn.ir.layers` hold one LUT (or XNOR row) per output *bit*, so a
convolution is unrolled over every output position.  The nodes here hold one table (or XNOR
row with its threshold) per output *channel*, shared by every position, plus the geometry
(kernel, stride, padding) that places the window: what a streaming engine behind line
buffers implements.  :func:`lutnn.ir.passes.lower_spatial` unrolls them into today's flat
nodes (the simulators give the same bits for both forms, tested on random nets).

Bit-order conventions, stated once (they are the flat IR's and :func:`lutnn.frontend.to_ir`'s,
so a spatial node chains with flat nodes as a plain bit vector):

* **Images are channel-major flat bit vectors**: pixel ``(c, r, q)`` of a ``[C, R, Q]`` image
  (channel, row, column) is bit ``c*R*Q + r*Q + q`` (``nn.Flatten``'s order).  A node's
  ``in_width`` / ``out_width`` count those bits, so ``Netlist`` chains widths as for any layer.
* **Output positions** are row-major: output pixel ``(r, q)`` of channel ``n`` is bit
  ``n*OR*OQ + r*OQ + q``.  Its window's top-left input pixel is
  ``(r*stride_rows - pad_rows, q*stride_cols - pad_cols)``.
* **Patch slots** are ``unfold``'s (:class:`~lutnn.nn.conv.LoweredConv2d`): slot
  ``s = c*KR*KC + i*KC + j`` reads input channel ``c`` at window offset ``(i, j)`` (row, col),
  i.e. pixel ``(c, r*stride_rows - pad_rows + i, q*stride_cols - pad_cols + j)``.
* **Padding** reads the constant bit ``pad_value``: 0 by default, the value
  :class:`~lutnn.nn.conv.LoweredConv2d` pads bits with (bit 0 = value -1).
* LUT address = ``sum_j bit_j << j``; an XNOR slot agrees when ``bit == (weight > 0)``.
* :class:`ImageFlatten` ends the image: it is the identity on bits (``c*R*Q + r*Q + q``
  stays bit ``c*R*Q + r*Q + q``, the order the frontend's flat form uses) and marks where a
  streaming design stops streaming and the dense tail begins.  A flat layer or the head after
  an image node must come after an :class:`ImageFlatten` (:func:`check_image_chain`).

Depthwise and pointwise convolutions are special cases: ``groups`` splits the ``C`` input
and ``N`` output channels into blocks, output channel ``n`` reading only the input channels of
its group ``n // (N / groups)`` (``groups = C``: depthwise); a pointwise conv is kernel 1x1.

Example:
    >>> import numpy as np
    >>> pool = OrPool("p", 1, 4, 4, 2, 2, 2, 2)
    >>> pool.validate(); pool.out_shape, pool.out_width
    ((1, 2, 2), 4)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lutnn.ir.schema import MAX_LUT_K, ArraySpec, check_arrays

PAD = -1  # patch_index entry of a padded slot (the node reads pad_value there)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # a JSON scalar: no numpy


def _check_ints(node: Any, names: tuple[str, ...], minimum: int) -> None:
    for name in names:
        value = getattr(node, name)
        if not _is_int(value) or value < minimum:
            raise ValueError(f"layer {node.name!r}: {name} must be an int >= {minimum}, "
                             f"got {value!r}")


class _Image:
    """Input geometry shared by the image nodes: ``channels`` x ``rows`` x ``cols`` bits."""

    name: str
    channels: int
    rows: int
    cols: int

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """(C, R, Q) of the input image."""
        return (int(self.channels), int(self.rows), int(self.cols))

    @property
    def in_width(self) -> int:
        """Input bits, ``C*R*Q`` (channel-major)."""
        return int(self.channels) * int(self.rows) * int(self.cols)


class _Window(_Image):
    """Window geometry: kernel, stride and padding (0 for a pool)."""

    kernel_rows: int
    kernel_cols: int
    stride_rows: int
    stride_cols: int
    pad_rows: int
    pad_cols: int

    @property
    def kernel_size(self) -> int:
        """``KR*KC``, the window's pixels per channel."""
        return int(self.kernel_rows) * int(self.kernel_cols)

    @property
    def out_rows(self) -> int:
        return (int(self.rows) + 2 * int(self.pad_rows) - int(self.kernel_rows)) \
            // int(self.stride_rows) + 1

    @property
    def out_cols(self) -> int:
        return (int(self.cols) + 2 * int(self.pad_cols) - int(self.kernel_cols)) \
            // int(self.stride_cols) + 1

    @property
    def positions(self) -> int:
        """``OR*OQ``, output positions per channel."""
        return self.out_rows * self.out_cols

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.out_channels, self.out_rows, self.out_cols)

    @property
    def out_width(self) -> int:
        return self.out_channels * self.positions

    def _check_geometry(self) -> None:
        _check_ints(self, ("channels", "rows", "cols", "kernel_rows", "kernel_cols",
                           "stride_rows", "stride_cols"), 1)
        _check_ints(self, ("pad_rows", "pad_cols"), 0)
        if self.out_rows < 1 or self.out_cols < 1:
            raise ValueError(
                f"layer {self.name!r}: a {self.kernel_rows}x{self.kernel_cols} window with "
                f"padding ({self.pad_rows}, {self.pad_cols}) does not fit a "
                f"{self.rows}x{self.cols} image"
            )

    def patch_index(self, channels: int | None = None) -> np.ndarray:
        """int64 ``[L, C*KR*KC]``: the flat input bit slot ``s`` reads at position ``l``.

        Positions are row-major (``l = r*OQ + q``), slots unfold's (``c*KR*KC + i*KC + j``);
        a padded slot holds :data:`PAD`.  ``channels`` limits the slots to the first
        channels (default: all ``C``).
        """
        c_n = int(self.channels) if channels is None else channels
        kr, kc = int(self.kernel_rows), int(self.kernel_cols)
        r0 = np.arange(self.out_rows) * int(self.stride_rows) - int(self.pad_rows)  # (OR,)
        q0 = np.arange(self.out_cols) * int(self.stride_cols) - int(self.pad_cols)  # (OQ,)
        row = r0[:, None, None, None, None] + np.arange(kr)[None, None, None, :, None]
        col = q0[None, :, None, None, None] + np.arange(kc)[None, None, None, None, :]
        ch = np.arange(c_n)[None, None, :, None, None]
        inside = (row >= 0) & (row < self.rows) & (col >= 0) & (col < self.cols)
        flat = (ch * int(self.rows) + row) * int(self.cols) + col  # (OR, OQ, C, KR, KC)
        flat = np.where(inside, flat, PAD)
        return flat.reshape(self.positions, c_n * kr * kc).astype(np.int64)


def _check_groups(node: Any) -> None:
    if not _is_int(node.groups) or node.groups < 1:
        raise ValueError(f"layer {node.name!r}: groups must be an int >= 1, got {node.groups!r}")
    if node.channels % node.groups:
        raise ValueError(f"layer {node.name!r}: groups ({node.groups}) must divide the "
                         f"{node.channels} input channels")
    if node.pad_value not in (0, 1) or isinstance(node.pad_value, bool):
        raise ValueError(f"layer {node.name!r}: pad_value must be 0 or 1, got "
                         f"{node.pad_value!r}")


def _check_out_groups(node: Any) -> None:
    n = node.out_channels
    if n < 1 or n % node.groups:
        raise ValueError(f"layer {node.name!r}: groups ({node.groups}) must divide the {n} "
                         f"output channels (>= 1)")


@dataclass(frozen=True, eq=False)
class LutConv(_Window):
    """A convolution of k-input LUTs: one table per output channel, shared by every position.

    ``out[n, r, q] = tables[n, sum_j x[c_j, r*SR - PR + i_j, q*SC - PC + j_j] << j]`` where
    input ``j`` of channel ``n`` reads patch slot ``inputs[n, j] = c_j*KR*KC + i_j*KC + j_j``
    (:meth:`taps` splits it into channel, row offset and column offset) and a pixel outside
    the image reads ``pad_value``.  With ``groups > 1``, channel ``n`` may read only the input
    channels of its group (``c_j // (C/groups) == n // (N/groups)``): depthwise at
    ``groups = C``.  Output bit ``n*OR*OQ + r*OQ + q``; see the module docstring.

    Attributes:
        name: layer name.
        channels, rows, cols: input image shape (C, R, Q).
        kernel_rows, kernel_cols: window KR x KC.
        stride_rows, stride_cols: SR, SC.
        pad_rows, pad_cols: PR, PC pixels of ``pad_value`` on each side.
        inputs: int32 [N, k], patch slots in 0..C*KR*KC-1 (input 0 = address bit 0).
        tables: uint8 [N, 2**k], entries 0 or 1.
        groups: channel groups (1: every LUT may read any channel).
        pad_value: the bit a padded pixel reads (0 or 1).
    """

    name: str
    channels: int
    rows: int
    cols: int
    kernel_rows: int
    kernel_cols: int
    stride_rows: int
    stride_cols: int
    pad_rows: int
    pad_cols: int
    inputs: np.ndarray  # int32 [N, k]
    tables: np.ndarray  # uint8 [N, 2**k]
    groups: int = 1
    pad_value: int = 0

    ARRAYS: ClassVar = (
        ArraySpec("inputs", np.dtype(np.int32), ("out_channels", "k")),
        ArraySpec("tables", np.dtype(np.uint8), ("out_channels", "table_size")),
    )

    @property
    def k(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def table_size(self) -> int:
        return 2**self.k

    @property
    def out_channels(self) -> int:
        """N, one LUT per output channel."""
        return int(self.inputs.shape[0])

    def taps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(channel, row offset, column offset), each int64 [N, k], of every LUT input."""
        s = self.inputs.astype(np.int64)
        kk, kc = self.kernel_size, int(self.kernel_cols)
        return s // kk, (s % kk) // kc, s % kc

    def validate(self) -> None:
        self._check_geometry()
        _check_groups(self)
        if isinstance(self.inputs, np.ndarray) and self.inputs.ndim == 2:
            k = self.inputs.shape[1]  # before check_arrays, which would build 2**k
            if not 1 <= k <= MAX_LUT_K:
                raise ValueError(f"layer {self.name!r}: k must be in 1..{MAX_LUT_K}, got {k}")
        check_arrays(self)
        _check_out_groups(self)
        if self.tables.size and self.tables.max() > 1:
            raise ValueError(f"layer {self.name!r}: table entries must be 0 or 1")
        slots = self.channels * self.kernel_size
        if self.inputs.size and (self.inputs.min() < 0 or self.inputs.max() >= slots):
            raise ValueError(
                f"layer {self.name!r}: inputs must be patch slots 0..{slots - 1} "
                f"(c*{self.kernel_size} + i*{self.kernel_cols} + j), got range "
                f"{self.inputs.min()}..{self.inputs.max()}"
            )
        if self.groups > 1:
            channel = self.taps()[0] // (self.channels // self.groups)  # (N, k) group read
            own = np.arange(self.out_channels) // (self.out_channels // self.groups)
            bad = np.nonzero((channel != own[:, None]).any(axis=1))[0]
            if bad.size:
                raise ValueError(
                    f"layer {self.name!r}: output channel {bad[0]} (group {own[bad[0]]} of "
                    f"{self.groups}) reads input channels outside its group"
                )


@dataclass(frozen=True, eq=False)
class XnorConv(_Window):
    """A convolution of XNOR-popcount-threshold neurons, weights and thresholds shared.

    For output channel ``n`` of group ``g = n // (N/groups)`` and slot ``f`` of its window
    (``f = c*KR*KC + i*KC + j`` over the group's ``C/groups`` channels, input channel
    ``g*C/groups + c``): ``count[n, r, q] = #{f : weights[n, f] != 0 and bit_f ==
    (weights[n, f] > 0)}`` with padded pixels reading ``pad_value``, then
    ``out[n, r, q] = (count >= thresholds[n]) XOR invert[n]`` (the form of
    :class:`~lutnn.ir.ThresholdLayer`, the whole window counted at every position: the
    padding's contribution is not folded in, so one threshold serves every position).
    Output bit ``n*OR*OQ + r*OQ + q``.

    Attributes:
        name, channels, rows, cols, kernel_*, stride_*, pad_*: as for :class:`LutConv`.
        weights: int8 [N, (C/groups)*KR*KC] in {-1, 0, +1} (0: an unconnected slot).
        thresholds: int32 [N], each in 0..fan_in + 1.
        invert: bool [N].
        groups: channel groups (``C``: depthwise).
        pad_value: the bit a padded pixel reads (0 or 1).
    """

    name: str
    channels: int
    rows: int
    cols: int
    kernel_rows: int
    kernel_cols: int
    stride_rows: int
    stride_cols: int
    pad_rows: int
    pad_cols: int
    weights: np.ndarray  # int8 [N, F]
    thresholds: np.ndarray  # int32 [N]
    invert: np.ndarray  # bool [N]
    groups: int = 1
    pad_value: int = 0

    ARRAYS: ClassVar = (
        ArraySpec("weights", np.dtype(np.int8), ("out_channels", "fan_in")),
        ArraySpec("thresholds", np.dtype(np.int32), ("out_channels",)),
        ArraySpec("invert", np.dtype(np.bool_), ("out_channels",)),
    )

    @property
    def fan_in(self) -> int:
        """Slots per neuron: ``(C/groups) * KR * KC``."""
        return int(self.channels) // int(self.groups) * self.kernel_size

    @property
    def out_channels(self) -> int:
        return int(self.weights.shape[0])

    def validate(self) -> None:
        self._check_geometry()
        _check_groups(self)
        check_arrays(self)
        _check_out_groups(self)
        if not np.isin(self.weights, (-1, 0, 1)).all():
            raise ValueError(f"layer {self.name!r}: weights must be -1, 0 or +1")
        t = self.thresholds
        if t.size and (t.min() < 0 or t.max() > self.fan_in + 1):
            raise ValueError(f"layer {self.name!r}: thresholds must be in 0..{self.fan_in + 1}")


@dataclass(frozen=True, eq=False)
class OrPool(_Window):
    """Binary max pooling: the OR of each channel's ``KR x KC`` window (no padding).

    ``out[c, r, q] = OR_{i, j} x[c, r*SR + i, q*SC + j]``; output bit ``c*OR*OQ + r*OQ + q``.
    """

    name: str
    channels: int
    rows: int
    cols: int
    kernel_rows: int
    kernel_cols: int
    stride_rows: int
    stride_cols: int

    ARRAYS: ClassVar = ()
    pad_rows: ClassVar[int] = 0  # pooling windows never leave the image
    pad_cols: ClassVar[int] = 0

    @property
    def out_channels(self) -> int:
        return int(self.channels)

    def validate(self) -> None:
        self._check_geometry()


@dataclass(frozen=True, eq=False)
class ImageFlatten(_Image):
    """The end of the image: identity on bits (``c*R*Q + r*Q + q`` -> the same flat bit).

    Marks where a streaming design has seen the whole image and the dense tail (flat layers
    and the head) begins.
    """

    name: str
    channels: int
    rows: int
    cols: int

    ARRAYS: ClassVar = ()

    @property
    def out_width(self) -> int:
        return self.in_width

    def validate(self) -> None:
        _check_ints(self, ("channels", "rows", "cols"), 1)


IMAGE_NODES = (LutConv, XnorConv, OrPool)  # read and write an image
SPATIAL_LAYERS = (*IMAGE_NODES, ImageFlatten)  # every spatial node type


def check_image_chain(encoder: Any, layers: tuple, head: Any) -> None:
    """Check that images chain: each spatial node reads the shape the one before writes.

    After an image node (conv or pool) the next layer must be a spatial node reading the
    same ``[C, R, Q]``; a flat layer or the head needs an :class:`ImageFlatten` first.  The
    first spatial node after an encoder must read ``channels * levels`` channels of its
    pixels (the encoder writes bit ``(c*T + t)*HW + p``: channel ``c*T + t``).  Widths are
    checked by :meth:`~lutnn.ir.Netlist.validate` before this runs.

    Raises:
        ValueError: naming the layer and both shapes.
    """
    shape: tuple[int, int, int] | None = None  # what the previous node writes, if an image
    if encoder is not None and layers and isinstance(layers[0], SPATIAL_LAYERS):
        channels = encoder.channels * encoder.levels
        if layers[0].channels != channels:
            raise ValueError(
                f"layer {layers[0].name!r}: reads {layers[0].channels} channels but the encoder "
                f"writes {channels} ({encoder.channels} channels x {encoder.levels} levels)"
            )
    for layer in (*layers, head):
        if layer is None:
            continue
        if shape is not None:
            if not isinstance(layer, SPATIAL_LAYERS):
                raise ValueError(
                    f"layer {layer.name!r} ({type(layer).__name__}) reads a flat vector but "
                    f"the layer before writes a {list(shape)} image: put an ImageFlatten between"
                )
            if layer.in_shape != shape:
                raise ValueError(f"layer {layer.name!r}: reads a {list(layer.in_shape)} image "
                                 f"but the layer before writes {list(shape)}")
        shape = layer.out_shape if isinstance(layer, IMAGE_NODES) else None
