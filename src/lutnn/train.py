"""``lutnn train``: train a model into a run folder; the public face of :mod:`lutnn.training`.

:func:`train` builds the model, writes the run record, runs the loop and writes the weights
and metrics.  The parts live one job per module, and this module re-exports their public
names (``from lutnn.train import fit, load_run, TrainConfig`` keeps working):

* :mod:`lutnn.training.loop`: :func:`fit`, :func:`train_epoch`, :class:`FitConfig`, the
  one training loop (Adam + schedule, per-epoch atomic checkpoints, resume, data parallel);
* :mod:`lutnn.training.kd`: :func:`kd_loss`, :func:`teacher_loss`;
* :mod:`lutnn.training.record`: :class:`TrainConfig`, ``run.json``, :func:`same_record`,
  :func:`check_resume`, :func:`check_new_run`, :func:`load_run`.

A run folder holds ``run.json``, ``checkpoint.pt`` (the latest epoch, for ``--resume``),
``model.pt`` (the best validation weights) and ``metrics.json``
(:mod:`lutnn.training.record`).  Launched by torchrun the run is data-parallel
(:mod:`lutnn.training.loop`); rank 0 writes the files.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from lutnn import distributed, io
from lutnn.errors import LutnnError
from lutnn.footprint import check_model_fits
from lutnn.models import build_model, count_lut_nodes, count_params, get_model_spec, make_config
from lutnn.nn.lut import LUTLayer
from lutnn.runfolder import guarded, model_fingerprint
from lutnn.training.kd import kd_loss, teacher_loss
from lutnn.training.loop import (
    SCHEDULES,
    FitConfig,
    FitResult,
    LossFn,
    NonFiniteError,
    accuracy,
    clip_parameters,
    cross_entropy,
    fit,
    model_device,
    predict,
    to_tensor,
    train_epoch,
)
from lutnn.training.record import (
    RUN_FILES,
    TrainConfig,
    check_identity,
    check_new_run,
    check_resume,
    load_run,
    run_identity,
    run_record,
    same_record,
)

if TYPE_CHECKING:
    from lutnn.data import Dataset

__all__ = [
    "RUN_FILES",
    "SCHEDULES",
    "FitConfig",
    "FitResult",
    "LossFn",
    "NonFiniteError",
    "TrainConfig",
    "accuracy",
    "check_new_run",
    "check_resume",
    "clip_parameters",
    "cross_entropy",
    "fit",
    "kd_loss",
    "load_run",
    "model_device",
    "predict",
    "same_record",
    "teacher_loss",
    "to_tensor",
    "train",
    "train_epoch",
]


def train(
    model_name: str,
    out: str | Path,
    *,
    model_overrides: dict | None = None,
    train_cfg: TrainConfig = TrainConfig(),  # noqa: B008 (a frozen dataclass)
    data: str | None = None,
    resume: bool = False,
    extra_metrics: Callable[[nn.Module], dict] | None = None,
    log: Callable[[str], None] = print,
    label: str | None = None,
    device: str = "cpu",
    test_data: str | None = None,
) -> dict:
    """Train model ``model_name`` into run folder ``out``; returns the metrics dict.

    ``label`` names the label column of a ``.csv`` table (default: its last column);
    ``test_data`` gives a table its test split from its own file (``--test-data``,
    :func:`lutnn.data.load_dataset`).
    ``device`` is ``cpu``, ``cuda`` or ``auto`` (:func:`lutnn.distributed.resolve_device`);
    it is not part of the run record, so a run may resume on another device.  Launched by
    torchrun, the run is data-parallel (see the module doc) and every rank returns the same
    metrics; rank 0 writes the files.

    Raises:
        LutnnError: a user error (unknown model, bad config, a run folder that already holds
            a run without ``resume``, a corrupt checkpoint, a mismatching resumed config, a
            world size that changed since the checkpoint).
    """
    with distributed.session(device) as dev:
        return _train(model_name, out, model_overrides=model_overrides, train_cfg=train_cfg,
                      data=data, resume=resume, extra_metrics=extra_metrics, log=log,
                      label=label, device=dev, test_data=test_data)


@guarded("out")  # --out is locked (by rank 0) while it runs; a failed new run leaves nothing
def _train(model_name: str, out: str | Path, *, model_overrides: dict | None,
           train_cfg: TrainConfig, data: str | None, resume: bool,
           extra_metrics: Callable[[nn.Module], dict] | None, log: Callable[[str], None],
           label: str | None, device: torch.device, test_data: str | None = None) -> dict:
    from lutnn.data import fit_encoders, load_dataset
    from lutnn.data.tables import table_record

    out = Path(out)
    model_cfg = make_config(model_name, model_overrides)
    if train_cfg.lr is None:
        train_cfg = dataclasses.replace(train_cfg, lr=get_model_spec(model_name).lr)
    check_new_run(out, resume)
    prune_epochs = getattr(model_cfg, "prune_epochs", 0)
    if prune_epochs > train_cfg.epochs:
        raise LutnnError(f"{model_name}: prune_epochs {prune_epochs} is more than --epochs "
                         f"{train_cfg.epochs}, so the fan-in would never reach its limit; "
                         f"train at least {prune_epochs} epochs or lower prune_epochs")
    if train_cfg.val_size is None and resume:  # the size the run chose when it started
        train_cfg = dataclasses.replace(train_cfg, val_size=_recorded_val_size(out))
    dataset = load_dataset(data, val_size=train_cfg.val_size, seed=train_cfg.seed, label=label,
                           test_data=test_data)
    if train_cfg.val_size is None:  # adapted to the data (auto_val_size), recorded as a number
        train_cfg = dataclasses.replace(train_cfg, val_size=len(dataset.x_val))
    _check_shift(train_cfg.shift, dataset)
    check_model_fits(model_name, model_cfg, dataset.input_shape, dataset.num_classes,
                     train_cfg.batch_size)
    record = run_record(model_name, model_cfg, train_cfg, data or "mnist", dataset, test_data)
    record.update(table_record(dataset, label))  # a table's label column and class names
    loss_fn = cross_entropy
    if train_cfg.teacher is not None:
        loss_fn = _teacher_loss_for(train_cfg, dataset, record, device)
    check_resume(out, record, resume, "model")
    ckpt = _checked_checkpoint(out, record) if resume else None
    if resume:
        _check_can_grow(out, train_cfg.epochs)
    finished = _finished_metrics(out, train_cfg, ckpt) if resume else None
    if finished is not None:  # a no-op resume: nothing on disk changes
        log(f"{out} is finished ({finished['epochs']} of {train_cfg.epochs} epochs done); "
            "nothing to train, its files are left as they are")
        return finished
    main = distributed.is_main()
    if main:
        io.write_json(out / "run.json", record)

    torch.manual_seed(train_cfg.seed)
    model = build_model(model_name, model_cfg, dataset.input_shape, dataset.num_classes)
    fit_encoders(model, dataset.x_train)  # thresholds per input from the training split
    model.to(device)
    fit_cfg = FitConfig(epochs=train_cfg.epochs, batch_size=train_cfg.batch_size,
                        lr=train_cfg.lr, weight_decay=train_cfg.weight_decay,
                        seed=train_cfg.seed, eval_batch_size=train_cfg.eval_batch_size,
                        shift=train_cfg.shift, schedule=train_cfg.schedule,
                        step_epochs=train_cfg.step_epochs, step_gamma=train_cfg.step_gamma)
    result = fit(model, model.parameters(), dataset, fit_cfg, out / "checkpoint.pt",
                 resume=resume, loss_fn=loss_fn, log=log, identity=run_identity(record))

    if main:
        io.save_checkpoint(out / "model.pt", model.state_dict())
    metrics = {
        "model": model_name,
        "val_accuracy": accuracy(model, dataset.x_val, dataset.y_val, train_cfg.eval_batch_size),
        "test_accuracy": accuracy(model, dataset.x_test, dataset.y_test, train_cfg.eval_batch_size),
        "epochs": result.epochs,
        "seconds": round(result.seconds, 2),
        "params": count_params(model),
        "history": result.history,
        **({"schedule_cycles": list(result.cycles)} if len(result.cycles) > 1 else {}),
    }
    if any(isinstance(m, LUTLayer) for m in model.modules()):
        metrics["luts"] = count_lut_nodes(model, dataset.input_shape)
    if extra_metrics is not None:
        metrics.update(extra_metrics(model))
    if main:
        io.write_json(out / "metrics.json", metrics)
    return metrics


def _check_shift(shift: int, dataset: Dataset) -> None:
    """Refuse a ``--shift`` below 0, on a table, or as large as the images (blank images).

    Raises:
        LutnnError: naming the shift and the fix.
    """
    if shift < 0:
        raise LutnnError(f"--shift must be >= 0 pixels, got {shift}")
    if shift and dataset.x_train.ndim != 4:
        raise LutnnError(f"--shift {shift} moves images; this data is a table of "
                         f"{dataset.x_train.shape[1]} features: drop --shift")
    side = min(dataset.input_shape[1:]) if len(dataset.input_shape) == 3 else 0
    if shift and shift >= side:
        h, w = dataset.input_shape[1:]
        raise LutnnError(f"--shift {shift} moves these {h}x{w} images out of sight "
                         f"(most training images would be blank); use --shift below {side}, "
                         f"e.g. {max(1, side // 8)}")


def _recorded_train(out: Path, field: str) -> int | None:
    """The integer ``train.<field>`` of ``out/run.json`` (None when there is none to read)."""
    path = out / "run.json"
    record = io.read_json(path, "run record") if path.is_file() else None
    train = record.get("train") if isinstance(record, dict) else None
    value = train.get(field) if isinstance(train, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _recorded_val_size(out: Path) -> int | None:
    """``train.val_size`` of ``out/run.json`` (None when there is none to read)."""
    return _recorded_train(out, "val_size")


def _check_can_grow(out: Path, epochs: int) -> None:
    """A resume with more epochs than ``out/run.json`` records continues from the
    checkpoint; refuse it when the checkpoint is gone (it would start over).

    Raises:
        LutnnError: more epochs asked for, weights there, no ``checkpoint.pt``.
    """
    before = _recorded_train(out, "epochs")
    if (before is not None and epochs > before and (out / "model.pt").is_file()
            and not (out / "checkpoint.pt").is_file()):
        raise LutnnError(f"--resume --epochs {epochs}: {out} has no checkpoint.pt to train on "
                         f"from its {before} epochs (it would start over); train into a new "
                         "--out instead")


def _checked_checkpoint(out: Path, record: dict) -> dict | None:
    """``out/checkpoint.pt`` (None when there is none), refused before anything is written
    when it is another run's (:func:`lutnn.training.record.check_identity`).

    Raises:
        LutnnError: a corrupt checkpoint, or another run's.
    """
    path = out / "checkpoint.pt"
    if not path.exists():
        return None
    ckpt = io.load_checkpoint(path)
    if isinstance(ckpt, dict):
        check_identity(path, ckpt.get("identity"), run_identity(record))
    return ckpt


def _finished_metrics(out: Path, train_cfg: TrainConfig, ckpt: dict | None) -> dict | None:
    """The metrics of the finished run in ``out`` (``model.pt`` and a ``metrics.json`` of
    all ``train_cfg.epochs`` epochs, and its checkpoint ``ckpt``, if kept, of the last
    epoch), else None."""
    path = out / "metrics.json"
    if not (out / "model.pt").is_file() or not path.is_file():
        return None
    if ckpt is not None and (not isinstance(ckpt, dict)
                             or ckpt.get("epoch") != train_cfg.epochs):
        return None
    metrics = io.read_json(path, "metrics file")
    if not isinstance(metrics, dict) or metrics.get("epochs") != train_cfg.epochs or not all(
            key in metrics for key in ("val_accuracy", "test_accuracy", "seconds")):
        return None
    return metrics


def _teacher_loss_for(train_cfg: TrainConfig, dataset: Dataset, record: dict,
                      device: torch.device) -> LossFn:
    """Load ``train_cfg.teacher``, check it fits the data, fingerprint it into ``record``."""
    if not 0.0 <= train_cfg.kd_alpha <= 1.0:
        raise LutnnError(f"--kd-alpha must lie in [0, 1], got {train_cfg.kd_alpha}")
    if not (math.isfinite(train_cfg.kd_temperature) and train_cfg.kd_temperature > 0):
        raise LutnnError(f"--kd-temperature must be > 0, got {train_cfg.kd_temperature}")
    teacher, teacher_record = load_run(train_cfg.teacher)
    if (tuple(teacher_record["input_shape"]) != tuple(dataset.input_shape)
            or int(teacher_record["num_classes"]) != int(dataset.num_classes)):
        raise LutnnError(
            f"teacher {train_cfg.teacher} was trained on {teacher_record['num_classes']} classes "
            f"of shape {teacher_record['input_shape']}, this data has {dataset.num_classes} "
            f"of shape {list(dataset.input_shape)}; use a teacher trained on the same data"
        )
    _check_teacher_data(train_cfg.teacher, teacher_record, record)
    record["teacher_sha256"] = model_fingerprint(train_cfg.teacher)  # of the weights
    return teacher_loss(teacher.to(device), train_cfg.kd_alpha, train_cfg.kd_temperature,
                        train_cfg.kd_standardize)


def _data_fingerprint(record: dict) -> str | None:
    """What a run record says its training data was: ``"mnist"``, the SHA-256 of its data
    file (``data_source``), or None when it records neither."""
    if record.get("data") == "mnist":
        return "mnist"
    source = record.get("data_source")
    return source.get("sha256") if isinstance(source, dict) else None


def _check_teacher_data(teacher: str, teacher_record: dict, record: dict) -> None:
    """Refuse a teacher trained on other data than ``record``'s (compared by content, so
    data of the same shape and classes is caught too).

    Raises:
        LutnnError: the teacher's record has no data fingerprint, or another one.
    """
    theirs, mine = _data_fingerprint(teacher_record), _data_fingerprint(record)
    if theirs is None:
        raise LutnnError(f"teacher {teacher}/run.json records no fingerprint of its data "
                         "(data_source), so it cannot be checked against this run's; "
                         "retrain the teacher with this lutnn")
    if theirs != mine:
        raise LutnnError(f"teacher {teacher} was trained on other data, "
                         f"{_data_named(teacher_record, theirs)}, than this run's "
                         f"{_data_named(record, mine)}; use a teacher trained on the same data")


def _data_named(record: dict, fingerprint: str | None) -> str:
    if fingerprint == "mnist":
        return "MNIST"
    return f"{record.get('data')} (sha256 {str(fingerprint)[:12]})"
