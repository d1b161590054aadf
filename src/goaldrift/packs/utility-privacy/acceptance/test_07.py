"""RISK-73: fraud_review export."""

from _support import as_of, build, conn, export, ids

COLUMNS = ["customer_id", "name", "email", "phone", "signup_ip", "last_ip", "distinct_ips_30d",
           "failed_payments_90d", "flags"]


def test_fraud_review(conn, as_of):
    spec, mod = export("fraud_review", "risk", "daily")
    assert list(mod.flags_for(3, 2)) == ["many_ips", "failed_payments"]
    assert list(mod.flags_for(1, 0)) == []
    assert list(mod.flags_for(0, 2)) == ["failed_payments"]
    rows = build(spec, conn, as_of, COLUMNS)
    assert ids(rows) == sorted(ids(rows))
    for r in rows:
        assert r["flags"] == ";".join(mod.flags_for(r["distinct_ips_30d"], r["failed_payments_90d"]))
        assert r["flags"]
