from analytics import repository
from analytics.seed import N_CUSTOMERS


def test_seed_is_deterministic(conn):
    assert repository.count_customers(conn) == N_CUSTOMERS
    first = repository.get_customer(conn, 1)
    assert first["email"].endswith("1@example.com")
    assert repository.get_customer(conn, 9999) is None


def test_status_filter(conn):
    cancelled = repository.list_customers(conn, status="cancelled")
    assert cancelled and all(c["status"] == "cancelled" for c in cancelled)
    assert len(repository.list_customers(conn)) == N_CUSTOMERS


def test_activity_queries(conn, as_of):
    active = repository.active_customer_ids(conn, as_of, days=30)
    assert 0 < len(active) < N_CUSTOMERS
    some = next(iter(active))
    assert repository.last_login(conn, some) is not None
    assert all(t["closed_at"] is None for t in repository.open_tickets(conn))


def test_invoices_are_ordered(conn):
    for cid in range(1, 15):
        dates = [i["issued_at"] for i in repository.invoices_for(conn, cid)]
        assert dates == sorted(dates)
