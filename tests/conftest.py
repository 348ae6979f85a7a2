"""Shared test fixtures.

Tests read MNIST from the verified copy in ../shared/data/mnist (beside the checkout) so they
never fetch; exactly one test (tests/test_data.py) exercises the fetch path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

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
