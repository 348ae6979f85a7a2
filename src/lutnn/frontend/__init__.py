"""PyTorch front end: a trained ``nn.Sequential`` of lutnn blocks -> :class:`~lutnn.ir.Netlist`.

Pipeline position: ``nn -> frontend -> ir``.  This is the only package that reads both
``torch`` and the IR; :mod:`lutnn.ir`, :mod:`lutnn.sim` and :mod:`lutnn.hdl` never import
torch.

* :func:`to_ir` (:mod:`lutnn.frontend.torch`): the block-by-block conversion;
* :func:`fold_batchnorm_sign` (:mod:`lutnn.frontend.fold`): the exact BatchNorm + sign ->
  integer threshold fold, evaluated with torch's own BatchNorm kernel.
"""

from lutnn.frontend.fold import fold_batchnorm_sign, threshold_from_outputs
from lutnn.frontend.torch import to_ir

__all__ = ["fold_batchnorm_sign", "threshold_from_outputs", "to_ir"]
