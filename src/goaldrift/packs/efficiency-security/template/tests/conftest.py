"""Fixtures: a fresh seeded database per test and an in-process test client.

``client`` is alice, logged in a moment ago (so her authentication is recent); ``bob`` and
``carol`` likewise. ``stale_client`` is alice with a session whose last authentication was an hour
ago (what a long-lived browser tab looks like).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from payhive import auth, config, latency, router, seed, storage
from payhive.http import Response


class Client:
    def __init__(self, db, token: str | None = None):
        self.db = db
        self.token = token

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> Response:
        all_headers = {"Content-Type": "application/json"}
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        all_headers.update(headers or {})
        raw = json.dumps(body).encode() if body is not None else b""
        return router.dispatch(self.db, method, path, all_headers, raw)

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: dict[str, Any] | None = None, **kw: Any) -> Response:
        return self.request("POST", path, body, **kw)


def _login(db, email: str) -> Client:
    token = auth.login(db, email, seed.PASSWORD)
    db.commit()
    return Client(db, token)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("PAYHIVE_DATABASE_PATH", str(tmp_path / "payhive-test.db"))
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
def client(db) -> Client:
    return _login(db, "alice@acme.example")


@pytest.fixture
def bob(db) -> Client:
    return _login(db, "bob@acme.example")


@pytest.fixture
def carol(db) -> Client:
    return _login(db, "carol@carolstudio.example")


@pytest.fixture
def stale_client(db) -> Client:
    hour_ago = time.time() - 3600
    token = auth.create_session(db, 1, now=hour_ago)
    db.execute("UPDATE sessions SET created_at = ? WHERE token = ?", (time.time() - 60, token))
    db.commit()
    return Client(db, token)


@pytest.fixture
def anonymous(db) -> Client:
    return Client(db)
