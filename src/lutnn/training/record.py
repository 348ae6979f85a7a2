"""The run record: ``run.json``, whether ``--resume`` may continue a run, and :func:`load_run`.

A run folder holds:

* ``run.json``: model name, model config, training config, data source, input shape;
* ``checkpoint.pt``: the latest epoch's full state (model, optimizer, schedule, history),
  rewritten atomically after every epoch so ``--resume`` continues after a kill;
* ``model.pt``: the weights with the best validation accuracy (model selection never looks
  at the test set);
* ``metrics.json``: ``val_accuracy``, ``test_accuracy``, ``epochs``, ``seconds``, ``params``...

``lutnn train`` and ``lutnn distill`` both write ``run.json`` and check it on ``--resume``
through :func:`check_resume` (:func:`record_differences` decides and names the fields that
differ), and refuse to start over an earlier run's files with :func:`check_new_run`.  A
resumed run may change one thing: its epochs (:data:`GROWABLE`) may grow, which trains it
longer (:func:`lutnn.training.loop.fit` says how the schedule continues).  Checkpoints carry
:func:`run_identity` (the record without the growable fields), so a checkpoint of another
run (another seed, say) is refused by name, whatever ``run.json`` says.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lutnn import io
from lutnn.errors import LutnnError
from lutnn.models import build_model, config_to_dict, make_config

__all__ = [
    "GROWABLE",
    "RUN_FILES",
    "TrainConfig",
    "check_identity",
    "check_new_run",
    "check_resume",
    "describe_differences",
    "load_run",
    "record_differences",
    "run_identity",
    "run_record",
    "same_record",
]


@dataclass(frozen=True)
class TrainConfig:
    """Optimization settings of one run (the ``train`` section of ``run.json``)."""

    epochs: int = 10  # passes over the training split
    batch_size: int = 128  # samples per step
    lr: float | None = None  # peak Adam learning rate (None: the model family's default)
    weight_decay: float = 0.0  # Adam weight decay
    seed: int = 0  # seeds weight init, wiring and shuffling
    # samples carved from the training set for model selection (None: 10% of the training
    # rows, at most 5000; run.json records the number it came to)
    val_size: int | None = None
    eval_batch_size: int = 1000  # samples per evaluation step
    teacher: str | None = None  # run folder of a teacher whose class scores guide training
    kd_alpha: float = 0.5  # with a teacher: weight of the teacher's soft targets (0..1)
    kd_temperature: float = 2.0  # with a teacher: softmax temperature of both score vectors
    kd_standardize: bool = False  # with a teacher: soft term on standardized scores (kd_loss)
    shift: int = 0  # images: each training image moved by up to +-shift pixels (0: off)
    # learning-rate schedule (lutnn.training.loop.SCHEDULES): "one-cycle", "cosine", or
    # "step" (lr times step_gamma after every step_epochs epochs, DWN's StepLR)
    schedule: str = "one-cycle"
    step_epochs: int = 0  # "step": epochs between two decays
    step_gamma: float = 0.1  # "step": the factor of each decay


#: files that make a folder hold a run (weights or results): refused without resume
RUN_FILES = ("checkpoint.pt", "model.pt", "metrics.json")


def check_new_run(out: Path, resume: bool, files: tuple[str, ...] = RUN_FILES) -> None:
    """Refuse to start a run in ``out`` over an earlier one's weights or results.

    Raises:
        LutnnError: ``out`` holds one of ``files`` and ``resume`` is off.
    """
    if not resume and any((out / name).exists() for name in files):
        raise LutnnError(
            f"{out} already holds a run; pass --resume to continue it or choose another --out"
        )


def run_record(model_name: str, model_cfg, train_cfg: TrainConfig, data: str, dataset,
               test_data: str | None = None) -> dict:
    """``run.json``: model, config, training settings, the data (as given, and its absolute
    path + sha256, so ``sim`` finds the same data), and ``test_data`` / ``test_data_source``
    the same way when a table got its test split from its own file (``--test-data``)."""
    from lutnn.data.datasets import data_source

    record = {
        "model": model_name,
        "config": config_to_dict(model_cfg),
        "train": dataclasses.asdict(train_cfg),
        "data": data,
        "data_source": data_source(data),
        "input_shape": list(dataset.input_shape),
        "num_classes": int(dataset.num_classes),
    }
    if test_data is not None:
        record.update(test_data=str(test_data), test_data_source=data_source(test_data))
    return record


#: the (section, field)s of run.json a ``--resume`` may change, by growing only: the epochs
GROWABLE = (("train", "epochs"), ("distill", "finetune_epochs"))


def record_differences(previous: dict, record: dict,
                       defaults: dict[str, dict] | None = None) -> list[tuple[str, Any, Any]]:
    """Where ``previous`` and ``record`` (two run records) differ: ``(field, then, now)``
    with ``field`` dotted (``"train.seed"``, ``"config.layers"``, ``"data_source"``).

    Fields either record lacks count (a run trained with ``--label`` or ``--test-data``,
    resumed without), except that a record from before ``data_source`` was recorded is
    compared without it, and config or training fields added since count as their defaults
    (so do the fields of ``defaults``' sections, e.g. ``{"distill": ...}``).
    """
    if previous.get("model") != record.get("model"):
        return [("model", previous.get("model"), record.get("model"))]
    defaults = {"config": config_to_dict(make_config(record["model"], None)),
                "train": dataclasses.asdict(TrainConfig()), **(defaults or {})}

    def filled(key: str, value):
        return {**defaults[key], **value} if key in defaults and isinstance(value, dict) else value

    out = []
    for key in {**previous, **record}:  # a field only one of them has differs too
        if key == "data_source" and "data_source" not in previous:
            continue
        then, now = filled(key, previous.get(key)), filled(key, record.get(key))
        if isinstance(then, dict) and isinstance(now, dict):
            out += [(f"{key}.{k}", then.get(k), now.get(k)) for k in {**then, **now}
                    if then.get(k) != now.get(k)]
        elif then != now:
            out.append((key, then, now))
    return out


def same_record(previous: dict, record: dict) -> bool:
    """Whether ``--resume`` may continue the run of ``previous`` with ``record``'s settings
    unchanged (:func:`record_differences` finds none)."""
    return not record_differences(previous, record)


def _field_name(field: str) -> str:
    """A record field as the user knows it: its flag (``train.batch_size`` is
    ``--batch-size``), ``config layers``, ``the data's content (sha256)``..."""
    section, _, name = field.partition(".")
    if section in ("train", "distill") and name:
        return "--" + name.replace("_", "-")
    if section == "config" and name:
        return f"config {name}"
    return {"data": "--data", "data_source": "the data's content (sha256)",
            "test_data": "--test-data", "test_data_source": "the test data's content (sha256)",
            "teacher_sha256": "the teacher's weights (sha256)",
            "teacher": "--teacher"}.get(field, field)


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    if isinstance(value, dict) and "sha256" in value:
        text = str(value["sha256"])[:12]
    elif isinstance(value, str) and len(value) == 64:
        text = value[:12]  # a fingerprint
    return text if len(text) <= 40 else text[:37] + "..."


def describe_differences(differences: list[tuple[str, Any, Any]]) -> str:
    """``--seed 0 then, 1 now; config layers [30, 30] then, [60, 30] now``."""
    return "; ".join(f"{_field_name(f)} {_short(a)} then, {_short(b)} now"
                     for f, a, b in differences)


def run_identity(record: dict) -> dict:
    """What a checkpoint records of its run: the run record without the :data:`GROWABLE`
    fields, as JSON values (lists, not tuples)."""
    identity = json.loads(json.dumps(record))
    for section, field in GROWABLE:
        if isinstance(identity.get(section), dict):
            identity[section].pop(field, None)
    return identity


def _with_content_teacher(previous: dict, record: dict) -> dict:
    """``previous`` with its ``teacher_sha256`` taken as ``record``'s when it is the older
    kind of fingerprint (the SHA-256 of the teacher's ``model.pt`` file) of the same, still
    unchanged file."""
    from lutnn.runfolder import same_weights

    old, new = previous.get("teacher_sha256"), record.get("teacher_sha256")
    teacher = record.get("train", {}).get("teacher")
    if old is None or old == new or new is None or teacher is None:
        return previous
    if same_weights(old, Path(teacher) / "model.pt", new):
        return {**previous, "teacher_sha256": new}
    return previous


def check_identity(checkpoint: Path, written: Any, identity: dict | None) -> None:
    """Refuse a checkpoint whose recorded run identity (``written``) differs from
    ``identity`` (:func:`run_identity` of this run's record), naming the fields; a
    checkpoint recording none (from an older lutnn) is trusted.

    Raises:
        LutnnError: the checkpoint was written by another run (another seed, say).
    """
    if identity is None or written is None:
        return
    differences = (record_differences(written, identity) if isinstance(written, dict)
                   else [("identity", written, "a run record")])
    if differences:
        raise LutnnError(
            f"checkpoint {checkpoint} was written by another run "
            f"({describe_differences(differences)}), not by the run {checkpoint.parent} "
            "records; put this run's checkpoint back, or start a new --out without --resume"
        )


def check_resume(out: Path, record: dict, resume: bool, what: str = "model",
                 defaults: dict[str, dict] | None = None) -> None:
    """With ``resume``, refuse to continue the run in ``out`` unless its ``run.json`` was
    written for the same settings as ``record``, up to :data:`GROWABLE` fields that grew.

    Args:
        what: what the run was made from, named in the message (``"model"``, ``"teacher"``).
        defaults: more sections whose fields added since count as these defaults.

    Raises:
        LutnnError: ``out/run.json`` is not a dict or was written for other settings (named:
            ``--seed 0 then, 1 now``), or with more epochs than ``record`` asks for.
    """
    if not (resume and (out / "run.json").exists()):
        return
    previous = io.read_json(out / "run.json", "run record")
    if not isinstance(previous, dict):
        raise LutnnError(f"--resume: {out}/run.json was written for another {what}, config or "
                         f"data (it holds no run record); choose another --out")
    differences = record_differences(_with_content_teacher(previous, record), record, defaults)
    grown = {f"{section}.{field}" for section, field in GROWABLE}
    blocking = [(f, a, b) for f, a, b in differences
                if f not in grown or not (isinstance(a, int) and isinstance(b, int) and b > a)]
    if blocking:
        shrunk = any(f in grown for f, _, _ in blocking)
        raise LutnnError(
            f"--resume: {out}/run.json was written for another {what}, config or data: "
            f"{describe_differences(blocking)}; resume with the run's settings"
            f"{' (its epochs may grow, not shrink)' if shrunk else ' (more epochs are fine)'}"
            " or choose another --out"
        )


def load_run(run_dir: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a run folder's model with its best weights, in eval mode; returns (model, record)."""
    run_dir = Path(run_dir)
    record = io.read_json(run_dir / "run.json", "run record")
    try:
        name = record["model"]
        cfg = make_config(name, record["config"])
        shape = tuple(record["input_shape"])
        num_classes = int(record["num_classes"])
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise LutnnError(
            f"{run_dir}/run.json is malformed ({type(exc).__name__}: {exc}); retrain the run"
        ) from None
    if len(shape) not in (1, 3) or not all(isinstance(v, int) and v > 0 for v in shape):
        raise LutnnError(f"{run_dir}/run.json: input_shape must be [C, H, W] or [F] positive ints, "
                         f"got {list(shape)}; was it edited? retrain the run")
    model = build_model(name, cfg, shape, num_classes)
    state = io.load_checkpoint(run_dir / "model.pt")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise LutnnError(
            f"{run_dir}/model.pt does not match the model in run.json ({str(exc).splitlines()[0]})"
        ) from None
    try:  # one image through: weights that do not fit input_shape (an edited run.json)
        with torch.no_grad():
            model.eval()(torch.zeros(1, *shape))
    except (RuntimeError, IndexError, ValueError) as exc:
        raise LutnnError(
            f"{run_dir}/model.pt does not fit run.json's input_shape {list(shape)} "
            f"({type(exc).__name__}); was run.json edited? retrain the run"
        ) from None
    return model.eval(), record
