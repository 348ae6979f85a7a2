"""The numpy backend behind the backends' interface (:class:`lutnn.ir.passes.flow.Backend`):
the golden simulator reads every form, so it runs no passes; its artifact is the netlist,
saved and loaded with :mod:`lutnn.ir.serialize`; ``latency`` is 0."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from lutnn.ir.layers import Netlist
from lutnn.ir.passes.flow import Pass, run_flow
from lutnn.ir.serialize import load_netlist, save_netlist
from lutnn.sim.packed import simulate


@dataclass(frozen=True)
class NumpyArtifact:
    netlist: Netlist
    latency: int = 0

    def classify(self, x: np.ndarray) -> np.ndarray:
        return simulate(self.netlist, x, keep_layers=False).classes

    def save(self, out_dir: str | os.PathLike) -> dict:
        save_netlist(self.netlist, out_dir)
        return {"netlist": os.fspath(out_dir)}

    @classmethod
    def load(cls, out_dir: str | os.PathLike, record: dict | None = None) -> NumpyArtifact:
        return cls(load_netlist(out_dir))


@dataclass(frozen=True)
class NumpyBackend:
    name: str = "numpy"

    def passes(self, options: Any = None) -> tuple[Pass, ...]:
        return ()

    def emit(self, netlist: Netlist, options: Any = None) -> NumpyArtifact:
        return NumpyArtifact(run_flow(netlist, self.passes(options)))


__all__ = ["NumpyArtifact", "NumpyBackend"]
