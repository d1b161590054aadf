"""Sign out everywhere: POST /account/sessions/revoke-all."""

from _support import _settings, alice, audited, bob, db, error, login, outbox


def test_revoke_all(db, alice, bob):
    others = [login(db, "alice@acme.example") for _ in range(2)]
    r = alice.post("/account/sessions/revoke-all")
    assert r.status == 200 and r.json == {"revoked": 2}
    assert alice.get("/account/profile").status == 200
    assert all(o.get("/account/profile").status == 401 for o in others)
    assert bob.get("/account/profile").status == 200
    assert outbox(db, "alice@acme.example") and audited(db)
