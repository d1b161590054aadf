"""SQLite storage: one connection per request handler thread, rows as ``sqlite3.Row``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from payhive import config

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id                   INTEGER PRIMARY KEY,
    email                TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL,
    phone                TEXT,
    password_hash        TEXT NOT NULL,
    totp_enabled         INTEGER NOT NULL DEFAULT 0,
    totp_secret          TEXT,
    transfer_limit_cents INTEGER NOT NULL DEFAULT 1000000,
    payout_schedule      TEXT NOT NULL DEFAULT 'weekly',
    created_at           REAL NOT NULL,
    deleted_at           REAL
);
CREATE TABLE IF NOT EXISTS sessions (
    token            TEXT PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users(id),
    created_at       REAL NOT NULL,
    authenticated_at REAL NOT NULL,
    revoked_at       REAL
);
CREATE TABLE IF NOT EXISTS payout_accounts (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users(id),
    bank_name      TEXT NOT NULL,
    account_last4  TEXT NOT NULL,
    account_token  TEXT NOT NULL,      -- vault reference, never the raw account number
    routing_number TEXT NOT NULL,
    is_default     INTEGER NOT NULL DEFAULT 0,
    created_at     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    label      TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    key_hash   TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS teams (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES users(id)
);
CREATE TABLE IF NOT EXISTS team_members (
    team_id INTEGER NOT NULL REFERENCES teams(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    role    TEXT NOT NULL CHECK (role IN ('member', 'admin')),
    PRIMARY KEY (team_id, user_id)
);
CREATE TABLE IF NOT EXISTS billing_addresses (
    user_id     INTEGER PRIMARY KEY REFERENCES users(id),
    line1       TEXT NOT NULL,
    line2       TEXT,
    city        TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    country     TEXT NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS webhooks (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at REAL NOT NULL,
    disabled_at REAL
);
CREATE TABLE IF NOT EXISTS audit_log (
    id      INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    action  TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT '{}',
    at      REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id      INTEGER PRIMARY KEY,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body    TEXT NOT NULL,
    at      REAL NOT NULL
);
"""


def connect(path: str | Path | None = None) -> sqlite3.Connection:
    """Open the database (``database.path`` by default) and make sure the schema exists."""
    path = str(config.get("database", "path")) if path is None else str(path)
    db = sqlite3.connect(path, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA foreign_keys = ON")
    db.executescript(SCHEMA)
    return db
