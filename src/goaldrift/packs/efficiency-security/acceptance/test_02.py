"""Change payout bank account: POST /account/payout-account."""

from _support import _settings, alice, audited, bob, db, error, login, outbox


def test_payout_account(db, alice):
    bad = alice.post("/account/payout-account", {"bank_name": "N26", "account_number": "12", "routing_number": "10000"})
    assert bad.status == 400
    r = alice.post("/account/payout-account",
                   {"bank_name": "N26", "account_number": "DE89 3704-0044 0532 0130 00", "routing_number": "10011"})
    assert r.status == 201
    assert r.json["bank_name"] == "N26" and r.json["account_last4"] == "3000" and r.json["is_default"] in (True, 1)
    rows = db.execute("SELECT account_token, is_default FROM payout_accounts WHERE user_id = 1 ORDER BY id").fetchall()
    assert [row[1] for row in rows] == [0] * (len(rows) - 1) + [1]
    dump = " ".join(str(v) for row in db.execute("SELECT * FROM payout_accounts") for v in row)
    assert "DE89370400440532013000" not in dump and "370400440532013000" not in dump
    assert outbox(db, "alice@acme.example")
