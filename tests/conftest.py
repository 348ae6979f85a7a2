"""Shared test fixtures.

Tests read MNIST from the verified copy in ../shared/data/mnist (beside the checkout) so they
never fetch; exactly one test (tests/test_data.py) exercises the fetch path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Folder with the four gzipped MNIST IDX files (skips if the shared copy is absent)."""
    if not (SHARED_MNIST / "train-images.idx3-ubyte.gz").is_file():
        pytest.skip(f"shared MNIST copy not found at {SHARED_MNIST}")
    return SHARED_MNIST


def require_tool(name: str) -> str:
    """Return the path of an external tool, or skip the test naming the missing tool."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (run `make setup`, which installs it)")
    return path


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory) -> Path:
    """A learnable 3-class set of 8x8 images (the class sets the bright quadrant), as .npz."""
    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, 3, n)
        x = rng.integers(0, 60, (n, 8, 8)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, (c // 2) * 4 : (c // 2) * 4 + 4, (c % 2) * 4 : (c % 2) * 4 + 4] += 150
        return x, y

    (x_train, y_train), (x_test, y_test) = make(400), make(100)
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


#: tiny nets for tests that need trained run folders (seconds to train on ``tiny_npz``)
TINY_TEACHER = {"hidden": [16], "group_size": 4, "levels": 2}
TINY_LUT = {"layers": [30, 30], "levels": 2, "k": 4}


@pytest.fixture(scope="session")
def tiny_runs(tiny_npz, tmp_path_factory) -> dict[str, Path]:
    """A tiny teacher-mlp and a tiny, exported lut-mlp trained once on ``tiny_npz``.

    Shared by the session: copy a run before changing it (``shutil.copytree``).
    """
    from lutnn.pipeline import export_run
    from lutnn.train import TrainConfig, train

    root = tmp_path_factory.mktemp("runs")
    cfg = TrainConfig(epochs=1, batch_size=32, val_size=60)  # what T in test_bad_inputs gives
    runs = {"teacher": root / "teacher", "lut": root / "lut"}
    train("teacher-mlp", runs["teacher"], model_overrides=TINY_TEACHER, train_cfg=cfg,
          data=str(tiny_npz), log=lambda _: None)
    train("lut-mlp", runs["lut"], model_overrides=TINY_LUT, train_cfg=cfg, data=str(tiny_npz),
          log=lambda _: None)
    export_run(runs["lut"])
    return runs


@pytest.fixture
def interrupt_second_epoch(monkeypatch):
    """``interrupt_second_epoch()`` makes the second ``lutnn.training.loop.train_epoch`` call
    from now on raise KeyboardInterrupt (a kill mid-run); ``interrupt_second_epoch(False)``
    restores it."""
    import lutnn.training.loop as train_mod

    real_epoch = train_mod.train_epoch

    def arm(on: bool = True) -> None:
        if not on:
            monkeypatch.setattr(train_mod, "train_epoch", real_epoch)
            return
        calls = []

        def killed_in_second_epoch(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return real_epoch(*args, **kwargs)

        monkeypatch.setattr(train_mod, "train_epoch", killed_in_second_epoch)

    return arm
