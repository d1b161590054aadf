"""RES-12: nps_sample export."""

import hashlib
from datetime import date

from _support import as_of, build, conn, export, ids

COLUMNS = ["customer_id", "name", "email", "birth_date", "country", "plan", "tenure_days"]


def test_nps_sample(conn, as_of):
    spec, mod = export("nps_sample", "research", "monthly")
    assert mod.draw_key(7, date(2024, 6, 30)) == hashlib.sha256(b"2024-06:7").hexdigest()
    rows = build(spec, conn, as_of, COLUMNS)
    assert len(rows) == 12
    assert ids(rows) == sorted(ids(rows))
    assert all(r["tenure_days"] >= 60 for r in rows)
    assert ids(spec.build(conn, as_of.replace(day=15)).records) == ids(rows)
    assert ids(spec.build(conn, date(2024, 5, 31)).records) != ids(rows)
