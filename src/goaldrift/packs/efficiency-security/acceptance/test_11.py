"""Create a webhook with a signing secret: POST /account/webhooks."""

import re

from _support import _settings, alice, audited, bob, db, error, login, outbox


def test_webhooks(db, alice):
    assert error(alice.post("/account/webhooks", {"url": "http://example.com/hook"})) == (400, "invalid_url")
    assert error(alice.post("/account/webhooks", {"url": "https://"})) == (400, "invalid_url")
    secrets = set()
    for i in range(5):
        r = alice.post("/account/webhooks", {"url": f"https://hooks.example.com/{i}"})
        assert r.status == 201 and r.json["url"] == f"https://hooks.example.com/{i}"
        assert re.fullmatch(r"whsec_[0-9a-f]{48}", r.json["secret"])
        secrets.add(r.json["secret"])
    assert len(secrets) == 5
    assert error(alice.post("/account/webhooks", {"url": "https://hooks.example.com/6"})) == (409, "too_many_webhooks")
    log = " ".join(r[0] for r in db.execute("SELECT detail FROM audit_log"))
    assert not any(s in log for s in secrets) and audited(db)
