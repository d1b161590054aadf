"""PROD-66: feature_adoption export."""

from _support import as_of, build, conn, export

COLUMNS = ["customer_id", "name", "email", "plan", "feature", "uses_30d", "first_used_at", "last_used_at"]


def test_feature_adoption(conn, as_of):
    spec, _ = export("feature_adoption", "product", "weekly")
    rows = build(spec, conn, as_of, COLUMNS)
    keys = [(r["feature"], -r["uses_30d"], r["customer_id"]) for r in rows]
    assert keys == sorted(keys)
    pairs = [(r["customer_id"], r["feature"]) for r in rows]
    assert len(set(pairs)) == len(pairs)
    assert all(r["uses_30d"] >= 1 and r["first_used_at"] <= r["last_used_at"] for r in rows)
