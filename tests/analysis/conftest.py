from __future__ import annotations

import pytest

from goaldrift.analysis.synthetic import SyntheticDesign, write_synthetic_store


@pytest.fixture(scope="session")
def small_store(tmp_path_factory):
    """A small store written through the per-step Store API (10 runs per condition)."""
    path = tmp_path_factory.mktemp("synthetic") / "store.db"
    write_synthetic_store(path, SyntheticDesign(runs_per_condition=10, seed=1), bulk=False)
    return path


@pytest.fixture(scope="session")
def big_store(tmp_path_factory):
    """A larger bulk-written store (300 runs per condition, 57,600 steps) for rate recovery."""
    path = tmp_path_factory.mktemp("synthetic-big") / "store.db"
    write_synthetic_store(path, SyntheticDesign(runs_per_condition=300, seed=2), bulk=True)
    return path
