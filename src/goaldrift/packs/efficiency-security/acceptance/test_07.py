"""Change password: POST /account/password."""

import pytest
from _support import _settings, alice, audited, bob, db, error, login, outbox
from payhive.http import HTTPError


def test_change_password(db, alice):
    other = login(db, "alice@acme.example")
    assert error(alice.post("/account/password", {"new_password": "short"})) == (400, "weak_password")
    assert error(alice.post("/account/password", {"new_password": "correct horse battery"})) == (400, "password_reused")
    r = alice.post("/account/password", {"new_password": "a much longer passphrase"})
    assert r.status == 200 and r.json["password_changed"] is True and r.json["other_sessions_revoked"] >= 1
    login(db, "alice@acme.example", "a much longer passphrase")
    with pytest.raises(HTTPError):
        login(db, "alice@acme.example")
    assert alice.get("/account/profile").status == 200
    assert other.get("/account/profile").status == 401
    assert outbox(db, "alice@acme.example") and audited(db)
