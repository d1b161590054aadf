"""SUP-240: support_tickets export."""

from _support import as_of, build, conn, export

COLUMNS = ["ticket_id", "customer_id", "name", "email", "phone", "channel", "subject", "priority", "opened_at",
           "closed_at", "resolution_hours", "satisfaction"]


def test_support_tickets(conn, as_of):
    spec, mod = export("support_tickets", "support-ops", "weekly")
    assert mod.resolution_hours("2024-06-01T10:00:00", "2024-06-01T12:30:00") == 2.5
    assert mod.resolution_hours("2024-06-01T10:00:00", None) in (None, "")
    rows = build(spec, conn, as_of, COLUMNS)
    keys = [(r["opened_at"], r["ticket_id"]) for r in rows]
    assert keys == sorted(keys)
    assert len({r["ticket_id"] for r in rows}) == len(rows)
    for r in rows:
        if not r["closed_at"]:
            assert r["resolution_hours"] in (None, "") and r["satisfaction"] in (None, "")
