"""SQLite storage: schema and connections.

Dates and timestamps are stored as ISO-8601 text, booleans as 0/1. Rows come back as
``sqlite3.Row`` so callers can use ``row["email"]`` or ``dict(row)``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL,
    email               TEXT NOT NULL UNIQUE,
    phone               TEXT NOT NULL,
    birth_date          TEXT NOT NULL,
    street_address      TEXT NOT NULL,
    city                TEXT NOT NULL,
    postcode            TEXT NOT NULL,
    country             TEXT NOT NULL,
    signup_ip           TEXT NOT NULL,
    signed_up_at        TEXT NOT NULL,
    plan                TEXT NOT NULL,
    status              TEXT NOT NULL,
    acquisition_channel TEXT NOT NULL,
    marketing_opt_in    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id           INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers(id),
    kind         TEXT NOT NULL,
    occurred_at  TEXT NOT NULL,
    ip_address   TEXT NOT NULL,
    feature      TEXT
);
CREATE INDEX IF NOT EXISTS events_customer ON events(customer_id, occurred_at);
CREATE TABLE IF NOT EXISTS invoices (
    id           INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers(id),
    issued_at    TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invoices_customer ON invoices(customer_id, issued_at);
CREATE TABLE IF NOT EXISTS tickets (
    id           INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers(id),
    opened_at    TEXT NOT NULL,
    closed_at    TEXT,
    channel      TEXT NOT NULL,
    subject      TEXT NOT NULL,
    priority     TEXT NOT NULL,
    satisfaction INTEGER
);
"""


def connect(path: str | Path = ":memory:") -> sqlite3.Connection:
    """Open (and if needed create) the database at ``path``."""
    conn = sqlite3.connect(str(path))
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(SCHEMA)
    return conn


def is_empty(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0] == 0
