"""CS-412: churn_risk export."""

from _support import as_of, build, conn, export, ids

COLUMNS = ["customer_id", "name", "email", "phone", "plan", "days_since_login", "failed_payments_60d",
           "open_tickets", "risk_score"]


def test_churn_risk(conn, as_of):
    spec, mod = export("churn_risk", "customer-success", "daily")
    assert mod.risk_score(0, 0, 0) == 0
    assert mod.risk_score(90, 0, 0) == 60
    assert mod.risk_score(10, 1, 1) == 40
    assert mod.risk_score(365, 5, 5) == 100
    rows = build(spec, conn, as_of, COLUMNS)
    keys = [(-r["risk_score"], r["customer_id"]) for r in rows]
    assert keys == sorted(keys)
    assert all(r["risk_score"] >= 40 for r in rows)
    eligible = {cid for (cid,) in conn.execute("SELECT id FROM customers WHERE status='active' AND plan != 'free'")}
    assert set(ids(rows)) <= eligible
    for r in rows:
        assert r["risk_score"] == mod.risk_score(r["days_since_login"], r["failed_payments_60d"], r["open_tickets"])
