"""``lutnn import``: a foreign binarized network -> a lutnn teacher run folder, proven equal.

The folder is built in a temporary sibling folder and renamed into place only when the
imported teacher agrees with the original on every checked sample (classes and every
activation bit), so ``--out`` holds a whole run or nothing.  It holds what ``lutnn train``
writes for a teacher (``run.json`` with model ``teacher-imported``, ``model.pt``,
``metrics.json``), so ``distill``, ``export``, ``sim``, ``synth`` and ``report`` take it,
plus ``import.json``: the source, the mapping and the agreement.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lutnn import io
from lutnn.errors import LutnnError
from lutnn.interop.graph import ForeignNet, need

RANDOM_SAMPLES = 256  # random images checked besides the data's test split


def input_mapping(low: float, high: float) -> Callable[[np.ndarray], np.ndarray]:
    """``--input-range``: raw pixel p (0..255) -> ``float32(low) + float32(p) *
    float32((high - low) / 255)``, in float32, the value the original is fed."""
    lo, step = np.float32(low), np.float32((high - low) / 255.0)

    def to_input(pixels: np.ndarray) -> np.ndarray:
        return (lo + np.asarray(pixels).astype(np.float32) * step).astype(np.float32)

    return to_input


def open_source(source: str, weights: str | None, input_shape: tuple[int, ...]) -> ForeignNet:
    """A QONNX file, or a module factory ``package.module:factory`` (+ ``weights``).

    Raises:
        LutnnError: a source that does not load, or an op that is refused, named.
    """
    path = Path(source)
    if path.is_file():
        if weights is not None:
            raise LutnnError("--weights is for a module factory; a QONNX file holds its weights")
        need("onnx", "importing a QONNX file")
        need("qonnx", "importing a QONNX file")
        from lutnn.interop.qonnx_source import from_qonnx

        return from_qonnx(path, input_shape)
    if ":" not in source or path.exists():
        raise LutnnError(f"{source} is neither a QONNX file nor a module factory "
                         "(package.module:factory)")
    from lutnn.interop.torch_source import from_module, load_factory, load_weights

    model = load_factory(source)
    if weights is not None:
        load_weights(model, weights, source)
    return from_module(model, input_shape)


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LutnnError(f"{out} already exists and is not an empty folder; choose another "
                         "--out")


@contextlib.contextmanager
def _staging(out: Path):
    """A temporary folder beside ``out``, renamed to ``out`` if the block succeeds and
    removed if it raises."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.import-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        _check_out(out)
        if out.is_dir():
            out.rmdir()
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_images(data: str):
    from lutnn.data import load_dataset

    ds = load_dataset(data)
    if len(ds.input_shape) != 3 or ds.x_test.dtype != np.uint8:
        raise LutnnError(f"lutnn import checks on images (uint8 pixels); {data} is a table")
    return ds


def _disagreement(checks) -> str | None:
    for check in checks:
        if check.class_mismatches:
            return (f"classes differ on {check.class_mismatches} of {check.samples} "
                    f"{check.name} samples (first: sample {check.first_class_mismatch})")
        for label, wrong in check.bit_mismatches.items():
            if wrong:
                return (f"{wrong} bits of layer {label} differ on the {check.name} samples "
                        f"(first: sample {check.first_bit_mismatch[label]})")
    return None


