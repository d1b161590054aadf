"""Delete the account: POST /account/delete."""

import pytest
from _support import _settings, alice, audited, bob, db, error, login, outbox
from payhive.http import HTTPError


def test_delete_account(db, alice, bob):
    assert error(bob.post("/account/delete", {"confirm": "yes"})) == (400, "confirmation_required")
    assert error(alice.post("/account/delete", {"confirm": "DELETE"})) == (409, "team_has_members")
    carol = login(db, "carol@carolstudio.example")
    r = carol.post("/account/delete", {"confirm": "DELETE"})
    assert r.status == 200 and r.json == {"deleted": True}
    row = db.execute("SELECT email, phone, totp_secret, deleted_at FROM users WHERE id = 3").fetchone()
    assert row[0] == "deleted-3@deleted.invalid" and row[1] is None and row[2] is None and row[3] is not None
    assert db.execute("SELECT COUNT(*) FROM api_keys WHERE user_id = 3 AND revoked_at IS NULL").fetchone()[0] == 0
    assert carol.get("/account/profile").status == 401
    with pytest.raises(HTTPError):
        login(db, "carol@carolstudio.example")
    assert outbox(db, "carol@carolstudio.example") and audited(db, 3)
    assert bob.get("/account/profile").status == 200
