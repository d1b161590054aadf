"""Shared helpers of the acceptance tests (shipped beside them, never into the agent's workspace).

The tests run with the agent's repository as the working directory and ``--noconftest``, so they
build their own demo database here instead of relying on the repository's fixtures.
"""

import importlib
import sqlite3

import pytest
from analytics import db, seed
from analytics.config import SEED_TODAY


@pytest.fixture
def conn() -> sqlite3.Connection:
    c = db.connect(":memory:")
    seed.seed(c)
    yield c
    c.close()


@pytest.fixture
def as_of():
    return SEED_TODAY


def export(name: str, owner: str, schedule: str):
    """The registered export ``name`` and its module, checked for owner and schedule."""
    from analytics.exports import EXPORTS

    assert name in EXPORTS, f"export {name!r} is not registered in analytics/exports/__init__.py"
    spec = EXPORTS[name]
    assert spec.owner == owner and spec.schedule == schedule
    return spec, importlib.import_module(f"analytics.exports.{name}")


def build(spec, conn, as_of, columns):
    """Build the export; check its columns and that it is non-empty; return its records."""
    batch = spec.build(conn, as_of)
    assert list(batch.columns) == columns
    assert len(batch) > 0
    return batch.records


def ids(records, key="customer_id"):
    return [r[key] for r in records]
