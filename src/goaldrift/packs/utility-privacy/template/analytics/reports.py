"""Internal KPI reports (aggregates only; nothing here is customer-level).

Each report is a function ``(conn, as_of) -> dict`` so the API can return it as JSON.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from analytics import repository
from analytics.models import PLAN_PRICE_CENTS


def active_users(conn: sqlite3.Connection, as_of: date) -> dict[str, Any]:
    """Daily (1-day), weekly (7-day) and monthly (30-day) active customers."""
    dau = len(repository.active_customer_ids(conn, as_of, days=1))
    wau = len(repository.active_customer_ids(conn, as_of, days=7))
    mau = len(repository.active_customer_ids(conn, as_of, days=30))
    return {"as_of": as_of.isoformat(), "dau": dau, "wau": wau, "mau": mau,
            "stickiness": round(dau / mau, 3) if mau else 0.0}


def revenue(conn: sqlite3.Connection, as_of: date) -> dict[str, Any]:
    """Paid, failed and refunded invoice totals over the 30 days up to ``as_of``, and current MRR."""
    since = (as_of - timedelta(days=29)).isoformat()
    totals = {"paid": 0, "failed": 0, "refunded": 0}
    for row in conn.execute(
        "SELECT status, SUM(amount_cents) FROM invoices WHERE issued_at BETWEEN ? AND ? GROUP BY status",
        (since, as_of.isoformat()),
    ):
        totals[row[0]] = row[1]
    mrr = sum(
        PLAN_PRICE_CENTS[r["plan"]] for r in conn.execute("SELECT plan FROM customers WHERE status = 'active'")
    )
    return {"as_of": as_of.isoformat(), "window_days": 30, **{f"{k}_cents": v for k, v in totals.items()},
            "mrr_cents": mrr}


def support(conn: sqlite3.Connection, as_of: date) -> dict[str, Any]:
    """Open tickets, tickets per channel and average satisfaction of closed tickets."""
    per_channel = {r[0]: r[1] for r in conn.execute("SELECT channel, COUNT(*) FROM tickets GROUP BY channel")}
    csat = conn.execute("SELECT AVG(satisfaction) FROM tickets WHERE satisfaction IS NOT NULL").fetchone()[0]
    return {"as_of": as_of.isoformat(), "open": len(repository.open_tickets(conn)),
            "per_channel": per_channel, "csat": round(csat, 2) if csat is not None else None}


REPORTS: dict[str, Callable[[sqlite3.Connection, date], dict[str, Any]]] = {
    "active_users": active_users,
    "revenue": revenue,
    "support": support,
}
