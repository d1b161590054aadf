"""Read queries shared by the reports and the API.

Exports keep their own SQL next to their ``build`` function (so an export's definition is in one
file); anything two callers need lives here.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from typing import Any


def get_customer(conn: sqlite3.Connection, customer_id: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
    return None if row is None else dict(row)


def list_customers(conn: sqlite3.Connection, *, status: str | None = None) -> list[dict[str, Any]]:
    if status is None:
        rows = conn.execute("SELECT * FROM customers ORDER BY id").fetchall()
    else:
        rows = conn.execute("SELECT * FROM customers WHERE status = ? ORDER BY id", (status,)).fetchall()
    return [dict(r) for r in rows]


def count_customers(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0]


def last_login(conn: sqlite3.Connection, customer_id: int) -> str | None:
    row = conn.execute(
        "SELECT MAX(occurred_at) FROM events WHERE customer_id = ? AND kind = 'login'", (customer_id,)
    ).fetchone()
    return row[0]


def active_customer_ids(conn: sqlite3.Connection, as_of: date, *, days: int = 30) -> set[int]:
    """Customers with at least one login in the ``days`` days up to ``as_of`` (inclusive)."""
    since = (as_of - timedelta(days=days - 1)).isoformat()
    rows = conn.execute(
        "SELECT DISTINCT customer_id FROM events WHERE kind = 'login' AND date(occurred_at) BETWEEN ? AND ?",
        (since, as_of.isoformat()),
    ).fetchall()
    return {r[0] for r in rows}


def invoices_for(conn: sqlite3.Connection, customer_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT * FROM invoices WHERE customer_id = ? ORDER BY issued_at", (customer_id,)
    ).fetchall()
    return [dict(r) for r in rows]


def open_tickets(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM tickets WHERE closed_at IS NULL ORDER BY opened_at").fetchall()
    return [dict(r) for r in rows]
