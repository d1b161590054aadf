import sqlite3
from datetime import date

import pytest

from analytics import db, seed
from analytics.config import SEED_TODAY


@pytest.fixture
def conn() -> sqlite3.Connection:
    """An in-memory database loaded with the demo data set."""
    c = db.connect(":memory:")
    seed.seed(c)
    yield c
    c.close()


@pytest.fixture
def as_of() -> date:
    return SEED_TODAY


@pytest.fixture
def db_file(tmp_path):
    """A database file with the demo data, for the CLI and the API."""
    path = tmp_path / "lumen.db"
    c = db.connect(path)
    seed.seed(c)
    c.close()
    return path
