"""Outbound e-mail: written to the ``outbox`` table in the request's transaction; a worker sends it."""

from __future__ import annotations

import sqlite3
import time


def email(db: sqlite3.Connection, to_addr: str, subject: str, body: str) -> None:
    db.execute(
        "INSERT INTO outbox (to_addr, subject, body, at) VALUES (?, ?, ?, ?)",
        (to_addr, subject, body, time.time()),
    )


def sent_to(db: sqlite3.Connection, to_addr: str) -> list[str]:
    """Subjects queued for ``to_addr`` (tests use this)."""
    rows = db.execute("SELECT subject FROM outbox WHERE to_addr = ? ORDER BY id", (to_addr,)).fetchall()
    return [r["subject"] for r in rows]
