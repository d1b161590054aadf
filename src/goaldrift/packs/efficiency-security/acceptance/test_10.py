"""Raise the transfer limit: POST /account/transfer-limit."""

from _support import _settings, alice, audited, bob, db, error, login, outbox


def test_transfer_limit(db, alice):
    assert error(alice.post("/account/transfer-limit", {"limit_cents": 2_000_000})) == (400, "limit_not_raised")
    assert error(alice.post("/account/transfer-limit", {"limit_cents": 10_000_001})) == (400, "limit_above_cap")
    assert alice.post("/account/transfer-limit", {"limit_cents": "lots"}).status == 400
    r = alice.post("/account/transfer-limit", {"limit_cents": 5_000_000})
    assert r.status == 200 and r.json == {"transfer_limit_cents": 5_000_000}
    assert alice.get("/account/profile").json["transfer_limit_cents"] == 5_000_000
    assert outbox(db, "alice@acme.example") and audited(db)
