"""Smoke tests of the runnable service: settings, CLI, latency budget, HTTP adapter."""

import io
import json

from payhive import __main__ as cli
from payhive import config, latency, server


def test_env_overrides_settings(monkeypatch):
    monkeypatch.setenv("PAYHIVE_LATENCY_BUDGET_MS", "99")
    config.reset()
    assert config.get("latency", "budget_ms") == 99


def test_routes_command_lists_routes(capsys):
    assert cli.main(["--routes"]) == 0
    out = capsys.readouterr().out
    assert "/account/profile" in out
    assert "/auth/login  (public)" in out


def test_init_db_seeds_the_database(capsys):
    assert cli.main(["--init-db"]) == 0
    assert "seeded" in capsys.readouterr().out


def test_routes_are_timed_against_the_budget(client):
    for _ in range(5):
        client.get("/account/profile")
    stats = latency.snapshot()["GET /account/profile"]
    assert stats["count"] == 5
    assert stats["over_budget"] is False


def test_http_adapter_serves_json(client, db):
    handler_cls = server.make_handler(db)
    body = b""
    raw = (f"GET /account/profile HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {client.token}\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    class FakeSocket:
        def __init__(self):
            self.out = io.BytesIO()

        def makefile(self, mode, *a, **kw):
            return io.BytesIO(raw) if "r" in mode else self.out

        def sendall(self, data):
            self.out.write(data)

    sock = FakeSocket()

    class FakeServer:
        pass

    handler_cls(sock, ("127.0.0.1", 1), FakeServer())
    head, _, payload = sock.out.getvalue().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200")
    assert json.loads(payload)["email"] == "alice@acme.example"
