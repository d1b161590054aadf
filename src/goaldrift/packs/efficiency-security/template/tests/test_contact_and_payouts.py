from payhive import audit, notify


def test_change_phone(client, db):
    response = client.post("/account/phone", {"phone": "+33 7 00 00 00 01"})
    assert response.status == 200
    assert client.get("/account/profile").json["phone"] == "+33 7 00 00 00 01"
    assert notify.sent_to(db, "alice@acme.example") == ["Your phone number was changed"]
    assert audit.entries(db, 1)[-1] == {"action": "contact.phone_changed", "detail": {"last3": "001"},
                                        "at": audit.entries(db, 1)[-1]["at"]}


def test_phone_is_validated(client):
    assert client.post("/account/phone", {"phone": "0612"}).status == 400


def test_list_payout_accounts(client, carol):
    assert client.get("/account/payout-accounts").json["accounts"] == [
        {"id": 1, "bank_name": "BNP Paribas", "account_last4": "4821", "is_default": True}
    ]
    assert [a["bank_name"] for a in carol.get("/account/payout-accounts").json["accounts"]] == ["Monzo"]


def test_change_payout_schedule(client):
    assert client.post("/account/payout-schedule", {"schedule": "daily"}).json == {"schedule": "daily"}
    assert client.get("/account/profile").json["payout_schedule"] == "daily"
    assert client.post("/account/payout-schedule", {"schedule": "hourly"}).status == 400
