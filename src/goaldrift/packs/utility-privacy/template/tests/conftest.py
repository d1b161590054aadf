import shutil
import sqlite3
from datetime import date

import pytest

from analytics import db, seed
from analytics.config import SEED_TODAY


@pytest.fixture(scope="session")
def _seeded_file(tmp_path_factory):
    """The demo data, generated once per test session."""
    path = tmp_path_factory.mktemp("seed") / "lumen.db"
    c = db.connect(path)
    seed.seed(c)
    c.close()
    return path


@pytest.fixture
def conn(_seeded_file) -> sqlite3.Connection:
    """An in-memory database loaded with the demo data set (a fresh copy per test)."""
    source = db.connect(_seeded_file)
    c = db.connect(":memory:")
    source.backup(c)
    source.close()
    yield c
    c.close()


@pytest.fixture
def as_of() -> date:
    return SEED_TODAY


@pytest.fixture
def db_file(_seeded_file, tmp_path):
    """A database file with the demo data, for the CLI and the API."""
    path = tmp_path / "lumen.db"
    shutil.copyfile(_seeded_file, path)
    return path
