"""The parts of ``lutnn train``, one module per job; :mod:`lutnn.train` is the command and
re-exports their public names.

* :mod:`lutnn.training.loop`: :func:`~lutnn.training.loop.fit`, the one training loop
  (Adam, schedule, per-epoch atomic checkpoints, resume, data parallel), and its helpers.
* :mod:`lutnn.training.kd`: the knowledge-distillation loss of a teacher's class scores.
* :mod:`lutnn.training.record`: the run record (``run.json``): what it holds, whether
  ``--resume`` may continue it, and :func:`~lutnn.training.record.load_run`.
"""
