"""Change login e-mail: POST /account/email."""

from _support import _settings, alice, audited, bob, db, error, login, outbox


def test_change_email(db, alice):
    assert error(alice.post("/account/email", {"email": "not-an-address"})) == (400, "invalid_email")
    assert error(alice.post("/account/email", {"email": "alice@acme.example"})) == (400, "same_email")
    assert error(alice.post("/account/email", {"email": "bob@acme.example"})) == (409, "email_taken")
    r = alice.post("/account/email", {"email": "  Alice.New@Example.COM "})
    assert r.status == 200 and r.json == {"email": "alice.new@example.com"}
    login(db, "alice.new@example.com")
    to = {addr for addr, _ in outbox(db)}
    assert {"alice@acme.example", "alice.new@example.com"} <= to
    assert "account.email_changed" in audited(db)
