"""One function per IR node type, per backend: how the simulators, the emitter, the summary
and save/load find what to do with a node, instead of ``isinstance`` chains.

Adding a node type means one class in :mod:`lutnn.ir.layers` plus one ``@table.register``
entry per backend; a backend without an entry raises :class:`MissingEntryError` naming itself
and the node type.

Example:
    >>> from lutnn.ir.layers import OrLayer
    >>> widths = NodeTable("example")
    >>> @widths.register(OrLayer)
    ... def _or_width(layer):
    ...     return layer.out_width
    >>> import numpy as np
    >>> widths(OrLayer("p", 2, np.zeros((3, 2), np.int32)))
    3
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class MissingEntryError(NotImplementedError):
    """A backend has no entry for a node type (a lutnn bug when a new node type is added)."""


class NodeTable:
    """A registry of one function per IR node type for one backend.

    Args:
        backend: the backend's name, used in errors (``"sim.packed"``, ``"hdl.emit"``...).
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._entries: dict[type, Callable[..., Any]] = {}

    def register(self, *node_types: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: the function handles ``node_types`` in this backend."""

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            for node_type in node_types:
                assert node_type not in self._entries, f"{self.backend}: {node_type} twice"
                self._entries[node_type] = fn
            return fn

        return decorate

    @property
    def node_types(self) -> frozenset[type]:
        """The node types this backend handles."""
        return frozenset(self._entries)

    def lookup(self, node_type: type) -> Callable[..., Any]:
        """The entry for ``node_type``.

        Raises:
            MissingEntryError: none registered; the message names the backend and the type.
        """
        try:
            return self._entries[node_type]
        except KeyError:
            known = ", ".join(sorted(t.__name__ for t in self._entries))
            raise MissingEntryError(
                f"backend {self.backend!r} has no entry for IR node type {node_type.__name__} "
                f"(it handles: {known})"
            ) from None

    def __call__(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        """Run the entry for ``type(node)`` on ``node`` and the other arguments."""
        return self.lookup(type(node))(node, *args, **kwargs)
