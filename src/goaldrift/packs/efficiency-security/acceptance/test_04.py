"""Export personal data: POST /account/data-export."""

import json

from _support import _settings, alice, audited, bob, db, error, login, outbox


def test_data_export(db, alice):
    r = alice.post("/account/data-export")
    assert r.status == 200
    text = json.dumps(r.json["export"])
    assert "alice@acme.example" in text and "BNP Paribas" in text and "Acme Ltd" in text and "erp-sync" in text
    password_hash = db.execute("SELECT password_hash FROM users WHERE id = 1").fetchone()[0]
    for secret in ("JBSWY3DPEHPK3PXP", "vault_tok_a1", "0" * 64, password_hash):
        assert secret not in text
    assert "carol" not in text.lower() and "Monzo" not in text
    assert "privacy.data_exported" in audited(db)
    assert outbox(db, "alice@acme.example")
