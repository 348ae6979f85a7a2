"""IR rewrite passes, each a function ``Netlist -> Netlist`` (numpy only).

* :func:`lower` (:mod:`~lutnn.ir.passes.lower`): LUT layers, XNOR-popcount-threshold layers
  and the class head become :class:`~lutnn.ir.LogicLayer` / :class:`~lutnn.ir.LoweredHead`:
  LUTs (threshold neurons through a LUT6 counter tree), adders and comparators;
* :func:`minimize` (:mod:`~lutnn.ir.passes.minimize`): every LUT of the lowered form on its
  true support (repeated inputs merged, ignored inputs dropped);
* :func:`prune` (:mod:`~lutnn.ir.passes.prune`): the *unlowered* netlist without constant,
  duplicate and unread nodes (constants folded into their consumers, every LUT on its support,
  equal nodes merged); :func:`prune_with_report` also says what went and why;
* :func:`lower_spatial` (:mod:`~lutnn.ir.passes.lower_spatial`): every spatial node
  (shared-table convolution, pooling, flatten: :mod:`lutnn.ir.spatial`) unrolled into flat
  LUT / threshold / OR layers, one node per output bit (run it before the passes above);
* :func:`assign_stages` (:mod:`~lutnn.ir.passes.stages`): pipeline stages inside the lowered
  layers and the head, at most N LUT levels each (where ``pipeline="balanced"`` puts registers);
* :func:`parallel_argmax` (:mod:`~lutnn.ir.passes.argmax`): the lowered head's argmax as LUT
  ops comparing every pair at once (``argmax="parallel"``: fewer levels, more LUTs).

:mod:`~lutnn.ir.passes.flow` declares each as a :class:`Pass` (the netlist forms it reads and
writes) and runs a backend's list with :func:`run_flow`, checking the form between passes.

The emitter reads ``minimize(lower(netlist))`` (``lutnn export`` prunes first); every pass
keeps the function: the simulators give the same bits before and after (tested on random
netlists).
"""

from lutnn.ir.passes.argmax import ARGMAX_OPTIONS, parallel_argmax
from lutnn.ir.passes.flow import Pass, forms, run_flow
from lutnn.ir.passes.lower import lower
from lutnn.ir.passes.lower_spatial import lower_spatial
from lutnn.ir.passes.minimize import minimize, minimize_lut
from lutnn.ir.passes.prune import LayerPrune, PruneReport, prune, prune_with_report
from lutnn.ir.passes.stages import assign_stages, balanced_levels

__all__ = [
    "ARGMAX_OPTIONS",
    "LayerPrune",
    "Pass",
    "PruneReport",
    "assign_stages",
    "balanced_levels",
    "lower",
    "lower_spatial",
    "forms",
    "minimize",
    "minimize_lut",
    "parallel_argmax",
    "prune",
    "prune_with_report",
    "run_flow",
]
