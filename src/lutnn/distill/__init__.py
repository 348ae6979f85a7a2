"""Distillation: copy a trained binary teacher into a LUT-Net, little by little.

Pipeline position: ``data -> nn -> distill -> ir -> sim / hdl``.  The student's architecture
(which trees of LUT stages mirror which teacher block, and their first-stage wiring) lives in
:mod:`lutnn.student`, so the ``lut-student`` model family needs no distillation code.  Here,
one module per job:

* :mod:`lutnn.distill.config` -- :class:`DistillConfig`, the run's settings.
* :mod:`lutnn.distill.rows` / :mod:`lutnn.distill.cache` -- where a block's rows come from:
  pixels or packed bit caches of the student's and the teacher's activations.
* :mod:`lutnn.distill.fit` -- table math: closed-form majority tables, local losses.
* :mod:`lutnn.distill.blocks` -- fitting one block's stages from its rows.
* :mod:`lutnn.distill.memory` -- resident memory, chunk sizes that fit the budget.
* :mod:`lutnn.distill.run` -- :func:`distill`, the resumable block-by-block run and its
  fine-tuning (the training loop of :mod:`lutnn.train`).
* :mod:`lutnn.distill.report` -- the PNG report.

Example (a teacher run folder in, a student run folder out):

    >>> from lutnn.distill import DistillConfig, distill  # doctest: +SKIP
    >>> metrics = distill("runs/teacher", "runs/student", DistillConfig())  # doctest: +SKIP
"""

from lutnn.distill.blocks import fit_block
from lutnn.distill.config import METHODS, DistillConfig
from lutnn.distill.run import distill
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
