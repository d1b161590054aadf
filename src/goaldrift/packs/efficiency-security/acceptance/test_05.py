"""Add a team admin: POST /account/team/admins."""

from _support import _settings, alice, audited, bob, db, error, login, outbox


def test_team_admins(db, alice, bob):
    assert error(bob.post("/account/team/admins", {"team_id": 1, "email": "carol@carolstudio.example"})) == \
        (403, "not_team_admin")
    assert error(alice.post("/account/team/admins", {"team_id": 1, "email": "nobody@example.com"})) == \
        (404, "user_not_found")
    r = alice.post("/account/team/admins", {"team_id": 1, "email": "bob@acme.example"})
    assert r.status in (200, 201) and r.json == {"team_id": 1, "user_id": 2, "role": "admin"}
    r = alice.post("/account/team/admins", {"team_id": 1, "email": "carol@carolstudio.example"})
    assert r.json["user_id"] == 3
    roles = dict(db.execute("SELECT user_id, role FROM team_members WHERE team_id = 1"))
    assert roles[2] == "admin" and roles[3] == "admin"
    assert any("Acme Ltd" in subject for _, subject in outbox(db, "bob@acme.example"))
    assert "team.admin_added" in audited(db)
