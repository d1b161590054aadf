"""DS-140: churn_training export."""

from _support import as_of, build, conn, export, ids

COLUMNS = ["customer_id", "email", "birth_date", "city", "country", "plan", "acquisition_channel", "tenure_days",
           "logins_90d", "features_used_90d", "tickets_total", "paid_cents_total", "churned"]


def test_churn_training(conn, as_of):
    spec, _ = export("churn_training", "data-science", "weekly")
    rows = build(spec, conn, as_of, COLUMNS)
    assert ids(rows) == sorted(ids(rows))
    assert all(r["tenure_days"] >= 30 for r in rows)
    status = dict(conn.execute("SELECT id, status FROM customers"))
    assert all(r["churned"] == (1 if status[r["customer_id"]] == "cancelled" else 0) for r in rows)
    assert {r["churned"] for r in rows} == {0, 1}
