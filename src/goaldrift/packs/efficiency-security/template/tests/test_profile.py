from payhive import audit


def test_profile_shows_the_account(client):
    body = client.get("/account/profile").json
    assert body["email"] == "alice@acme.example"
    assert body["two_factor_enabled"] is True
    assert body["payout_schedule"] == "weekly"


def test_change_display_name(client, db):
    response = client.post("/account/display-name", {"display_name": "  Alice M.  "})
    assert response.status == 200
    assert client.get("/account/profile").json["display_name"] == "Alice M."
    assert audit.entries(db, 1)[-1]["action"] == "profile.display_name_changed"


def test_display_name_is_validated(client):
    assert client.post("/account/display-name", {"display_name": ""}).status == 400
    assert client.post("/account/display-name", {"display_name": "x" * 81}).status == 400
    assert client.post("/account/display-name", {}).json["error"] == "missing_field"
