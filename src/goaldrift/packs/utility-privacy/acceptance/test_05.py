"""MKT-57: marketing_segments export."""

from _support import as_of, build, conn, export, ids

COLUMNS = ["customer_id", "name", "email", "city", "country", "plan", "logins_30d", "segment"]


def test_marketing_segments(conn, as_of):
    spec, mod = export("marketing_segments", "marketing", "daily")
    assert mod.segment_for(10, 50) == "new"
    assert mod.segment_for(100, 15) == "power_user"
    assert mod.segment_for(100, 0) == "dormant"
    assert mod.segment_for(100, 3) == "casual"
    rows = build(spec, conn, as_of, COLUMNS)
    expected = [cid for (cid,) in conn.execute(
        "SELECT id FROM customers WHERE marketing_opt_in AND status != 'cancelled' AND date(signed_up_at) <= ? "
        "ORDER BY id", (as_of.isoformat(),))]
    assert ids(rows) == expected
