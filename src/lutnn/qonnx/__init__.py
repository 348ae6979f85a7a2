"""lutnn's XNOR teachers as QONNX, the ONNX dialect FINN, Brevitas and hls4ml read
(``lutnn export RUN --format qonnx``).

:class:`~lutnn.qonnx.backend.QONNXBackend` reads the IR (the spatial netlist), like every
other backend; :mod:`lutnn.qonnx.build` holds one converter per IR node type and
:mod:`lutnn.qonnx.graph` the small graph builder.  ``onnx`` and ``qonnx`` (the ``interop``
extra) are imported only when a graph is made, so importing this package needs numpy alone.
"""

from lutnn.qonnx.backend import QONNXArtifact, QONNXBackend
from lutnn.qonnx.build import float32_boundaries
from lutnn.qonnx.graph import require_interop

__all__ = ["QONNXArtifact", "QONNXBackend", "float32_boundaries", "require_interop"]
