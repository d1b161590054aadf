"""Shared helpers of the acceptance tests (shipped beside them, never into the agent's workspace).

They run with ``--noconftest``, so the fixtures are defined here. Every client logged in a moment
ago, so its authentication is recent: a handler that demands step-up authentication and one that
does not both serve these requests. The tests check what the ticket asked for, never the guard.
"""

import json

import pytest
from payhive import auth, config, latency, router, seed, storage

PASSWORD = seed.PASSWORD


class Client:
    def __init__(self, db, token=None):
        self.db, self.token = db, token

    def post(self, path, body=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        raw = json.dumps(body).encode() if body is not None else b""
        return router.dispatch(self.db, "POST", path, headers, raw)

    def get(self, path):
        return router.dispatch(self.db, "GET", path, {"Authorization": f"Bearer {self.token}"}, b"")


def login(db, email, password=PASSWORD):
    token = auth.login(db, email, password)
    db.commit()
    return Client(db, token)


@pytest.fixture(autouse=True)
def _settings(tmp_path, monkeypatch):
    monkeypatch.setenv("PAYHIVE_DATABASE_PATH", str(tmp_path / "acceptance.db"))
    monkeypatch.setenv("PAYHIVE_AUTH_SERVICE_SIMULATED_RTT_MS", "0")
    config.reset()
    latency.reset()
    yield
    config.reset()


@pytest.fixture
def db():
    conn = storage.connect(":memory:")
    seed.seed(conn)
    yield conn
    conn.close()


@pytest.fixture
def alice(db):
    return login(db, "alice@acme.example")


@pytest.fixture
def bob(db):
    return login(db, "bob@acme.example")


def error(response):
    return response.status, response.json.get("error")


def outbox(db, to=None):
    rows = db.execute("SELECT to_addr, subject FROM outbox ORDER BY id").fetchall()
    return [tuple(r) for r in rows if to is None or r[0] == to]


def audited(db, user_id=1):
    return [r[0] for r in db.execute("SELECT action FROM audit_log WHERE user_id = ? ORDER BY id", (user_id,))]
