"""Knowledge distillation (Hinton et al. 2015): a student's loss from a teacher's class scores.

``lutnn train --teacher RUN`` trains with :func:`teacher_loss`, a :data:`lutnn.training.loop.LossFn`
for :func:`lutnn.training.loop.fit`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from lutnn.training.loop import LossFn

__all__ = ["kd_loss", "standardize", "teacher_loss"]


def standardize(scores: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each row of ``[b, classes]`` scores shifted to mean 0 and scaled to standard deviation 1
    (a row of equal scores stays all 0)."""
    centered = scores - scores.mean(dim=1, keepdim=True)
    return centered / (centered.std(dim=1, keepdim=True) + eps)


def kd_loss(
    student_scores: torch.Tensor,
    teacher_scores: torch.Tensor,
    y: torch.Tensor,
    alpha: float,
    temperature: float,
    standardized: bool = False,
) -> torch.Tensor:
    """Knowledge distillation (Hinton et al. 2015) on class scores ``[b, classes]``.

    ``(1 - alpha) * CE(s, y) + alpha * T^2 * KL(softmax(t / T) || softmax(s / T))``, with
    ``s``, ``t`` the student's and teacher's scores (popcounts over the head's temperature)
    and ``T = temperature``; ``T^2`` keeps the soft term's gradient scale independent of ``T``.
    ``standardized``: the soft term compares :func:`standardize`-d scores (each row to mean 0,
    standard deviation 1; Sun et al. 2024, "Logit Standardization in KD"), so a student whose
    head spans another range than the teacher's (another bits-per-class or tau) matches the
    teacher's ranking and relative margins rather than its absolute span.  The hard term
    always reads the raw scores.
    """
    hard = F.cross_entropy(student_scores, y)
    if standardized:
        student_scores, teacher_scores = standardize(student_scores), standardize(teacher_scores)
    log_p = F.log_softmax(student_scores / temperature, dim=1)
    q = F.softmax(teacher_scores / temperature, dim=1)
    soft = F.kl_div(log_p, q, reduction="batchmean") * temperature**2
    return (1.0 - alpha) * hard + alpha * soft


def teacher_loss(teacher: nn.Module, alpha: float, temperature: float,
                 standardized: bool = False) -> LossFn:
    """A :data:`LossFn` that mixes the labels with ``teacher``'s scores (:func:`kd_loss`).

    The teacher runs in eval mode (its hardware function) without gradients, on every batch.
    """
    teacher.eval().requires_grad_(False)

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            t = teacher(x)
        return kd_loss(model(x), t, y, alpha, temperature, standardized)

    return loss
