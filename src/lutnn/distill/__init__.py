"""Distillation: copy a trained binary teacher into a LUT-Net, little by little.

Pipeline position: ``data -> nn -> distill -> ir -> sim / hdl``.

* :mod:`lutnn.distill.mapping` -- which student (trees of LUT stages) mirrors which teacher
  block, and how its first stage is wired (weight order or random).
* :mod:`lutnn.distill.fit` -- closed-form majority tables and local gradient training.
* :mod:`lutnn.distill.cache` / :mod:`lutnn.distill.memory` -- packed bit caches, memory budget.
* :mod:`lutnn.distill.core` -- :func:`distill`, the resumable block-by-block run.
* :mod:`lutnn.distill.report` -- the PNG report.

Example (a teacher run folder in, a student run folder out):

    >>> from lutnn.distill import DistillConfig, distill  # doctest: +SKIP
    >>> metrics = distill("runs/teacher", "runs/student", DistillConfig())  # doctest: +SKIP
"""

from lutnn.distill.core import METHODS, DistillConfig, distill, fit_block
from lutnn.student import BlockPlan, build_student, plan_student

__all__ = [
    "METHODS",
    "BlockPlan",
    "DistillConfig",
    "build_student",
    "distill",
    "fit_block",
    "plan_student",
]