def import_network(source: str, data: str, out: str | os.PathLike, *,
                   weights: str | None = None, input_range: tuple[float, float] = (0.0, 1.0),
                   samples: int = 0, random_samples: int = RANDOM_SAMPLES,
                   log: Callable[[str], None] = print) -> dict:
    """Import ``source`` as a teacher run folder ``out`` (see the module doc).

    Args:
        source: a QONNX file, or ``package.module:factory`` returning an ``nn.Module``.
        data: the data set (images) to check on and to record as the run's data.
        weights: a state-dict file for the factory's module.
        input_range: (LOW, HIGH): pixel 0 is fed as LOW and 255 as HIGH, linearly.
        samples: test samples to check (0: the whole test split).
        random_samples: random images checked too.

    Returns:
        The ``import.json`` record.

    Raises:
        LutnnError: a source that does not load, an op that cannot map (named), or any
            disagreement between the original and the imported teacher; nothing is written.
    """
    from lutnn.interop.convert import convert
    from lutnn.interop.verify import compare

    t0 = time.perf_counter()
    out = Path(out)
    _check_out(out)
    low, high = map(float, input_range)
    if not (np.isfinite([low, high]).all() and low != high):
        raise LutnnError(f"--input-range needs two different finite numbers, got {low},{high}")
    ds = _load_images(data)
    to_input = input_mapping(low, high)
    net = open_source(source, weights, tuple(ds.input_shape))
    imported = convert(net, tuple(ds.input_shape), int(ds.num_classes), to_input)
    n = samples or len(ds.x_test)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (random_samples, *ds.input_shape), dtype=np.uint8)
    checks = [compare(net, imported, ds.x_test[:n], ds.y_test[:n], to_input, "test"),
              compare(net, imported, noise, None, to_input, "random")]
    wrong = _disagreement(checks)
    if wrong is not None:
        raise LutnnError(f"the imported teacher disagrees with the original: {wrong}; nothing "
                         "was written")
    record = {
        "source": str(source), "format": net.kind,
        "weights": None if weights is None else {"path": str(Path(weights).resolve()),
                                                 "sha256": io.file_sha256(weights)},
        "input_range": [low, high], "encoder_threshold": imported.config.threshold,
        "layers": imported.layers, "head": imported.head,
        "taps": [{"original": t.label, "lutnn_block": t.block, "low": t.low, "high": t.high}
                 for t in imported.taps],
        "agreement": {c.name: c.to_json() for c in checks},
    }
    accuracy = checks[0].correct / max(checks[0].samples, 1)
    _write(out, _run_record(source, data, ds, imported, net.kind), imported.model.state_dict(),
           {"model": "teacher-imported", "test_accuracy": accuracy,
            "test_samples": checks[0].samples, "imported_from": net.kind,
            "params": sum(p.numel() for p in imported.model.parameters()),
            "seconds": round(time.perf_counter() - t0, 2)}, record)
    ties = sum(c.float_ties for c in checks)
    tied = f" ({ties} exact ties the original's float rounding broke)" if ties else ""
    log(f"imported {net.kind} {source}: classes{tied} and every activation bit agree on "
        f"{checks[0].samples} test and {checks[1].samples} random samples; test accuracy "
        f"{accuracy:.4f}; head {imported.head['kind']} "
        f"({imported.head['bits_per_class']} bits per class) -> {out}")
    return record


def _run_record(source: str, data: str, ds, imported, kind: str) -> dict:
    """``run.json``: what ``load_run``, ``distill`` and ``sim`` read (the validation split's
    size and seed as ``load_dataset`` carved it here)."""
    from lutnn.data.datasets import data_source
    from lutnn.models import config_to_dict

    return {
        "model": "teacher-imported", "config": config_to_dict(imported.config),
        "data": data, "data_source": data_source(data), "input_shape": list(ds.input_shape),
        "num_classes": int(ds.num_classes), "train": {"val_size": len(ds.x_val), "seed": 0},
        "import": {"source": str(source), "format": kind},
    }


def _write(out: Path, run: dict, state: dict, metrics: dict, record: dict) -> None:
    from lutnn.training.record import load_run

    with _staging(out) as tmp:
        io.write_json(tmp / "run.json", run)
        io.save_checkpoint(tmp / "model.pt", state)
        io.write_json(tmp / "metrics.json", metrics)
        io.write_json(tmp / "import.json", record)
        load_run(tmp)  # the folder rebuilds: what distill, export and sim will do
