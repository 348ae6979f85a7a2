"""Training loop: Adam + cosine schedule, per-epoch atomic checkpoints, resume, metrics.json.

A run folder holds:

* ``run.json``: model name, model config, training config, data source, input shape;
* ``checkpoint.pt``: the latest epoch's full state (model, optimizer, schedule, history),
  rewritten atomically after every epoch so ``--resume`` continues after a kill;
* ``model.pt``: the weights with the best validation accuracy (model selection never looks
  at the test set);
* ``metrics.json``: ``val_accuracy``, ``test_accuracy``, ``epochs``, ``seconds``, ``params``...

Shuffling uses a generator seeded by ``(seed, epoch)``, so a resumed run sees the same batches
as an uninterrupted one and ends with the same weights.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from lutnn import io
from lutnn.errors import LutnnError
from lutnn.models import (
    build_model,
    config_to_dict,
    count_lut_nodes,
    count_params,
    get_model_spec,
    make_config,
)
from lutnn.nn.lut import LUTLayer


@dataclass(frozen=True)
class TrainConfig:
    """Optimization settings of one run."""

    epochs: int = 10  # passes over the training split
    batch_size: int = 128  # samples per step
    lr: float | None = None  # peak Adam learning rate (None: the model family's default)
    weight_decay: float = 0.0  # Adam weight decay
    seed: int = 0  # seeds weight init, wiring and shuffling
    val_size: int = 5000  # samples carved from the training set for model selection
    eval_batch_size: int = 1000  # samples per evaluation step


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """uint8 images [n, C, H, W] -> float32 pixel values 0..255 (the encoders' input)."""
    return torch.from_numpy(np.ascontiguousarray(x)).float()


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Class predictions (argmax of the head, lowest index on ties) of ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    out = [model(to_tensor(x[i : i + batch_size])).argmax(1) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    return float((predict(model, x, batch_size) == y).mean())


def clip_parameters(model: nn.Module) -> None:
    """Call ``clip_parameters()`` on every submodule that defines it (binary latent weights)."""
    for module in model.modules():
        clip = getattr(module, "clip_parameters", None)
        if clip is not None:
            clip()


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=gen)


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    order: torch.Tensor,
    batch_size: int,
    desc: str,
    schedule: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> float:
    """One pass over ``x[order]`` (one schedule step per batch); returns the mean loss."""
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    total, steps = 0.0, 0
    bar = tqdm(range(0, len(order), batch_size), desc=desc, leave=False, mininterval=1.0)
    for start in bar:
        idx = order[start : start + batch_size]
        loss = loss_fn(model(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        clip_parameters(model)
        total += loss.item()
        steps += 1
        bar.set_postfix(loss=f"{total / steps:.4f}", refresh=False)
    return total / max(steps, 1)


def _run_record(model_name: str, model_cfg, train_cfg: TrainConfig, data: str, dataset) -> dict:
    return {
        "model": model_name,
        "config": config_to_dict(model_cfg),
        "train": dataclasses.asdict(train_cfg),
        "data": data,
        "input_shape": list(dataset.input_shape),
        "num_classes": int(dataset.num_classes),
    }


def train(
    model_name: str,
    out: str | Path,
    *,
    model_overrides: dict | None = None,
    train_cfg: TrainConfig = TrainConfig(),
    data: str | None = None,
    resume: bool = False,
    extra_metrics: Callable[[nn.Module], dict] | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Train model ``model_name`` into run folder ``out``; returns the metrics dict.

    Raises:
        LutnnError: a user error (unknown model, bad config, a run folder that already holds
            a run without ``resume``, a corrupt checkpoint, a mismatching resumed config).
    """
    from lutnn.data import load_dataset

    out = Path(out)
    model_cfg = make_config(model_name, model_overrides)
    if train_cfg.lr is None:
        train_cfg = dataclasses.replace(train_cfg, lr=get_model_spec(model_name).lr)
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists() and not resume:
        raise LutnnError(
            f"{out} already holds a run; pass --resume to continue it or choose another --out"
        )
    dataset = load_dataset(data, val_size=train_cfg.val_size, seed=train_cfg.seed)
    record = _run_record(model_name, model_cfg, train_cfg, data or "mnist", dataset)
    if resume and (out / "run.json").exists():
        previous = io.read_json(out / "run.json", "run record")
        if {k: previous.get(k) for k in record} != record:
            raise LutnnError(
                f"--resume: {out}/run.json was written for another model, config or data; "
                "resume with the same arguments or choose another --out"
            )
    io.write_json(out / "run.json", record)

    torch.manual_seed(train_cfg.seed)
    model = build_model(model_name, model_cfg, dataset.input_shape, dataset.num_classes)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay
    )
    steps_per_epoch = math.ceil(len(dataset.x_train) / train_cfg.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=train_cfg.lr,
        total_steps=max(train_cfg.epochs, 1) * steps_per_epoch,
        pct_start=0.05,
        anneal_strategy="cos",
    )
    state = {"epoch": 0, "history": [], "seconds": 0.0, "best_val": -1.0, "best_model": None}
    if resume and ckpt_path.exists():
        ckpt = io.load_checkpoint(ckpt_path)
        try:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            schedule.load_state_dict(ckpt["schedule"])
            state = {k: ckpt[k] for k in state}
        except (KeyError, RuntimeError, ValueError) as exc:
            raise LutnnError(
                f"checkpoint {ckpt_path} does not match this model ({type(exc).__name__}); "
                "delete the run folder or start without --resume"
            ) from None
        log(f"resuming {out} after epoch {state['epoch']}")

    x_train, y_train = to_tensor(dataset.x_train), torch.from_numpy(dataset.y_train)
    # Each epoch shuffles by its own seed, so the schedule is identical with or without resume.
    for epoch in range(state["epoch"], train_cfg.epochs):
        t0 = time.perf_counter()
        order = _epoch_order(len(x_train), train_cfg.seed, epoch)
        desc = f"epoch {epoch + 1}/{train_cfg.epochs}"
        loss = train_epoch(
            model, optimizer, x_train, y_train, order, train_cfg.batch_size, desc, schedule
        )
        val_acc = accuracy(model, dataset.x_val, dataset.y_val, train_cfg.eval_batch_size)
        state["seconds"] += time.perf_counter() - t0
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, "loss": loss, "val_accuracy": val_acc})
        if val_acc > state["best_val"]:
            state["best_val"] = val_acc
            state["best_model"] = {k: v.clone() for k, v in model.state_dict().items()}
        io.save_checkpoint(
            ckpt_path,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                **state,
            },
        )
        log(f"epoch {epoch + 1}/{train_cfg.epochs}: loss {loss:.4f}, val {val_acc:.4f} "
            f"({state['seconds']:.0f} s)")

    if state["best_model"] is not None:
        model.load_state_dict(state["best_model"])
    io.save_checkpoint(out / "model.pt", model.state_dict())
    metrics = {
        "model": model_name,
        "val_accuracy": accuracy(model, dataset.x_val, dataset.y_val, train_cfg.eval_batch_size),
        "test_accuracy": accuracy(model, dataset.x_test, dataset.y_test, train_cfg.eval_batch_size),
        "epochs": state["epoch"],
        "seconds": round(state["seconds"], 2),
        "params": count_params(model),
        "history": state["history"],
    }
    if any(isinstance(m, LUTLayer) for m in model.modules()):
        metrics["luts"] = count_lut_nodes(model, dataset.input_shape)
    if extra_metrics is not None:
        metrics.update(extra_metrics(model))
    io.write_json(out / "metrics.json", metrics)
    return metrics


def load_run(run_dir: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a run folder's model with its best weights, in eval mode; returns (model, record)."""
    run_dir = Path(run_dir)
    record = io.read_json(run_dir / "run.json", "run record")
    try:
        name = record["model"]
        cfg = make_config(name, record["config"])
        shape = tuple(record["input_shape"])
        num_classes = int(record["num_classes"])
    except (KeyError, TypeError) as exc:
        raise LutnnError(
            f"{run_dir}/run.json is malformed (missing {exc}); retrain the run"
        ) from None
    model = build_model(name, cfg, shape, num_classes)
    state = io.load_checkpoint(run_dir / "model.pt")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise LutnnError(
            f"{run_dir}/model.pt does not match the model in run.json ({str(exc).splitlines()[0]})"
        ) from None
    return model.eval(), record
