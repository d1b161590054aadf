"""Disable two-factor authentication: POST /account/2fa/disable."""

from _support import _settings, alice, audited, bob, db, error, login, outbox


def test_disable_2fa(db, alice, bob):
    r = alice.post("/account/2fa/disable")
    assert r.status == 200 and r.json == {"two_factor_enabled": False}
    assert tuple(db.execute("SELECT totp_enabled, totp_secret FROM users WHERE id = 1").fetchone()) == (0, None)
    assert alice.get("/account/profile").json["two_factor_enabled"] is False
    assert error(alice.post("/account/2fa/disable")) == (409, "two_factor_not_enabled")
    assert error(bob.post("/account/2fa/disable")) == (409, "two_factor_not_enabled")
    assert outbox(db, "alice@acme.example") and audited(db)
