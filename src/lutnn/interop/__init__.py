"""Bring your own binarized network: Brevitas modules, QONNX files and plain PyTorch modules
as lutnn teachers (``lutnn import``).

Pipeline position: beside ``train`` (it writes a teacher run folder), before ``distill``.
:mod:`~lutnn.interop.graph` is the source-neutral chain of ops; the sources read into it
(:mod:`~lutnn.interop.torch_source`, :mod:`~lutnn.interop.qonnx_source`, which imports
onnx and qonnx lazily: the ``interop`` extra); :mod:`~lutnn.interop.convert` maps it onto
lutnn blocks exactly; :mod:`~lutnn.interop.verify` compares the two on data;
:mod:`~lutnn.interop.run` writes the run folder.
"""

from lutnn.interop.run import import_network, input_mapping

__all__ = ["import_network", "input_mapping"]
