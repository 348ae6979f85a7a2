"""Settings of a distillation run (:class:`DistillConfig`) and their allowed values."""

from __future__ import annotations

from dataclasses import dataclass

from lutnn.distill.fit import LOCAL_LOSSES, UNSEEN_RULES
from lutnn.errors import LutnnError
from lutnn.student import FIRST_STAGE_WIRINGS, check_tree

__all__ = ["METHODS", "SCOPES", "TARGETS", "DistillConfig"]

#: how a block's tables are found: closed form, local gradient training, or both in turn
METHODS = ("fit", "train", "fit+train")
#: first-stage target of the closed-form fit: the teacher's bit or its partial sum
TARGETS = ("teacher", "partial")
#: tables end-to-end fine-tuning trains: all of them or only the last block's
SCOPES = ("all", "last")


@dataclass(frozen=True)
class DistillConfig:
    """Settings of one distillation run."""

    k: int = 6  # inputs per first-stage LUT
    tree: tuple[int, ...] = (6,)  # LUTs per teacher neuron in each stage before the last one
    wiring: str = "weight_order_std"  # first stage: "weight_order_std" (|w| * input std),
    # "weight_order" (|w|, the seed's) or "random"
    method: str = "fit"  # "fit" (closed form), "train" (local gradient), "fit+train"
    target: str = "teacher"  # first-stage target of the fit: "teacher" bit or "partial" sum
    unseen: str = "majority"  # table entry of unseen addresses: "majority" or "nearest"
    loss: str = "hinge"  # local loss of "train": "hinge" (teacher bits) or "mse" (pre-act.)
    local_epochs: int = 2  # passes over the rows per block for "train"
    local_lr: float = 1e-2  # Adam learning rate of local training
    batch_size: int = 256  # rows per step of local training
    samples: int = 0  # training samples to distill on (0: the whole training split)
    conv_positions: int = 16  # positions per image a convolution is fitted on (0: all)
    finetune_epochs: int = 5  # end-to-end epochs on the task loss after distillation
    finetune_lr: float = 1e-2  # Adam learning rate of fine-tuning (cosine to 0)
    finetune_scope: str = "all"  # tables fine-tuning trains: "all" or only the "last" block's
    finetune_batch_size: int = 128  # samples per fine-tuning step
    finetune_shift: int = 0  # fine-tuning images moved by up to +-shift pixels (0: off)
    finetune_kd_alpha: float = 0.0  # weight of the teacher's soft class scores (0: labels only)
    finetune_kd_temperature: float = 2.0  # softmax temperature of both score vectors (KD)
    # the fitted tables times this before fine-tuning (same bits): an entry the fit decided
    # with certainty sits at +-1, the edge of the clipped STE's live range |T| <= 1, and one
    # Adam step outward freezes it and every gradient through it; < 1 keeps them learning
    finetune_table_scale: float = 1.0
    memory_budget_mb: int = 1024  # resident memory the process keeps within (MiB)
    seed: int = 0  # seeds random wiring, position sampling, shuffling

    def validate(self) -> None:
        """Raise :class:`LutnnError` naming the first bad field."""
        check_tree(self.tree, self.k)
        choices = {
            "wiring": FIRST_STAGE_WIRINGS, "method": METHODS, "target": TARGETS,
            "unseen": UNSEEN_RULES, "loss": tuple(LOCAL_LOSSES), "finetune_scope": SCOPES,
        }
        for field, allowed in choices.items():
            if getattr(self, field) not in allowed:
                raise LutnnError(f"distill: {field} must be one of {', '.join(allowed)}, got "
                                 f"{getattr(self, field)!r}")
        if not 0.0 <= self.finetune_kd_alpha <= 1.0:
            raise LutnnError(f"distill: finetune_kd_alpha must lie in [0, 1], got "
                             f"{self.finetune_kd_alpha}")
        if not self.finetune_kd_temperature > 0:
            raise LutnnError(f"distill: finetune_kd_temperature must be > 0, got "
                             f"{self.finetune_kd_temperature}")
        if not 0.0 < self.finetune_table_scale <= 1.0:
            raise LutnnError(f"distill: finetune_table_scale must lie in (0, 1], got "
                             f"{self.finetune_table_scale}")
        for field in ("local_epochs", "samples", "conv_positions", "finetune_epochs",
                      "finetune_shift"):
            if getattr(self, field) < 0:
                raise LutnnError(f"distill: {field} must be >= 0, got {getattr(self, field)}")
        for field in ("batch_size", "finetune_batch_size", "memory_budget_mb"):
            if getattr(self, field) < 1:
                raise LutnnError(f"distill: {field} must be >= 1, got {getattr(self, field)}")
