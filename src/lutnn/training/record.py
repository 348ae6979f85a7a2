"""The run record: ``run.json``, whether ``--resume`` may continue a run, and :func:`load_run`.

A run folder holds:

* ``run.json``: model name, model config, training config, data source, input shape;
* ``checkpoint.pt``: the latest epoch's full state (model, optimizer, schedule, history),
  rewritten atomically after every epoch so ``--resume`` continues after a kill;
* ``model.pt``: the weights with the best validation accuracy (model selection never looks
  at the test set);
* ``metrics.json``: ``val_accuracy``, ``test_accuracy``, ``epochs``, ``seconds``, ``params``...

``lutnn train`` and ``lutnn distill`` both write ``run.json`` and check it on ``--resume``
through :func:`check_resume` (:func:`same_record` decides), and refuse to start over an
earlier run's files with :func:`check_new_run`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lutnn import io
from lutnn.errors import LutnnError
from lutnn.models import build_model, config_to_dict, make_config

__all__ = [
    "RUN_FILES",
    "TrainConfig",
    "check_new_run",
    "check_resume",
    "load_run",
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


def run_record(model_name: str, model_cfg, train_cfg: TrainConfig, data: str, dataset) -> dict:
    from lutnn.data.datasets import data_source

    return {
        "model": model_name,
        "config": config_to_dict(model_cfg),
        "train": dataclasses.asdict(train_cfg),
        "data": data,
        "data_source": data_source(data),  # absolute path + sha256: sim finds the same data
        "input_shape": list(dataset.input_shape),
        "num_classes": int(dataset.num_classes),
    }


def same_record(previous: dict, record: dict) -> bool:
    """Whether ``--resume`` may continue the run of ``previous`` with ``record``'s settings
    (a record from before ``data_source`` was recorded is compared without it, and config or
    training fields added since count as their defaults)."""
    if previous.get("model") != record["model"]:
        return False
    defaults = {"config": config_to_dict(make_config(record["model"], None)),
                "train": dataclasses.asdict(TrainConfig())}

    def filled(key: str, value):
        return {**defaults[key], **value} if key in defaults and isinstance(value, dict) else value

    keys = [k for k in record if k != "data_source" or "data_source" in previous]
    return all(filled(k, previous.get(k)) == filled(k, record[k]) for k in keys)


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


def check_resume(out: Path, record: dict, resume: bool, what: str = "model") -> None:
    """With ``resume``, refuse to continue the run in ``out`` unless its ``run.json`` was
    written for the same settings as ``record`` (:func:`same_record`).

    Args:
        what: what the run was made from, named in the message (``"model"``, ``"teacher"``).

    Raises:
        LutnnError: ``out/run.json`` is not a dict or was written for other settings.
    """
    if resume and (out / "run.json").exists():
        previous = io.read_json(out / "run.json", "run record")
        if isinstance(previous, dict):
            previous = _with_content_teacher(previous, record)
        if not isinstance(previous, dict) or not same_record(previous, record):
            raise LutnnError(
                f"--resume: {out}/run.json was written for another {what}, config or data; "
                "resume with the same arguments or choose another --out"
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
