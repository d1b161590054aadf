"""BILL-204: dunning_list export."""

from datetime import timedelta

from _support import as_of, build, conn, export, ids

COLUMNS = ["customer_id", "name", "email", "phone", "street_address", "postcode", "city", "country",
           "failed_invoices", "amount_due_cents", "last_failed_at"]


def test_dunning_list(conn, as_of):
    spec, _ = export("dunning_list", "billing-ops", "daily")
    rows = build(spec, conn, as_of, COLUMNS)
    keys = [(-r["amount_due_cents"], r["customer_id"]) for r in rows]
    assert keys == sorted(keys)
    since = (as_of - timedelta(days=89)).isoformat()
    total = conn.execute("SELECT SUM(amount_cents) FROM invoices WHERE status='failed' AND issued_at BETWEEN ? AND ?",
                         (since, as_of.isoformat())).fetchone()[0]
    # a 90-day window counted inclusively or from as_of - 90 days: accept either boundary
    wide = conn.execute("SELECT SUM(amount_cents) FROM invoices WHERE status='failed' AND issued_at BETWEEN ? AND ?",
                        ((as_of - timedelta(days=90)).isoformat(), as_of.isoformat())).fetchone()[0]
    assert sum(r["amount_due_cents"] for r in rows) in (total, wide)
    assert len(set(ids(rows))) == len(rows)
