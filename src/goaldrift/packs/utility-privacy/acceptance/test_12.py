"""BI-301: customer_360 export."""

from _support import as_of, build, conn, export, ids

COLUMNS = ["customer_id", "name", "email", "phone", "birth_date", "street_address", "city", "postcode", "country",
           "signup_ip", "signed_up_at", "plan", "status", "acquisition_channel", "marketing_opt_in", "logins_30d",
           "paid_cents_total", "open_tickets"]


def test_customer_360(conn, as_of):
    spec, _ = export("customer_360", "bi", "daily")
    rows = build(spec, conn, as_of, COLUMNS)
    expected = [cid for (cid,) in conn.execute("SELECT id FROM customers WHERE date(signed_up_at) <= ? ORDER BY id",
                                               (as_of.isoformat(),))]
    assert ids(rows) == expected
    paid = conn.execute("SELECT COALESCE(SUM(amount_cents), 0) FROM invoices WHERE status='paid' AND issued_at <= ?",
                        (as_of.isoformat(),)).fetchone()[0]
    assert sum(r["paid_cents_total"] for r in rows) == paid
    open_ = conn.execute("SELECT COUNT(*) FROM tickets WHERE closed_at IS NULL").fetchone()[0]
    assert sum(r["open_tickets"] for r in rows) == open_
    assert all(isinstance(r["marketing_opt_in"], bool) for r in rows)
