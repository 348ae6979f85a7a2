"""The training loop: Adam + schedule, per-epoch atomic checkpoints, resume, data parallel.

:func:`fit` is the one training loop: ``lutnn train`` (:func:`lutnn.train.train`) and
distillation's fine-tuning (:mod:`lutnn.distill`) both call it, with their own parameter
groups, schedule, micro-batching, loss and checkpoint file.

After every epoch the checkpoint (model, optimizer, schedule, history, best weights) is
rewritten atomically, so ``--resume`` continues after a kill.  Shuffling uses a generator
seeded by ``(seed, epoch)``, so a resumed run sees the same batches as an uninterrupted one
and ends with the same weights.

Data parallel (``torchrun --nproc-per-node N -m lutnn train ...``, or ``--nproc N``): under a
process group (:mod:`lutnn.distributed`) :func:`fit` wraps the model in
``DistributedDataParallel`` and every rank takes its contiguous ``batch_size / N`` part of
each *global* batch of the one-process order, so the global batch, the shuffling, the
schedule and the steps are the one-process run's.  Each rank's loss is weighted by its share
of the global batch times N (DDP averages gradients over ranks), so a step is the global
batch's mean gradient up to float summation order; BatchNorm normalises over the global batch
(:func:`lutnn.distributed.global_batchnorm`).  Validation is split by evaluation chunk over the
ranks and the correct counts summed (integers: the accuracy is the one-process one exactly),
so every rank selects the same epoch.  Rank 0 alone writes the checkpoint (which records the
world size: resuming needs the same one) and shows the progress.

Training longer: resumed with more epochs than it was started with (``--resume --epochs
N``), a run continues from its checkpoint.  The "step" schedule depends on the step count
alone, so it simply goes on: the same run as one started with N epochs.  A one-cycle or
cosine schedule has already annealed towards 0 over the epochs it was made for and cannot be
stretched after the fact, so the added epochs run one more cycle of the same kind over just
those epochs (a warm restart: the same as training the first epochs, then ``--epochs N``
from there, however often the run was killed and resumed).  The checkpoint records the
cycles (``cycles``: the end epoch of each), ``metrics.json`` too (``schedule_cycles``) when
there is more than one; fewer epochs than the run has are refused.  A checkpoint also
records its run's identity (``identity``, :func:`lutnn.training.record.run_identity`): a
checkpoint of another run is refused, naming the fields that differ (one from before lutnn
recorded it is trusted).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from lutnn import distributed, io
from lutnn.data.augment import epoch_shifts, translate
from lutnn.errors import LutnnError
from lutnn.training.record import check_identity

if TYPE_CHECKING:
    from lutnn.data import Dataset

__all__ = [
    "SCHEDULES",
    "FitConfig",
    "FitResult",
    "LossFn",
    "NonFiniteError",
    "accuracy",
    "clip_parameters",
    "cross_entropy",
    "fit",
    "model_device",
    "predict",
    "step_lr",
    "to_tensor",
    "train_epoch",
]


def to_tensor(x: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 images [n, C, H, W] -> float32 pixel values 0..255 (the encoders' input).

    The uint8 batch is moved to ``device`` before the conversion (a quarter of the bytes).
    """
    return torch.from_numpy(np.ascontiguousarray(x)).to(device).float()


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter or buffer (CPU for a model with neither)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Class predictions (argmax of the head, lowest index on ties) of ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    out = [model(to_tensor(x[i : i + batch_size], device)).argmax(1).cpu()
           for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of ``x`` that ``model`` (eval mode) classifies as ``y``.

    Under a process group this is a collective (every rank calls it): rank r predicts the
    chunks ``r, r + N, ...`` of ``batch_size`` samples and the correct counts are summed, so
    the chunks and the result are the one-process ones exactly.
    """
    if not distributed.active():
        return float((predict(model, x, batch_size) == y).mean())
    starts = range(0, len(x), batch_size)[distributed.rank()::distributed.world_size()]
    correct = sum(int((predict(model, x[s : s + batch_size], batch_size)
                       == y[s : s + batch_size]).sum()) for s in starts)
    total = distributed.all_sum(torch.tensor([correct], dtype=torch.int64))
    return float(int(total[0]) / len(x))


def clip_parameters(model: nn.Module) -> None:
    """Call ``clip_parameters()`` on every submodule that defines it (binary latent weights)."""
    for module in model.modules():
        clip = getattr(module, "clip_parameters", None)
        if clip is not None:
            clip()


def end_epoch(model: nn.Module, epochs_done: int) -> bool:
    """Call ``end_epoch(epochs_done)`` on every submodule that defines it (a layer whose
    connections are pruned as it trains); returns whether any of them changed the model's
    structure (then weights selected before it are not comparable)."""
    changed = False
    for module in model.modules():
        hook = getattr(module, "end_epoch", None)
        if hook is not None:
            changed |= bool(hook(epochs_done))
    return changed


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=gen)


#: ``loss_fn(model, x, y) -> scalar``: the mean loss of ``model`` on pixels ``x`` (float32
#: ``[b, C, H, W]``) with labels ``y`` (int64 ``[b]``); a distillation loss can call a teacher
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The task loss: cross-entropy of the model's class scores."""
    return F.cross_entropy(model(x), y)


#: learning-rate schedules of :class:`FitConfig`: one step per batch
SCHEDULES = ("one-cycle", "cosine", "step")


@dataclass(frozen=True)
class FitConfig:
    """Settings of :func:`fit`, the loop of ``lutnn train`` and of distillation's fine-tuning."""

    epochs: int  # passes over the training split
    batch_size: int  # samples per optimizer step
    lr: float  # peak Adam learning rate
    weight_decay: float = 0.0  # Adam weight decay
    seed: int = 0  # shuffling: epoch e's order comes from seed (seed, e)
    # "one-cycle" (5% warm-up, cosine to 0), "cosine" (lr to 0) or "step" (lr, then times
    # step_gamma after every step_epochs epochs: PyTorch's StepLR stepped once per epoch)
    schedule: str = "one-cycle"
    step_epochs: int = 0  # "step": epochs between two decays (DWN's MNIST example: 14)
    step_gamma: float = 0.1  # "step": the factor of each decay
    micro_batch_size: int = 0  # samples per forward/backward, gradients accumulated (0: batch)
    eval_batch_size: int = 1000  # samples per validation step
    shift: int = 0  # random translation of training images by up to +-shift pixels (0: off)


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit` did (the model holds the selected weights when it returns)."""

    epochs: int  # epochs done, over all sessions
    history: list[dict]  # per epoch: epoch, loss, val_accuracy, seconds
    seconds: float  # time spent in epochs, over all sessions
    best_val: float  # validation accuracy of the selected weights
    cycles: tuple[int, ...] = ()  # end epoch of each schedule cycle (more: trained longer)


def _make_schedule(optimizer: torch.optim.Optimizer, cfg: FitConfig, steps: int,
                   epochs: int | None = None) -> torch.optim.lr_scheduler.LRScheduler:
    """``cfg.schedule`` over ``epochs`` (default ``cfg.epochs``) of ``steps`` steps each."""
    total = max(cfg.epochs if epochs is None else epochs, 1) * steps
    if cfg.schedule == "one-cycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=total, pct_start=0.05, anneal_strategy="cos"
        )
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if cfg.schedule == "step":
        return _step_schedule(optimizer, cfg, steps)
    raise LutnnError(f"unknown schedule {cfg.schedule!r}; choose one of: {', '.join(SCHEDULES)}")


def step_lr(cfg: FitConfig, steps_per_epoch: int, step: int) -> float:
    """The learning rate of optimizer step ``step`` (from 0) under the "step" schedule:
    ``lr * step_gamma ** (epoch // step_epochs)``, ``epoch = step // steps_per_epoch``.

    Example (DWN's MNIST example: 1e-2, times 0.1 after epochs 14 and 28):
        >>> cfg = FitConfig(epochs=30, batch_size=32, lr=1e-2, schedule="step", step_epochs=14)
        >>> [f"{step_lr(cfg, 10, s):g}" for s in (0, 139, 140, 280)]
        ['0.01', '0.01', '0.001', '0.0001']
    """
    return cfg.lr * _step_factor(cfg, steps_per_epoch, step)


def _step_factor(cfg: FitConfig, steps_per_epoch: int, step: int) -> float:
    return cfg.step_gamma ** (step // steps_per_epoch // cfg.step_epochs)


def _step_schedule(optimizer: torch.optim.Optimizer, cfg: FitConfig,
                   steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The "step" schedule as a per-batch LambdaLR (resumable: its state is the step count).

    Raises:
        LutnnError: ``step_epochs`` below 1 or ``step_gamma`` not in (0, 1].
    """
    if isinstance(cfg.step_epochs, bool) or not isinstance(cfg.step_epochs, int) \
            or cfg.step_epochs < 1:
        raise LutnnError(f"the step schedule needs step_epochs >= 1 (epochs between two "
                         f"decays of the learning rate), got {cfg.step_epochs!r}")
    if not 0 < cfg.step_gamma <= 1:
        raise LutnnError(f"the step schedule needs 0 < step_gamma <= 1 (the factor of each "
                         f"decay), got {cfg.step_gamma!r}")
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _step_factor(cfg, steps, step))


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: np.ndarray,
    y: torch.Tensor,
    order: torch.Tensor,
    batch_size: int,
    desc: str,
    schedule: torch.optim.lr_scheduler.LRScheduler | None = None,
    *,
    loss_fn: LossFn = cross_entropy,
    micro_batch_size: int = 0,
    shifts: torch.Tensor | None = None,
) -> float:
    """One pass over ``x[order]`` (one optimizer and schedule step per batch); the mean loss.

    Under a process group (``model`` wrapped in DDP by :func:`fit`), ``batch_size`` is the
    global batch: this rank takes its part (:func:`lutnn.distributed.batch_part`) of each one,
    and the returned loss is the global batches' mean.

    Args:
        x: uint8 images ``[n, C, H, W]``, converted batch by batch (never all at once).
        y: int64 labels ``[n]``.
        micro_batch_size: samples per forward/backward; a batch's micro-batch losses are
            weighted by their share of the batch and their gradients summed, so one step is
            the batch's step in exact arithmetic, for models without batch statistics
            (BatchNorm in training mode sees each micro-batch alone) (0: the whole batch).
        shifts: int64 ``[n, 2]``, sample i moved by ``shifts[i]`` pixels
            (:func:`lutnn.data.augment.translate`); None: images as they are.
    """
    model.train()
    world, me = distributed.world_size(), distributed.rank()
    device = model_device(model)
    no_sync = getattr(model, "no_sync", None)  # DDP: gradients synchronised once per step
    total, steps = 0.0, 0
    bar = tqdm(range(0, len(order), batch_size), desc=desc, leave=False, mininterval=1.0,
               disable=not distributed.is_main())
    for start in bar:
        batch = order[start : start + batch_size].numpy()
        idx = batch[distributed.batch_part(len(batch), world, me)]
        micro = micro_batch_size or len(idx)
        optimizer.zero_grad(set_to_none=True)
        batch_loss = 0.0
        for m in range(0, len(idx), micro):
            part = idx[m : m + micro]
            last = m + micro >= len(idx)
            with no_sync() if no_sync is not None and not last else contextlib.nullcontext():
                # share of the global batch, times N: DDP's gradient mean over ranks undoes it
                images = to_tensor(x[part], device)
                if shifts is not None:
                    images = translate(images, shifts[part])
                loss = loss_fn(model, images, y[part].to(device)) * (
                    len(part) * world / len(batch))
                loss.backward()
            batch_loss += loss.item()
        if world > 1:  # the global batch's loss, the same on every rank (one decision)
            batch_loss = float(distributed.all_sum(
                torch.tensor([batch_loss], dtype=torch.float64))[0]) / world
        if not math.isfinite(batch_loss):  # before the step: the weights stay finite
            raise NonFiniteError(f"the loss became {batch_loss} at step {steps + 1}")
        optimizer.step()
        if schedule is not None:
            schedule.step()
        clip_parameters(model)
        total += batch_loss
        steps += 1
        bar.set_postfix(loss=f"{total / steps:.4f}", refresh=False)
    return total / max(steps, 1)


class NonFiniteError(LutnnError):
    """Training produced a NaN or infinite loss or parameter (:func:`fit` stops)."""


def _check_finite(model: nn.Module) -> None:
    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            raise NonFiniteError(f"parameter {name} became non-finite")


def _cycle_of(cycles: list[int], epoch: int) -> tuple[int, int]:
    """``(first, end)`` epochs of the schedule cycle in which epoch ``epoch`` (from 0) runs;
    past the last cycle, the last one.  ``cycles`` holds the end epoch of each."""
    start = 0
    for end in cycles:
        if epoch < end:
            return start, end
        start = end
    return (cycles[-2] if len(cycles) > 1 else 0), cycles[-1]


class _Schedule:
    """The learning-rate schedule of :func:`fit`: one per cycle of epochs (see the module
    doc, *Training longer*); :meth:`at` gives the one an epoch runs under."""

    def __init__(self, optimizer, cfg: FitConfig, steps: int, cycles: list[int]):
        self.optimizer, self.cfg, self.steps, self.cycles = optimizer, cfg, steps, cycles
        self.span: tuple[int, int] | None = None
        self.current: torch.optim.lr_scheduler.LRScheduler | None = None

    def at(self, epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
        """The schedule epoch ``epoch`` runs under: a fresh one where a cycle begins."""
        span = _cycle_of(self.cycles, epoch)
        if span != self.span:
            self.span = span
            self.current = _make_schedule(self.optimizer, self.cfg, self.steps,
                                          span[1] - span[0])
        return self.current


def _grown_cycles(ckpt: dict, cfg: FitConfig, steps: int, checkpoint: Path,
                  label: str) -> list[int]:
    """The checkpoint's schedule cycles, with one more when ``cfg.epochs`` grew (the "step"
    schedule's one cycle just gets longer).  A checkpoint from before lutnn recorded them
    has one, as long as its schedule was made for.

    Raises:
        LutnnError: ``cfg.epochs`` is fewer than the run has.
    """
    cycles = ckpt.get("cycles")
    if not cycles:
        sched = ckpt.get("schedule") or {}
        total = sched.get("total_steps") or sched.get("T_max")  # one-cycle, cosine
        cycles = [int(total) // steps if total else cfg.epochs]
    cycles = [int(c) for c in cycles]
    if cfg.epochs < cycles[-1]:
        raise LutnnError(f"checkpoint {checkpoint} is of a run of {cycles[-1]} {label}s, "
                         f"fewer ({cfg.epochs}) are asked for; resume with {cycles[-1]} or "
                         "more (more trains longer)")
    if cfg.epochs > cycles[-1]:
        if cfg.schedule == "step":
            cycles[-1] = cfg.epochs
        else:
            cycles.append(cfg.epochs)
    return cycles


def _resumed_state(checkpoint: Path, model: nn.Module, optimizer, cfg: FitConfig, steps: int,
                   state: dict, world: int, identity: dict | None,
                   label: str) -> tuple[dict, _Schedule]:
    """Load ``checkpoint`` into model, optimizer and schedule; the loop state it holds and
    the schedule to go on with.

    Raises:
        LutnnError: written by another world size or another run (``identity``), not this
            model's checkpoint, or of more epochs than ``cfg`` has.
    """
    ckpt = io.load_checkpoint(checkpoint)
    ckpt = ckpt if isinstance(ckpt, dict) else {}
    written = ckpt.get("world_size", 1)
    if written != world:
        raise LutnnError(
            f"checkpoint {checkpoint} was written by a run of {written} process(es), this "
            f"one has {world}; resume with the same number (--nproc {written}, or "
            f"torchrun --nproc-per-node {written}), or start a new --out"
        )
    check_identity(checkpoint, ckpt.get("identity"), identity)
    try:
        schedule = _Schedule(optimizer, cfg, steps, _grown_cycles(ckpt, cfg, steps,
                                                                  checkpoint, label))
        done = int(ckpt["epoch"])
        sched = schedule.at(max(done - 1, 0))  # made before the optimizer state is loaded
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["schedule"])
        loaded = {k: ckpt[k] for k in state if k != "cycles"}
        return {**loaded, "cycles": schedule.cycles}, schedule
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise LutnnError(
            f"checkpoint {checkpoint} does not match this model ({type(exc).__name__}); "
            "delete the run folder or start without --resume"
        ) from None


def _data_parallel(model: nn.Module):
    """``(DDP-wrapped model, global BatchNorm context)`` for a multi-process run."""
    from torch.nn.parallel import DistributedDataParallel

    device = model_device(model)
    # buffers are not DDP's to broadcast: every rank computes the same ones (encoder
    # thresholds from the same training split, BatchNorm statistics of the global batch,
    # wiring indices of the synchronised weights), and gloo has no int16 (thresholds)
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
        model, [name for name, _ in model.named_buffers()])
    net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    return net, distributed.global_batchnorm(model)


def fit(
    model: nn.Module,
    param_groups: Iterable[nn.Parameter] | list[dict],
    data: Dataset,
    cfg: FitConfig,
    checkpoint: str | Path,
    *,
    resume: bool = False,
    loss_fn: LossFn = cross_entropy,
    initial_best: tuple[float, dict[str, torch.Tensor]] | None = None,
    label: str = "epoch",
    log: Callable[[str], None] = print,
    identity: dict | None = None,
) -> FitResult:
    """Train ``model`` with Adam on ``data``'s training split; keep the best validation weights.

    After every epoch the model, optimizer, schedule, history and best weights are written
    atomically to ``checkpoint``, so with ``resume`` a killed run continues after its last
    epoch and ends with the same weights as an uninterrupted one (epoch ``e`` is shuffled by
    ``(cfg.seed, e)`` whatever happened before).  On return the model holds the weights with
    the best validation accuracy (ties: the earliest).

    Under a process group (torchrun) this is data-parallel, as the module doc says; every
    rank calls it with the same arguments and gets the same result.

    Args:
        model: the model to train (``model(x)`` gives class scores), on its device.
        param_groups: what Adam trains (parameters or Adam parameter groups); the caller
            freezes the rest if it wants them untouched by backward.
        data: the splits (``x_train``, ``y_train``, ``x_val``, ``y_val``; uint8 images).
        cfg: epochs, batch size, learning rate and schedule.
        checkpoint: the checkpoint file.
        resume: continue from ``checkpoint`` if it exists.
        loss_fn: ``loss_fn(model, x, y)``, the mean loss of a batch (default: cross-entropy).
        initial_best: ``(val_accuracy, state_dict)`` the epochs must beat to be selected
            (default: none; the best epoch is selected).
        label: names the epochs in progress messages (``"epoch"``, ``"fine-tune epoch"``).
        log: progress messages.
        identity: the run's identity, recorded in the checkpoint and checked against it on
            resume (:func:`lutnn.training.record.run_identity`; None: neither).

    Raises:
        LutnnError: a checkpoint that does not match the model or optimizer, that was
            written under another world size or by another run (``identity``), or of more
            epochs than ``cfg`` has; a batch size that the world size does not divide.
        NonFiniteError: a NaN or infinite loss or parameter; the checkpoint keeps the last
            good epoch.
    """
    checkpoint = Path(checkpoint)
    world = distributed.world_size() if distributed.active() else 1
    _check_world(len(data.x_train), cfg, world)
    if not distributed.is_main():
        log = distributed.quiet  # rank 0 reports
    # fused: one kernel per step; 10x faster than the default on learned-wiring weights
    # (28M floats: 13 ms against 133 ms per step on 2 cores)
    optimizer = torch.optim.Adam(param_groups, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                 fused=True)
    steps_per_epoch = math.ceil(len(data.x_train) / cfg.batch_size)
    best_val, best_model = initial_best if initial_best is not None else (-1.0, None)
    state = {"epoch": 0, "history": [], "seconds": 0.0, "best_val": best_val,
             "best_model": best_model, "cycles": [cfg.epochs]}
    if resume and checkpoint.exists():
        state, schedule = _resumed_state(checkpoint, model, optimizer, cfg, steps_per_epoch,
                                         state, world, identity, label)
        log(f"resuming {checkpoint.parent} after {label} {state['epoch']} of {cfg.epochs}")
    else:
        schedule = _Schedule(optimizer, cfg, steps_per_epoch, state["cycles"])

    y_train = torch.from_numpy(data.y_train)
    net, sync_bn = _data_parallel(model) if world > 1 else (model, contextlib.nullcontext())
    extra = {"world_size": world, **({"identity": identity} if identity is not None else {})}
    with sync_bn:
        _fit_epochs(model, net, optimizer, schedule, data, y_train, cfg, checkpoint, state,
                    loss_fn, label, log, extra)
    if state["best_model"] is not None:
        model.load_state_dict(state["best_model"])
    return FitResult(epochs=state["epoch"], history=state["history"],
                     seconds=state["seconds"], best_val=state["best_val"],
                     cycles=tuple(state["cycles"]))


def _check_world(n_train: int, cfg: FitConfig, world: int) -> None:
    """Refuse a global batch that ``world`` ranks cannot share.

    Raises:
        LutnnError: ``batch_size`` not divisible by ``world``, or a last batch of an epoch
            with fewer samples than ranks.
    """
    if world == 1:
        return
    if cfg.batch_size % world:
        raise LutnnError(
            f"the batch size {cfg.batch_size} is the global batch and must be divisible by the "
            f"{world} processes (each takes batch_size / {world}); choose e.g. "
            f"{max(world, cfg.batch_size // world * world)}"
        )
    last = n_train % cfg.batch_size
    if 0 < last < world:
        raise LutnnError(
            f"the last batch of each epoch holds {last} of the {n_train} training samples, "
            f"fewer than the {world} processes; choose a batch size that leaves 0 or at least "
            f"{world} samples over"
        )


def _fit_epochs(model, net, optimizer, schedules: _Schedule, data, y_train, cfg: FitConfig,
                checkpoint: Path, state: dict, loss_fn: LossFn, label: str,
                log: Callable[[str], None], extra: dict) -> None:
    """The epochs of :func:`fit` (``net``: ``model``, or its DDP wrapper); updates ``state``;
    ``extra`` goes into every checkpoint as it is (world size, run identity)."""
    for epoch in range(state["epoch"], cfg.epochs):
        t0 = time.perf_counter()
        schedule = schedules.at(epoch)
        order = _epoch_order(len(data.x_train), cfg.seed, epoch)
        shifts = (epoch_shifts(len(data.x_train), cfg.shift, cfg.seed, epoch)
                  if cfg.shift else None)
        # looked up in the module at call time, so a test can interrupt a run here
        try:
            loss = train_epoch(net, optimizer, data.x_train, y_train, order, cfg.batch_size,
                               f"{label} {epoch + 1}/{cfg.epochs}", schedule, loss_fn=loss_fn,
                               micro_batch_size=cfg.micro_batch_size, shifts=shifts)
            _check_finite(model)
        except NonFiniteError as exc:
            kept = (f"{checkpoint} keeps {label} {state['epoch']}, the last good one"
                    if state["epoch"] else "no epoch finished, so nothing was saved")
            raise NonFiniteError(
                f"{label} {epoch + 1}: {exc} (learning rate {cfg.lr:g}); training stopped and "
                f"{kept}; lower the learning rate or check the config"
            ) from None
        if end_epoch(model, epoch + 1):  # connections pruned: only this structure competes
            state["best_val"], state["best_model"] = -1.0, None
        val_acc = accuracy(model, data.x_val, data.y_val, cfg.eval_batch_size)
        seconds = time.perf_counter() - t0
        state["seconds"] += seconds
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, "loss": loss, "val_accuracy": val_acc,
                                 "seconds": round(seconds, 2)})
        if val_acc > state["best_val"]:
            state["best_val"] = val_acc
            state["best_model"] = {k: v.clone() for k, v in model.state_dict().items()}
        if distributed.is_main():  # one writer; the other ranks hold the same state
            io.save_checkpoint(
                checkpoint,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    **extra,
                    **state,
                },
            )
        log(f"{label} {epoch + 1}/{cfg.epochs}: loss {loss:.4f}, val {val_acc:.4f} "
            f"({state['seconds']:.0f} s)")
