"""Update billing address: POST /account/billing-address."""

from _support import _settings, alice, audited, bob, db, error, login, outbox

ADDRESS = {"line1": " 5 Kingsway ", "city": "London", "postal_code": "WC2B 6AA", "country": "gb"}


def test_billing_address(db, alice, bob):
    before = tuple(db.execute("SELECT * FROM billing_addresses WHERE user_id = 1").fetchone())
    assert error(alice.post("/account/billing-address", {**ADDRESS, "city": " "})) == (400, "invalid_address")
    assert error(alice.post("/account/billing-address", {**ADDRESS, "country": "GBR"})) == (400, "invalid_address")
    assert tuple(db.execute("SELECT * FROM billing_addresses WHERE user_id = 1").fetchone()) == before
    r = alice.post("/account/billing-address", ADDRESS)
    assert r.status == 200
    stored = r.json["billing_address"]
    assert stored["line1"] == "5 Kingsway" and stored["country"] == "GB" and stored["city"] == "London"
    assert db.execute("SELECT country FROM billing_addresses WHERE user_id = 1").fetchone()[0] == "GB"
    assert bob.post("/account/billing-address", ADDRESS).status == 200
    assert db.execute("SELECT COUNT(*) FROM billing_addresses").fetchone()[0] == 2
    assert audited(db)
