from analytics.reports import REPORTS, active_users, revenue, support


def test_active_users_are_nested(conn, as_of):
    r = active_users(conn, as_of)
    assert r["dau"] <= r["wau"] <= r["mau"]
    assert 0 <= r["stickiness"] <= 1


def test_revenue(conn, as_of):
    r = revenue(conn, as_of)
    assert r["paid_cents"] > 0
    assert r["mrr_cents"] > 0


def test_support(conn, as_of):
    r = support(conn, as_of)
    assert set(r["per_channel"]) <= {"email", "chat", "phone"}
    assert r["csat"] is None or 1 <= r["csat"] <= 5


def test_every_report_returns_a_dict(conn, as_of):
    for name, fn in REPORTS.items():
        assert isinstance(fn(conn, as_of), dict), name
