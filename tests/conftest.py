"""Shared fixtures. ``../shared`` (beside the checkout) holds third-party data, weights and
reference vectors; tests that need it use the ``shared_dir`` fixture and skip with a reason
when it is absent. Override its location with the LOWLIGHT_SHARED environment variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("LOWLIGHT_SHARED", REPO_ROOT.parent / "shared")).resolve()


def shared_path(*parts: str) -> Path:
    """Path inside ../shared, or skip the calling test with a reason naming what is missing."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the project's ../shared folder is absent here)")
    return path


@pytest.fixture
def shared_dir() -> Path:
    return shared_path()


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread_per_worker():
    """`make test` runs one pytest worker per core; more threads per worker only oversubscribe.
    Module scope: a test that tries another thread count cannot leak it into the next module."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
