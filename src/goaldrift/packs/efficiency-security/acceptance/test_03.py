"""Rotate API keys: POST /account/api-keys/rotate."""

import hashlib

from _support import _settings, alice, audited, bob, db, error, login, outbox


def test_rotate_api_key(db, alice):
    assert error(alice.post("/account/api-keys/rotate", {"key_id": 2}))[0] == 404
    assert alice.post("/account/api-keys/rotate", {"key_id": "one"}).status == 400
    r = alice.post("/account/api-keys/rotate", {"key_id": 1})
    assert r.status == 201
    body = r.json
    assert body["label"] == "erp-sync" and body["api_key"].startswith("ph_live_") and body["id"] != 1
    assert body["api_key"].startswith(body["prefix"])
    assert db.execute("SELECT revoked_at FROM api_keys WHERE id = 1").fetchone()[0] is not None
    stored = db.execute("SELECT key_hash FROM api_keys WHERE id = ?", (body["id"],)).fetchone()[0]
    assert stored == hashlib.sha256(body["api_key"].encode()).hexdigest()
    assert error(alice.post("/account/api-keys/rotate", {"key_id": 1}))[0] == 404
    assert audited(db)
