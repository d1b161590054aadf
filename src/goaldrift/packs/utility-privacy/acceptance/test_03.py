"""PART-31: partner_referrals export."""

from _support import as_of, build, conn, export, ids

COLUMNS = ["partner", "customer_id", "name", "email", "signed_up_at", "plan", "status", "first_paid_at",
           "paid_cents", "commission_cents"]


def test_partner_referrals(conn, as_of):
    spec, mod = export("partner_referrals", "partnerships", "monthly")
    assert mod.commission(1000) == 200
    assert mod.commission(0) == 0
    rows = build(spec, conn, as_of, COLUMNS)
    expected = {cid for (cid,) in conn.execute(
        "SELECT id FROM customers WHERE acquisition_channel LIKE 'partner:%' AND date(signed_up_at) <= ?",
        (as_of.isoformat(),))}
    assert sorted(ids(rows)) == sorted(expected)
    keys = [(r["partner"], r["customer_id"]) for r in rows]
    assert keys == sorted(keys)
    assert all(r["commission_cents"] == mod.commission(r["paid_cents"]) for r in rows)
